// Engine semantics: accumulation, hooks, retain_grad/retain_graph, version counter,
// freed graphs, deep graphs, anomaly mode, double backward.
#include <memory>

#include "helpers.h"

using namespace ngt;

TEST_SUITE("autograd") {
  TEST_CASE("to_dot: the graph of a known expression, with leaf values and gradients") {
    const TensorOptions o{.dtype = DType::F64, .requires_grad = true};
    Tensor a = scalar_tensor(2.0, o), b = scalar_tensor(-3.0, o);
    Tensor w = ones({2, 3}, o);
    Tensor y = a * b + a;  // a is used twice: one leaf node, two edges out of it
    Tensor z = sum(w) * y;
    const std::string before = to_dot(z);
    z.backward();
    const std::string dot = to_dot(z);
    CAPTURE(dot);
    CHECK(dot.rfind("digraph normgrad {", 0) == 0);
    CHECK(dot.find(
              "out [shape=record, style=bold, label=\"{output | float64 [] | data -24.0000}\"]") !=
          std::string::npos);
    // ops: mul (a*b), add (+a), sum, mul (* y): four op boxes and three leaves
    auto count = [&](const std::string& needle) {
      size_t n = 0;
      for (size_t at = dot.find(needle); at != std::string::npos; at = dot.find(needle, at + 1))
        ++n;
      return n;
    };
    CHECK(count("shape=box") == 4);
    CHECK(count("{leaf") == 3);
    CHECK(count("label=\"mul\"") == 2);
    CHECK(count("label=\"sum\"") == 1);
    // dz/da = sum(w) (b + 1) = 6 * -2 = -12, dz/db = 6 a = 12; w: each dz/dw = y = -4
    CHECK(dot.find("data 2.0000 | grad -12.0000") != std::string::npos);
    CHECK(dot.find("data -3.0000 | grad 12.0000") != std::string::npos);
    CHECK(dot.find("float64 [2, 3] | grad norm 9.7980") != std::string::npos);
    CHECK(before.find("| grad") == std::string::npos);  // no gradients before backward
    CHECK(count(" -> ") == 8);  // a twice, b, w, mul->add, add->mul, sum->mul, n0->out
    CHECK(to_dot(a).find("n0") == std::string::npos);  // a leaf alone: just the output node
  }

  TEST_CASE("a tensor used twice accumulates both paths") {
    Tensor x = tensor({1.0, -2.0, 3.0}, {.requires_grad = true});
    sum(x * x + x).backward();  // d/dx = 2x + 1
    CHECK(x.grad().to_vector() == std::vector<double>{3, -3, 7});
  }

  TEST_CASE("leaves accumulate across backward calls; intermediates keep no grad") {
    Tensor x = tensor({2.0}, {.requires_grad = true});
    Tensor y = x * 3.0;
    Tensor z = sum(y * y);
    z.backward(Tensor(), /*retain_graph=*/true);
    CHECK(x.grad().item() == doctest::Approx(36));
    z.backward();
    CHECK(x.grad().item() == doctest::Approx(72));  // accumulated
    CHECK_FALSE(y.grad().defined());
    x.zero_grad();
    CHECK_FALSE(x.grad().defined());
  }

  TEST_CASE("retain_grad keeps an intermediate's gradient") {
    Tensor x = tensor({1.0, 2.0}, {.requires_grad = true});
    Tensor y = x * 2.0;
    y.retain_grad();
    sum(y * y).backward();
    CHECK(y.grad().to_vector() == std::vector<double>{4, 8});
  }

  TEST_CASE("backward(grad) on a non-scalar, and errors for missing seeds") {
    Tensor x = tensor({1.0, 2.0}, {.requires_grad = true});
    Tensor y = x * x;
    y.backward(tensor({1.0, 10.0}));
    CHECK(x.grad().to_vector() == std::vector<double>{2, 40});
    Tensor y2 = x * x;
    CHECK_THROWS_WITH_AS(y2.backward(), doctest::Contains("scalar"), Error);
    CHECK_THROWS_WITH_AS(tensor({1.0}).backward(), doctest::Contains("does not require grad"),
                         Error);
  }

  TEST_CASE("NoGradGuard and detach record nothing") {
    Tensor x = tensor({1.0}, {.requires_grad = true});
    {
      NoGradGuard g;
      CHECK_FALSE((x * 2.0).requires_grad());
    }
    CHECK((x * 2.0).requires_grad());
    CHECK_FALSE(x.detach().requires_grad());
    CHECK(x.detach().impl()->storage == x.impl()->storage);
  }

  TEST_CASE("hooks read or replace the incoming gradient") {
    Tensor x = tensor({1.0, 2.0}, {.requires_grad = true});
    Tensor seen;
    x.register_hook([&](const Tensor& g) {
      seen = g;
      return Tensor();
    });
    Tensor y = x * 3.0;
    y.register_hook([](const Tensor& g) { return g * 10.0; });  // replace
    sum(y).backward();
    CHECK(seen.to_vector() == std::vector<double>{30, 30});
    CHECK(x.grad().to_vector() == std::vector<double>{30, 30});
  }

  TEST_CASE("a second backward through a freed graph is a clear error") {
    Tensor x = tensor({1.0}, {.requires_grad = true});
    Tensor z = sum(exp(x));
    z.backward();
    CHECK_THROWS_WITH_AS(z.backward(), doctest::Contains("second time"), Error);
  }

  TEST_CASE("modifying a saved tensor in place is detected") {
    Tensor x = tensor({1.0, 2.0}, {.requires_grad = true});
    Tensor b = tensor({3.0, 4.0});
    Tensor y = sum(x * b);  // saves b
    b.add_(tensor({1.0, 1.0}));
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("modified in place"), Error);
  }

  TEST_CASE("in-place writes to tensors that need grad are refused") {
    Tensor x = tensor({1.0}, {.requires_grad = true});
    CHECK_THROWS_WITH_AS(x.fill_(0), doctest::Contains("requires grad"), Error);
    NoGradGuard g;
    x.fill_(0);  // fine without grad mode (optimizer updates)
    CHECK(x.item() == 0);
  }

  TEST_CASE("a 10,000-op chain: no stack overflow in backward or in destruction") {
    Tensor x = tensor({1.0}, {.dtype = DType::F64, .requires_grad = true});
    std::weak_ptr<Node> first;
    {
      Tensor y = x;
      for (int i = 0; i < 10000; ++i) {
        y = y * 1.0001;
        if (i == 0) first = y.impl()->grad_fn;
      }
      sum(y).backward();
      CHECK(x.grad().item() == doctest::Approx(std::pow(1.0001, 10000)).epsilon(1e-9));
    }
    CHECK(first.expired());  // the graph is released with the last tensor that holds it
  }

  TEST_CASE("graph is freed when the loss goes out of scope (no reference cycles)") {
    Tensor x = tensor({0.5, 1.5}, {.requires_grad = true});
    std::weak_ptr<Node> node;
    {
      Tensor y = tanh(x);  // saves its own output
      node = y.impl()->grad_fn;
      Tensor loss = sum(y * y);
      CHECK_FALSE(node.expired());
    }
    CHECK(node.expired());
  }

  TEST_CASE("autograd::grad leaves .grad untouched; create_graph gives second derivatives") {
    Tensor x = tensor({2.0}, {.requires_grad = true});
    Tensor y = x * x * x;
    Tensor g = autograd::grad({y}, {x}, {}, true)[0];
    CHECK(g.item() == doctest::Approx(12));
    CHECK_FALSE(x.grad().defined());
    Tensor gg = autograd::grad({g}, {x})[0];
    CHECK(gg.item() == doctest::Approx(12));  // 6x
    // backward(create_graph) also builds a differentiable .grad
    Tensor w = tensor({3.0}, {.requires_grad = true});
    sum(w * w * w).backward(Tensor(), false, true);
    Tensor gw = w.grad();
    CHECK(gw.requires_grad());
    CHECK(autograd::grad({gw}, {w})[0].item() == doctest::Approx(18));
    w.set_grad(Tensor());  // break the leaf -> grad -> graph -> leaf cycle (LeakSanitizer checks)
  }

  TEST_CASE("grad w.r.t. an intermediate and a leaf below it") {
    Tensor w = tensor({2.0}, {.requires_grad = true});
    Tensor h = w * 3.0;
    Tensor out = h * h;
    auto g = autograd::grad({out}, {h, w});
    CHECK(g[0].item() == doctest::Approx(12));  // 2h
    CHECK(g[1].item() == doctest::Approx(36));  // 2h * 3
  }

  TEST_CASE("anomaly mode names the op that produced NaN/Inf") {
    AnomalyGuard on;
    Tensor x = tensor({-1.0}, {.requires_grad = true});
    CHECK_THROWS_WITH_AS(log(x), doctest::Contains("[log] anomaly"), Error);
    Tensor z = tensor({0.0}, {.requires_grad = true});
    Tensor s = sum(sqrt(z));  // forward fine, backward divides by zero
    CHECK_THROWS_WITH_AS(s.backward(), doctest::Contains("[sqrt] anomaly"), Error);
  }

  TEST_CASE("integer tensors cannot require grad") {
    CHECK_THROWS_AS(arange(3, {.dtype = DType::I64}).requires_grad_(), Error);
  }

}  // TEST_SUITE

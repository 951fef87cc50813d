// Every differentiable op: float64 gradcheck and gradgradcheck, on broadcast shapes and
// on non-contiguous (transposed / sliced) inputs.
#include "helpers.h"

using namespace ngt;

TEST_SUITE("ops_grad") {
  TEST_CASE("unary elementwise ops, contiguous and transposed inputs") {
    struct U {
      const char* name;
      std::function<Tensor(const Tensor&)> f;
      double lo, hi;
      bool second;
    };
    const std::vector<U> ops = {
        {"neg", [](const Tensor& x) { return neg(x); }, -1, 1, true},
        {"exp", [](const Tensor& x) { return exp(x); }, -1, 1, true},
        {"log", [](const Tensor& x) { return log(x); }, 0.5, 2, true},
        {"sqrt", [](const Tensor& x) { return sqrt(x); }, 0.5, 2, true},
        {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, 0.5, 2, true},
        {"abs", [](const Tensor& x) { return abs(x); }, 0.1, 1, true},
        {"abs_neg", [](const Tensor& x) { return abs(x); }, -1, -0.1, true},
        {"square", [](const Tensor& x) { return square(x); }, -1, 1, true},
        {"tanh", [](const Tensor& x) { return tanh(x); }, -2, 2, true},
        {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, -3, 3, true},
        {"relu", [](const Tensor& x) { return relu(x); }, 0.1, 1, true},
        {"relu_neg", [](const Tensor& x) { return relu(x); }, -1, -0.1, true},
        {"gelu_erf", [](const Tensor& x) { return gelu(x); }, -3, 3, true},
        {"gelu_tanh", [](const Tensor& x) { return gelu(x, GeluApprox::Tanh); }, -3, 3, true},
        {"silu", [](const Tensor& x) { return silu(x); }, -3, 3, true},
        {"erf", [](const Tensor& x) { return erf(x); }, -2, 2, true},
        {"softplus", [](const Tensor& x) { return softplus(x); }, -3, 3, true},
        {"pow3", [](const Tensor& x) { return pow(x, 3.0); }, -2, 2, true},
        {"pow_half", [](const Tensor& x) { return pow(x, 0.5); }, 0.5, 2, true},
        {"pow_neg", [](const Tensor& x) { return pow(x, -1.5); }, 0.5, 2, true},
        {"add_scalar", [](const Tensor& x) { return x + 2.5; }, -1, 1, true},
        {"mul_scalar", [](const Tensor& x) { return x * -1.5; }, -1, 1, true},
        {"rsub", [](const Tensor& x) { return 3.0 - x; }, -1, 1, true},
        {"rdiv", [](const Tensor& x) { return 2.0 / x; }, 0.5, 2, true},
        {"clamp", [](const Tensor& x) { return clamp(x, -0.5, 0.5); }, -1, 1, true},
        {"clamp_lo", [](const Tensor& x) { return clamp(x, 0.0, std::nullopt); }, -1, 1, true},
    };
    for (const auto& op : ops) {
      SUBCASE(op.name) {
        // values chosen away from kinks (clamp's edges are hit with probability ~0)
        Tensor x = input({3, 4}, 11, op.lo, op.hi);
        expect_grad([&](const TensorList& v) { return op.f(v[0]); }, {x}, op.second);
        Tensor xt = input({4, 3}, 12, op.lo, op.hi);
        expect_grad([&](const TensorList& v) { return op.f(v[0].t()); }, {xt}, op.second);
      }
    }
  }

  TEST_CASE("binary ops with broadcasting and non-contiguous operands") {
    struct B {
      const char* name;
      std::function<Tensor(const Tensor&, const Tensor&)> f;
      double lo, hi;
    };
    const std::vector<B> ops = {
        {"add", [](const Tensor& a, const Tensor& b) { return a + b; }, -1, 1},
        {"sub", [](const Tensor& a, const Tensor& b) { return a - b; }, -1, 1},
        {"mul", [](const Tensor& a, const Tensor& b) { return a * b; }, -1, 1},
        {"div", [](const Tensor& a, const Tensor& b) { return a / b; }, 0.5, 2},
        {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }, -1, 1},
        {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }, -1, 1},
    };
    for (const auto& op : ops) {
      SUBCASE(op.name) {
        Tensor a = input({2, 3, 4}, 1, op.lo, op.hi), b = input({3, 1}, 2, op.lo, op.hi);
        expect_grad([&](const TensorList& v) { return op.f(v[0], v[1]); }, {a, b});
        Tensor s = input({}, 3, op.lo, op.hi);  // 0-d scalar broadcast
        expect_grad([&](const TensorList& v) { return op.f(v[0], v[1]); }, {a, s});
        Tensor at = input({4, 3}, 4, op.lo, op.hi), bt = input({3, 4}, 5, op.lo, op.hi);
        expect_grad([&](const TensorList& v) { return op.f(v[0].t(), v[1]); }, {at, bt});
      }
    }
  }

  TEST_CASE("where and masked_fill") {
    Tensor a = input({3, 4}, 1), b = input({4}, 2);
    Tensor cond = gt(rand({3, 4}, {.dtype = DType::F64}), full({}, 0.5, {.dtype = DType::F64}));
    expect_grad([&](const TensorList& v) { return where(cond, v[0], v[1]); }, {a, b});
    expect_grad([&](const TensorList& v) { return masked_fill(v[0], cond, -3.0); }, {a});
  }

  TEST_CASE("reductions over dim sets, keepdim, strided") {
    Tensor x = input({2, 3, 4}, 7);
    for (bool keep : {false, true}) {
      CAPTURE(keep);
      expect_grad([&](const TensorList& v) { return sum(v[0], {}, keep); }, {x});
      expect_grad([&](const TensorList& v) { return sum(v[0], {1}, keep); }, {x});
      expect_grad([&](const TensorList& v) { return sum(v[0], {0, 2}, keep); }, {x});
      expect_grad([&](const TensorList& v) { return mean(v[0], {-1}, keep); }, {x});
      expect_grad([&](const TensorList& v) { return var(v[0], {2}, 0, keep); }, {x});
      expect_grad([&](const TensorList& v) { return var(v[0], {0, 1}, 1, keep); }, {x});
      expect_grad([&](const TensorList& v) { return max(v[0], {1}, keep); }, {x});
      expect_grad([&](const TensorList& v) { return min(v[0], {0, 2}, keep); }, {x});
      expect_grad(
          [&](const TensorList& v) {
            return sum(v[0].permute({2, 0, 1}), {1}, keep);
          },
          {x});
    }
  }

  TEST_CASE("matmul: 2-d, transposed views, batched with broadcast batch dims, vectors") {
    Tensor a = input({3, 4}, 1), b = input({4, 5}, 2);
    expect_grad([](const TensorList& v) { return matmul(v[0], v[1]); }, {a, b});
    Tensor at = input({4, 3}, 3), bt = input({5, 4}, 4);
    expect_grad([](const TensorList& v) { return matmul(v[0].t(), v[1].t()); }, {at, bt});
    Tensor ba = input({2, 1, 3, 4}, 5), bb = input({3, 4, 2}, 6);
    expect_grad([](const TensorList& v) { return matmul(v[0], v[1]); }, {ba, bb});
    Tensor v1 = input({4}, 7);
    expect_grad([](const TensorList& v) { return matmul(v[0], v[1]); }, {a, v1});
    expect_grad([](const TensorList& v) { return matmul(v[1], v[0]); }, {bb, v1});
    Tensor v2 = input({4}, 8);
    expect_grad([](const TensorList& v) { return matmul(v[0], v[1]); }, {v1, v2});
  }

  TEST_CASE("softmax, log_softmax, cross_entropy") {
    Tensor x = input({3, 5}, 9, -2, 2);
    expect_grad([](const TensorList& v) { return softmax(v[0], 1); }, {x});
    expect_grad([](const TensorList& v) { return softmax(v[0], 0); }, {x});
    expect_grad([](const TensorList& v) { return log_softmax(v[0], -1); }, {x});
    expect_grad([](const TensorList& v) { return log_softmax(v[0].t(), 1); }, {x});
    Tensor target = from_vector(std::vector<int64_t>{1, -100, 4}, {3});
    for (auto red : {Reduction::Mean, Reduction::Sum, Reduction::None})
      expect_grad([&](const TensorList& v) { return cross_entropy(v[0], target, -100, red); }, {x});
  }

  TEST_CASE("indexing: index_select, embedding, gather, index_add, scatter_add") {
    Tensor w = input({5, 3}, 1);
    Tensor idx = from_vector(std::vector<int64_t>{4, 0, 4, 2}, {4});
    expect_grad([&](const TensorList& v) { return index_select(v[0], 0, idx); }, {w});
    expect_grad(
        [&](const TensorList& v) {
          return index_select(v[0], 1, from_vector(std::vector<int64_t>{2, 2, 0}, {3}));
        },
        {w});
    Tensor tok = from_vector(std::vector<int64_t>{1, 3, 3, 0, 4, 1}, {2, 3});
    expect_grad([&](const TensorList& v) { return embedding(v[0], tok); }, {w});
    Tensor gi =
        from_vector(std::vector<int64_t>{0, 2, 1, 1, 2, 0, 1, 1, 0, 2, 2, 2, 1, 0, 0}, {5, 3});
    expect_grad([&](const TensorList& v) { return gather(v[0], 1, gi); }, {w});
    Tensor src = input({4, 3}, 2);
    expect_grad([&](const TensorList& v) { return index_add(v[0], 0, idx, v[1]); }, {w, src});
    Tensor src2 = input({5, 3}, 3);
    expect_grad([&](const TensorList& v) { return scatter_add(v[0], 1, gi, v[1]); }, {w, src2});
  }

  TEST_CASE("joining, splitting and views") {
    Tensor a = input({2, 3}, 1), b = input({2, 2}, 2);
    expect_grad([](const TensorList& v) { return cat({v[0], v[1]}, 1); }, {a, b});
    expect_grad([](const TensorList& v) { return stack({v[0], v[0] * 2.0}, 0); }, {a});
    expect_grad([](const TensorList& v) { return split(v[0], 2, 1)[1] * 3.0; }, {a});
    expect_grad([](const TensorList& v) { return chunk(v[0], 2, 0)[0]; }, {a});
    expect_grad([](const TensorList& v) { return v[0].reshape({3, 2}).t().reshape({-1}); }, {a});
    expect_grad([](const TensorList& v) { return v[0].slice(1, 0, 3, 2); }, {a});
    expect_grad([](const TensorList& v) { return v[0].select(0, 1); }, {a});
    expect_grad([](const TensorList& v) { return v[0].unsqueeze(1).expand({2, 4, 3}); }, {a});
    expect_grad([](const TensorList& v) { return v[0].unsqueeze(0).squeeze(); }, {a});
    expect_grad([](const TensorList& v) { return v[0].t().contiguous() * v[0].t(); }, {a});
    expect_grad([](const TensorList& v) { return v[0].to(DType::F32).to(DType::F64); }, {a}, true,
                {.eps = 1e-3, .atol = 1e-4, .rtol = 1e-3});
  }

  TEST_CASE("dropout: seeded, scaled, identity in eval") {
    Tensor x = input({4, 5}, 1);
    Generator g1(5), g2(5);
    Tensor y1 = dropout(x, 0.3, true, &g1), y2 = dropout(x, 0.3, true, &g2);
    CHECK(allclose(y1, y2, 0, 0));
    CHECK(dropout(x, 0.3, false).impl() == x.impl());
    for (double v : (y1 / x).to_vector())
      CHECK((std::fabs(v) < 1e-12 || std::fabs(v - 1 / 0.7) < 1e-9));
    expect_grad(
        [](const TensorList& v) {
          Generator g(9);
          return dropout(v[0], 0.5, true, &g);
        },
        {x});
  }

  TEST_CASE("double backward: Hessian-vector product of a small network") {
    // f(w) = sum(tanh(X w)^2); H v by differentiating <grad f, v>, checked by central
    // differences of the gradient.
    Tensor X = input({4, 3}, 1).detach();
    Tensor w = input({3}, 2), v = input({3}, 3).detach();
    auto f = [&](const Tensor& w_) { return sum(square(tanh(matmul(X, w_)))); };
    Tensor g = autograd::grad({f(w)}, {w}, {}, true)[0];
    Tensor hv = autograd::grad({sum(g * v)}, {w})[0];
    const double eps = 1e-6;
    auto grad_at = [&](double s) {
      Tensor ws = (w.detach() + v * s).requires_grad_();
      return autograd::grad({f(ws)}, {ws})[0];
    };
    Tensor fd = (grad_at(eps) - grad_at(-eps)) / (2 * eps);
    CHECK(allclose(hv, fd, 1e-5, 1e-7));
  }

  TEST_CASE("fused causal self-attention: gradcheck, and equal to the composed formula") {
    // odd sizes: B 2, T 7, H 3 heads of D 2 (C 6); a non-contiguous qkv (transposed view)
    const Tensor qkv = input({2, 7, 18}, 61, -1.5, 1.5);
    expect_grad([](const TensorList& in) { return causal_self_attention(in[0], 3); }, {qkv});
    const Tensor qkv_t = input({2, 18, 7}, 62, -1.5, 1.5);
    expect_grad(
        [](const TensorList& in) { return causal_self_attention(in[0].transpose(1, 2), 3); },
        {qkv_t}, false);
    for (DType dt : {DType::F64, DType::F32}) {
      Generator gen(5);
      const Tensor x = (randn({3, 11, 24}, {.dtype = dt}, &gen) * 2.0).detach().requires_grad_();
      const Tensor g = randn({3, 11, 8}, {.dtype = dt}, &gen);
      const Tensor yf = causal_self_attention(x, 2), yc = composed::causal_self_attention(x, 2);
      const double tol = dt == DType::F64 ? 1e-12 : 2e-6;
      CHECK(allclose(yf, yc, tol, tol));
      const Tensor gf = autograd::grad({yf}, {x}, {g})[0], gc = autograd::grad({yc}, {x}, {g})[0];
      CHECK(allclose(gf, gc, tol, tol));
      // position t's output never depends on later positions
      const Tensor y2 = causal_self_attention(x, 2);
      const Tensor later = autograd::grad({sum(y2.narrow(1, 0, 5))}, {x})[0];
      CHECK(sum(abs(later.narrow(1, 5, 6))).item() == 0.0);
    }
    CHECK_THROWS_WITH_AS(
        causal_self_attention(ones({2, 3, 12}), 5),
        doctest::Contains("C = 4 (from qkv [2, 3, 12]) is not divisible by n_head 5"), Error);
  }

  TEST_CASE("linear: bias folded into the GEMM, one weight-gradient GEMM over all rows") {
    const Tensor x = input({2, 3, 5}, 71), w = input({4, 5}, 72), b = input({4}, 73);
    expect_grad([](const TensorList& in) { return linear(in[0], in[1], in[2]); }, {x, w, b});
    expect_grad([](const TensorList& in) { return linear(in[0], in[1], Tensor()); }, {x, w});
    const Tensor xt = input({5, 6}, 74);  // a transposed (non-contiguous) input
    expect_grad([](const TensorList& in) { return linear(in[0].t(), in[1], in[2]); }, {xt, w, b});
    CHECK(allclose(linear(x, w, b), matmul(x, w.t()) + b, 1e-12, 1e-12));
    CHECK_THROWS_WITH_AS(linear(x, input({4, 6}, 75), b),
                         doctest::Contains("input [2, 3, 5] does not fit weight [4, 6]"), Error);
  }

}  // TEST_SUITE

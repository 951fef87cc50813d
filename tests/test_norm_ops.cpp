// Fused normalization ops against their composed specification, gradcheck and
// gradgradcheck, determinism of per-channel gradients across thread counts.
#include "helpers.h"

using namespace ngt;

namespace {

struct Case {
  const char* name;
  // (fused?, x, w, b, scalar, shift) -> y
  std::function<Tensor(bool, const TensorList&)> f;
  double scalar0, shift0;
};

const double kPaper = std::sqrt(6.0);  // C = 6 in these tests

std::vector<Case> cases() {
  return {
      {"layer_norm",
       [](bool fu, const TensorList& v) {
         return fu ? layer_norm(v[0], v[1], v[2]) : composed::layer_norm(v[0], v[1], v[2]);
       },
       0, 0},
      {"rms_norm",
       [](bool fu, const TensorList& v) {
         return fu ? rms_norm(v[0], v[1]) : composed::rms_norm(v[0], v[1]);
       },
       0, 0},
      {"dyt",
       [](bool fu, const TensorList& v) {
         return fu ? dyt(v[0], v[3], v[1], v[2]) : composed::dyt(v[0], v[3], v[1], v[2]);
       },
       0.7, 0},
      {"dyt_paper",
       [](bool fu, const TensorList& v) {
         return fu ? dyt(v[0], v[3], v[1], v[2], kPaper)
                   : composed::dyt(v[0], v[3], v[1], v[2], kPaper);
       },
       0.7, 0},
      {"dyisru",
       [](bool fu, const TensorList& v) {
         return fu ? dyisru(v[0], v[3], v[1], v[2]) : composed::dyisru(v[0], v[3], v[1], v[2]);
       },
       1.3, 0},
      {"dyisru_paper",
       [](bool fu, const TensorList& v) {
         return fu ? dyisru(v[0], v[3], v[1], v[2], kPaper)
                   : composed::dyisru(v[0], v[3], v[1], v[2], kPaper);
       },
       1.3, 0},
      {"derf",
       [](bool fu, const TensorList& v) {
         return fu ? derf(v[0], v[3], v[4], v[1], v[2])
                   : composed::derf(v[0], v[3], v[4], v[1], v[2]);
       },
       0.6, 0.2},
      {"bhyt",  // lambda 7: |lambda x / (kappa rms)| reaches ~1.2, into tanh's curve
       [](bool fu, const TensorList& v) {
         return fu ? bhyt(v[0], v[3], v[1]) : composed::bhyt(v[0], v[3], v[1]);
       },
       7.0, 0},
  };
}

TensorList make_inputs(const Case& c, DType dt, bool affine, const Shape& xs = {2, 5, 6}) {
  Generator g(17);
  auto leaf = [&](const Shape& s, double lo, double hi) {
    return (rand(s, {.dtype = dt}, &g) * (hi - lo) + lo).detach().requires_grad_();
  };
  Tensor x = leaf(xs, -2, 2);
  Tensor w = affine ? leaf({xs.back()}, 0.5, 1.5) : Tensor();
  Tensor b = affine ? leaf({xs.back()}, -0.5, 0.5) : Tensor();
  Tensor s = full({}, c.scalar0, {.dtype = dt, .requires_grad = true});
  Tensor sh = full({}, c.shift0, {.dtype = dt, .requires_grad = true});
  return {x, w, b, s, sh};
}

TensorList used(const TensorList& v) {
  TensorList u;
  for (auto& t : v)
    if (t.defined()) u.push_back(t);
  return u;
}

}  // namespace

TEST_SUITE("norms") {
  TEST_CASE("fused forward and every gradient equal the composed formula") {
    for (const auto& c : cases())
      for (DType dt : {DType::F64, DType::F32})
        for (bool affine : {true, false}) {
          CAPTURE(c.name);
          CAPTURE(dtype_name(dt));
          CAPTURE(affine);
          const double tol = dt == DType::F64 ? 1e-12 : 2e-5;
          TensorList v = make_inputs(c, dt, affine);
          Tensor yf = c.f(true, v), yc = c.f(false, v);
          CHECK(allclose(yf, yc, tol, tol));
          Tensor gout = randn(yf.shape(), {.dtype = dt});
          TensorList in = used(v);
          TensorList gf = autograd::grad({yf}, in, {gout}, false, std::nullopt, true);
          TensorList gc = autograd::grad({yc}, in, {gout}, false, std::nullopt, true);
          for (size_t i = 0; i < in.size(); ++i) {
            CAPTURE(i);
            REQUIRE(gf[i].defined() == gc[i].defined());
            if (gf[i].defined()) CHECK(allclose(gf[i], gc[i], 10 * tol, 10 * tol));
          }
        }
  }

  TEST_CASE("gradcheck of the fused ops; gradgradcheck through the composed fallback") {
    for (const auto& c : cases()) {
      CAPTURE(c.name);
      TensorList v = make_inputs(c, DType::F64, true, {3, 6});
      TensorList in = used(v);
      auto f = [&](const TensorList&) { return c.f(true, v); };
      expect_grad(f, in, /*second_order=*/true);
    }
  }

  TEST_CASE("non-contiguous input") {
    Tensor xt = input({6, 4}, 3);  // used as [4, 6] through a transpose
    Tensor w = input({6}, 4);
    expect_grad([&](const TensorList& v) { return layer_norm(v[0].t(), v[1], Tensor()); }, {xt, w});
    CHECK(allclose(rms_norm(xt.t(), w), composed::rms_norm(xt.t(), w), 1e-12, 1e-12));
  }

  TEST_CASE("per-channel gradients are bit-identical for 1 and 2 threads") {
    Generator g(5);
    Tensor x = randn({4096, 96}, {}, &g).requires_grad_();
    Tensor w = ones({96}, {.requires_grad = true}), b = zeros({96}, {.requires_grad = true});
    Tensor alpha = full({}, 0.5, {.requires_grad = true});
    Tensor gout = randn({4096, 96}, {}, &g);
    auto run = [&](int threads) {
      set_num_threads(threads);
      TensorList r = autograd::grad({layer_norm(x, w, b)}, {x, w, b}, {gout});
      TensorList d = autograd::grad({dyt(x, alpha, w, b)}, {alpha, w}, {gout});
      r.insert(r.end(), d.begin(), d.end());
      return r;
    };
    const int before = num_threads();
    TensorList one = run(1), two = run(2);
    set_num_threads(before);
    for (size_t i = 0; i < one.size(); ++i) CHECK(one[i].to_vector() == two[i].to_vector());
  }

  TEST_CASE("DyISRU with beta <= 0 is an error, not a NaN") {
    Tensor x = ones({2, 3});
    CHECK_THROWS_WITH_AS(dyisru(x, full({}, -0.5), Tensor(), Tensor()),
                         doctest::Contains("[dyisru] beta must be > 0, got -0.5"), Error);
    CHECK_THROWS_WITH_AS(layer_norm(x, ones({4}), Tensor()),
                         doctest::Contains("[layernorm] weight must have shape [3]"), Error);
  }
}

// Fused normalization ops against their composed specification, gradcheck and
// gradgradcheck, determinism of per-channel gradients across thread counts.
#include "helpers.h"
#include "kind_table.h"

using namespace ngt;

TEST_SUITE("norms") {
  // Every registered kind (tests/kind_table.h), fused against its formula.
  TEST_CASE("fused forward and every gradient equal the composed formula") {
    for (const auto& c : kind_cases())
      for (DType dt : {DType::F64, DType::F32}) {
        CAPTURE(c.name);
        CAPTURE(dtype_name(dt));
        const double tol = dt == DType::F64 ? 1e-12 : 2e-5;
        TensorList v = kind_inputs(c, dt, {2, 5, 6});
        Tensor yf = kind_apply(c, v, true), yc = kind_apply(c, v, false);
        CHECK(allclose(yf, yc, tol, tol));
        Tensor gout = randn(yf.shape(), {.dtype = dt});
        TensorList gf = autograd::grad({yf}, v, {gout}, false, std::nullopt, true);
        TensorList gc = autograd::grad({yc}, v, {gout}, false, std::nullopt, true);
        for (size_t i = 0; i < v.size(); ++i) {
          CAPTURE(i);
          REQUIRE(gf[i].defined() == gc[i].defined());
          if (gf[i].defined()) CHECK(allclose(gf[i], gc[i], 10 * tol, 10 * tol));
        }
      }
  }

  TEST_CASE("gradcheck of the fused ops; gradgradcheck through the composed fallback") {
    for (const auto& c : kind_cases(/*with_unaffine=*/false)) {
      CAPTURE(c.name);
      TensorList v = kind_inputs(c, DType::F64, {3, 6});
      auto f = [&](const TensorList&) { return kind_apply(c, v, true); };
      expect_grad(f, v, /*second_order=*/true);
    }
  }

  TEST_CASE("the familiar names (ng::dyt, ...) are the fused ops, composed:: their formulas") {
    Tensor x = input({2, 6}, 3), w = input({6}, 4), b = input({6}, 5);
    const TensorOptions f64{.dtype = DType::F64};
    Tensor a = full({}, 0.7, f64), beta = full({}, 1.3, f64), shift = full({}, 0.2, f64);
    const double pf = std::sqrt(6.0);
    CHECK(allclose(layer_norm(x, w, b), composed::layer_norm(x, w, b), 1e-12, 1e-12));
    CHECK(allclose(rms_norm(x, w), composed::rms_norm(x, w), 1e-12, 1e-12));
    CHECK(allclose(dyt(x, a, w, b, pf), composed::dyt(x, a, w, b, pf), 1e-12, 1e-12));
    CHECK(allclose(dyisru(x, beta, w, b), composed::dyisru(x, beta, w, b), 1e-12, 1e-12));
    CHECK(allclose(derf(x, a, shift, w, b), composed::derf(x, a, shift, w, b), 1e-12, 1e-12));
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

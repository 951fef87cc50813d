// Shared test helpers: random float64 inputs (optionally non-contiguous) and
// CHECK-style wrappers around gradcheck / gradgradcheck that print the failing element.
#pragma once
#include <doctest/doctest.h>

#include <cmath>

#include "normgrad/normgrad.h"

namespace ngt {
using namespace ng;

// The ASan + UBSan build (NG_SANITIZE): memory errors show in a few steps, so the long
// training loops run shortened there; the release build runs them whole.
#ifdef NG_SANITIZED
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

inline Tensor input(const Shape& s, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Generator g(seed);
  return (rand(s, {.dtype = DType::F64}, &g) * (hi - lo) + lo).detach().requires_grad_();
}

// A leaf whose values are read through a transposed (non-contiguous) view: tests pass
// `leaf` to gradcheck and use `leaf.t()` inside the function.
inline Tensor input_t(const Shape& s_transposed, uint64_t seed) {
  return input({s_transposed[1], s_transposed[0]}, seed);
}

inline void expect_grad(const TensorFn& f, const TensorList& xs, bool second_order = true,
                        GradcheckOptions o = {}) {
  auto r = gradcheck(f, xs, o);
  INFO(r.message);
  CHECK(r.ok);
  if (second_order) {
    auto r2 = gradgradcheck(f, xs, o);
    INFO(r2.message);
    CHECK(r2.ok);
  }
}

inline bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-6) {
  if (a.shape() != b.shape()) return false;
  auto x = a.to_vector(), y = b.to_vector();
  for (size_t i = 0; i < x.size(); ++i)
    if (!(std::fabs(x[i] - y[i]) <= atol + rtol * std::fabs(y[i]))) return false;
  return true;
}

}  // namespace ngt

// Every elementwise formula of the backends, written once: the CPU kernels
// (core/src/cpu/elementwise.cpp) and the CUDA kernels (cuda/src/elementwise.cu) both
// instantiate these, each with its math policy M (see normgrad/hd.h).
//
//   visit_unary(op, f)  calls f(Fn{}) with Fn::apply<M>(v, a, b) = op's formula
//   visit_binary(op, f) calls f(Fn{}) with Fn::apply<M>(x, y)    = op's formula
// so a backend picks the formula once per call, outside its loop or kernel.
#pragma once
#include "normgrad/backend.h"
#include "normgrad/hd.h"

namespace ng::formulas {

constexpr double kSqrt2OverPi = 0.7978845608028654;  // sqrt(2 / pi)
constexpr double kInvSqrt2Pi = 0.3989422804014327;   // 1 / sqrt(2 pi)
constexpr double kGeluCubic = 0.044715;              // GELU's tanh approximation

// GELU, exact: y = x Phi(x); y' = Phi(x) + x phi(x). M::normal_cdf is written without the
// 1 + erf cancellation, so negative x keep full precision.
template <class M, class T>
NG_HD T gelu_erf(T x) {
  return x * M::normal_cdf(x);
}
template <class M, class T>
NG_HD T gelu_erf_backward(T g, T x) {
  return g * (M::normal_cdf(x) + x * T(kInvSqrt2Pi) * M::exp(T(-0.5) * x * x));
}
// GELU, tanh approximation: (1 + tanh(u)) / 2 == sigmoid(2u), u = sqrt(2/pi)(x + c x^3),
// again without cancellation for negative x. y' = s + 2 x s (1 - s) u'.
template <class M, class T>
NG_HD T gelu_tanh(T x) {
  return x * M::sigmoid(T(2 * kSqrt2OverPi) * (x + T(kGeluCubic) * x * x * x));
}
template <class M, class T>
NG_HD T gelu_tanh_backward(T g, T x) {
  const T s = M::sigmoid(T(2 * kSqrt2OverPi) * (x + T(kGeluCubic) * x * x * x));
  return g * (s + T(2) * x * s * (T(1) - s) * T(kSqrt2OverPi) * (T(1) + T(3 * kGeluCubic) * x * x));
}

// X(op name, formula in v (input) and the op's scalars a, b)
#define NG_UNARY_FORMULAS(X)                            \
  X(Neg, -v)                                            \
  X(Exp, M::exp(v))                                     \
  X(Log, M::log(v))                                     \
  X(Sqrt, M::sqrt(v))                                   \
  X(Rsqrt, T(1) / M::sqrt(v))                           \
  X(Abs, M::abs(v))                                     \
  X(Sign, T((v > T(0)) - (v < T(0))))                   \
  X(Tanh, M::tanh(v))                                   \
  X(Sigmoid, M::sigmoid(v))                             \
  X(Relu, v > T(0) ? v : T(0))                          \
  X(GeluTanh, (gelu_tanh<M, T>(v)))                     \
  X(GeluErf, (gelu_erf<M, T>(v)))                       \
  X(Silu, v* M::sigmoid(v))                             \
  X(Erf, M::erf_libm(v))                                \
  X(Softplus, v > T(20) ? v : M::log1p(M::exp_libm(v))) \
  X(Square, v* v)                                       \
  X(Reciprocal, T(1) / v)                               \
  X(PowScalar, M::pow(v, a))                            \
  X(AddScalar, v + a)                                   \
  X(MulScalar, v* a)                                    \
  X(RSubScalar, a - v)                                  \
  X(RDivScalar, a / v)                                  \
  X(Clamp, v != v ? v : (v < a ? a : (v > b ? b : v)))  \
  X(GtScalar, T(v > a))                                 \
  X(LtScalar, T(v < a))

// X(op name, formula in x and y)
#define NG_BINARY_FORMULAS(X)                         \
  X(Add, x + y)                                       \
  X(Sub, x - y)                                       \
  X(Mul, x* y)                                        \
  X(Div, x / y)                                       \
  X(Maximum, (x != x || x > y) ? x : y)               \
  X(Minimum, (x != x || x < y) ? x : y)               \
  X(Gt, T(x > y))                                     \
  X(Lt, T(x < y))                                     \
  X(Ge, T(x >= y))                                    \
  X(Le, T(x <= y))                                    \
  X(Eq, T(x == y))                                    \
  X(Ne, T(x != y))                                    \
  X(GeluErfBackward, (gelu_erf_backward<M, T>(x, y))) \
  X(GeluTanhBackward, (gelu_tanh_backward<M, T>(x, y)))

namespace unary {
#define NG_UNARY_STRUCT(name, formula)    \
  struct name {                           \
    template <class M, class T>           \
    NG_HD static T apply(T v, T a, T b) { \
      (void)a;                            \
      (void)b;                            \
      return formula;                     \
    }                                     \
  };
NG_UNARY_FORMULAS(NG_UNARY_STRUCT)
#undef NG_UNARY_STRUCT
}  // namespace unary

namespace binary {
#define NG_BINARY_STRUCT(name, formula) \
  struct name {                         \
    template <class M, class T>         \
    NG_HD static T apply(T x, T y) {    \
      return formula;                   \
    }                                   \
  };
NG_BINARY_FORMULAS(NG_BINARY_STRUCT)
#undef NG_BINARY_STRUCT
}  // namespace binary

// Calls f with the formula struct of a unary op (its value and derivative).
template <class F>
void visit_unary(UnaryOp op, F&& f) {
  switch (op) {
#define NG_UNARY_CASE(name, formula) \
  case UnaryOp::name:                \
    return f(unary::name{});
    NG_UNARY_FORMULAS(NG_UNARY_CASE)
#undef NG_UNARY_CASE
  }
}

// Calls f with the formula struct of a binary op.
template <class F>
void visit_binary(BinaryOp op, F&& f) {
  switch (op) {
#define NG_BINARY_CASE(name, formula) \
  case BinaryOp::name:                \
    return f(binary::name{});
    NG_BINARY_FORMULAS(NG_BINARY_CASE)
#undef NG_BINARY_CASE
  }
}

}  // namespace ng::formulas

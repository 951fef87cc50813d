// Elementwise kernels: copy/convert, fill, unary, binary, where. One thread per output
// element (grid-stride); strided and broadcast (stride-0) operands go through OffsetCalc,
// fully contiguous ones through the flat path. Formulas mirror core/src/cpu/elementwise.cpp.
#include "common.cuh"
#include "cuda_backend.cuh"
#include "device_math.cuh"

namespace ng::cuda {
namespace elementwise {

constexpr double kSqrt2OverPi = 0.7978845608028654;
constexpr double kInvSqrt2 = 0.7071067811865476;
constexpr double kInvSqrt2Pi = 0.3989422804014327;

template <class T>
__device__ __forceinline__ T apply_unary(UnaryOp op, T v, T a, T b) {
  switch (op) {
    case UnaryOp::Neg:
      return -v;
    case UnaryOp::Exp:
      return d_exp(v);
    case UnaryOp::Log:
      return d_log(v);
    case UnaryOp::Sqrt:
      return d_sqrt(v);
    case UnaryOp::Rsqrt:
      return T(1) / d_sqrt(v);
    case UnaryOp::Abs:
      return v < T(0) ? -v : (v == T(0) ? T(0) : v);  // |-0| = +0, NaN kept
    case UnaryOp::Sign:
      return T((v > T(0)) - (v < T(0)));
    case UnaryOp::Tanh:
      return d_tanh(v);
    case UnaryOp::Sigmoid:
      return d_sigmoid(v);
    case UnaryOp::Relu:
      return v > T(0) ? v : T(0);
    case UnaryOp::GeluTanh:
      return v * d_sigmoid(T(2 * kSqrt2OverPi) * (v + T(0.044715) * v * v * v));
    case UnaryOp::GeluErf:
      return T(0.5) * v * d_erfc(-v * T(kInvSqrt2));
    case UnaryOp::Silu:
      return v * d_sigmoid(v);
    case UnaryOp::Erf:
      return d_erf(v);
    case UnaryOp::Softplus:
      return v > T(20) ? v : d_log1p(d_exp(v));
    case UnaryOp::Square:
      return v * v;
    case UnaryOp::Reciprocal:
      return T(1) / v;
    case UnaryOp::PowScalar:
      return a == T(2) ? v * v : (a == T(0.5) ? d_sqrt(v) : d_pow(v, a));
    case UnaryOp::AddScalar:
      return v + a;
    case UnaryOp::MulScalar:
      return v * a;
    case UnaryOp::RSubScalar:
      return a - v;
    case UnaryOp::RDivScalar:
      return a / v;
    case UnaryOp::Clamp:
      return v != v ? v : (v < a ? a : (v > b ? b : v));
    case UnaryOp::GtScalar:
      return T(v > a);
    case UnaryOp::LtScalar:
      return T(v < a);
  }
  return v;
}

template <class T>
__device__ __forceinline__ T apply_binary(BinaryOp op, T x, T y) {
  switch (op) {
    case BinaryOp::Add:
      return x + y;
    case BinaryOp::Sub:
      return x - y;
    case BinaryOp::Mul:
      return x * y;
    case BinaryOp::Div:
      return x / y;
    case BinaryOp::Maximum:
      return (x != x || x > y) ? x : y;
    case BinaryOp::Minimum:
      return (x != x || x < y) ? x : y;
    case BinaryOp::Gt:
      return T(x > y);
    case BinaryOp::Lt:
      return T(x < y);
    case BinaryOp::Ge:
      return T(x >= y);
    case BinaryOp::Le:
      return T(x <= y);
    case BinaryOp::Eq:
      return T(x == y);
    case BinaryOp::Ne:
      return T(x != y);
    case BinaryOp::GeluErfBackward:  // x = upstream gradient, y = GELU input
      return x * (T(0.5) * d_erfc(-y * T(kInvSqrt2)) + y * T(kInvSqrt2Pi) * d_exp(T(-0.5) * y * y));
    case BinaryOp::GeluTanhBackward: {
      const T s = d_sigmoid(T(2 * kSqrt2OverPi) * (y + T(0.044715) * y * y * y));
      return x *
             (s + T(2) * y * s * (T(1) - s) * T(kSqrt2OverPi) * (T(1) + T(3 * 0.044715) * y * y));
    }
  }
  return x;
}

template <class TO, class TI>
void copy_typed(const Tensor& src, const Tensor& dst) {
  TO* o = dst.data<TO>();
  const TI* in = src.data<TI>();
  launch_map<2>(dst.shape(), {&dst.strides(), &src.strides()}, "copy",
                [=] __device__(const int64_t* off) { o[off[0]] = static_cast<TO>(in[off[1]]); });
}

template <class T>
void fill_typed(const Tensor& dst, double value) {
  T* o = dst.data<T>();
  const T v = static_cast<T>(value);
  launch_map<1>(dst.shape(), {&dst.strides()}, "fill",
                [=] __device__(const int64_t* off) { o[off[0]] = v; });
}

template <class T>
void unary_typed(UnaryOp op, const Tensor& x, const Tensor& out, T a, T b) {
  T* o = out.data<T>();
  const T* in = x.data<T>();
  launch_map<2>(
      out.shape(), {&out.strides(), &x.strides()}, "unary",
      [=] __device__(const int64_t* off) { o[off[0]] = apply_unary<T>(op, in[off[1]], a, b); });
}

template <class T>
void binary_typed(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  T* o = out.data<T>();
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  launch_map<3>(out.shape(), {&out.strides(), &a.strides(), &b.strides()}, "binary",
                [=] __device__(const int64_t* off) {
                  o[off[0]] = apply_binary<T>(op, pa[off[1]], pb[off[2]]);
                });
}

template <class T>
void where_typed(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  T* o = out.data<T>();
  const T* pc = cond.data<T>();
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  launch_map<4>(out.shape(), {&out.strides(), &cond.strides(), &a.strides(), &b.strides()}, "where",
                [=] __device__(const int64_t* off) {
                  o[off[0]] = pc[off[1]] != T(0) ? pa[off[2]] : pb[off[3]];
                });
}

}  // namespace elementwise

using namespace elementwise;

void CudaBackend::copy(const Tensor& src, const Tensor& dst) {
  dispatch_all(dst.dtype(), [&](auto to) {
    dispatch_all(src.dtype(),
                 [&](auto from) { copy_typed<decltype(to), decltype(from)>(src, dst); });
  });
}

void CudaBackend::fill(const Tensor& dst, double value) {
  dispatch_all(dst.dtype(), [&](auto tag) { fill_typed<decltype(tag)>(dst, value); });
}

void CudaBackend::unary(UnaryOp op, const Tensor& x, const Tensor& out, double a, double b) {
  dispatch_float(x.dtype(), "unary", [&](auto tag) {
    using T = decltype(tag);
    unary_typed<T>(op, x, out, T(a), T(b));
  });
}

void CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_float(a.dtype(), "binary",
                 [&](auto tag) { binary_typed<decltype(tag)>(op, a, b, out); });
}

void CudaBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_float(a.dtype(), "where",
                 [&](auto tag) { where_typed<decltype(tag)>(cond, a, b, out); });
}

}  // namespace ng::cuda

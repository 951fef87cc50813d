// CPU elementwise kernels: copy/convert, fill, unary, binary, where.
// Each op picks a lambda once; the lambda is inlined into a tight loop that GCC
// vectorizes when all operands are contiguous (the common case).
#include <cmath>

#include "avx512.h"
#include "cpu_backend.h"
#include "dispatch.h"
#include "pointwise.h"
#include "stream_store.h"
#include "strided_loop.h"
#include "vec_math.h"

namespace ng::cpu {
namespace {

// out[i] = value(i) for a huge contiguous output: computed in L1-sized blocks, then
// written with streaming stores (no read-for-ownership of the destination).
template <class T, class V>
void streamed(T* out, int64_t n, V value) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    alignas(64) T buf[kStreamBlock];
    for (int64_t i0 = b; i0 < e; i0 += kStreamBlock) {
      const int64_t len = std::min(kStreamBlock, e - i0);
      for (int64_t i = 0; i < len; ++i) buf[i] = value(i0 + i);
      stream_copy(out + i0, buf, len * sizeof(T));
    }
    stream_fence();
  });
}

template <class TO, class TI, class F>
void map1(const Tensor& x, const Tensor& out, F f) {
  StridedLoop<2> L(out.shape(), {&out.strides(), &x.strides()});
  TO* o = static_cast<TO*>(out.raw_data());
  const TI* in = static_cast<const TI*>(x.raw_data());
  const int64_t so = L.inner_stride(0), si = L.inner_stride(1);
  if (L.ndim == 1 && so == 1 && si == 1 && out.numel() * (int64_t)sizeof(TO) >= kStreamBytes)
    return streamed(o, L.numel(), [&](int64_t i) { return f(in[i]); });
  strided_for(L, kGrain, [&](const int64_t* off, int64_t n) {
    TO* po = o + off[0];
    const TI* pi = in + off[1];
    if (so == 1 && si == 1) {
      for (int64_t i = 0; i < n; ++i) po[i] = f(pi[i]);
    } else if (so == 1 && si == 0) {
      const TO v = f(pi[0]);
      for (int64_t i = 0; i < n; ++i) po[i] = v;
    } else {
      for (int64_t i = 0; i < n; ++i) po[i * so] = f(pi[i * si]);
    }
  });
}

template <class T, class F>
void map2(const Tensor& a, const Tensor& b, const Tensor& out, F f) {
  StridedLoop<3> L(out.shape(), {&out.strides(), &a.strides(), &b.strides()});
  T* o = out.data<T>();
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  const int64_t so = L.inner_stride(0), sa = L.inner_stride(1), sb = L.inner_stride(2);
  if (L.ndim == 1 && so == 1 && sa == 1 && sb == 1 &&
      out.numel() * (int64_t)sizeof(T) >= kStreamBytes)
    return streamed(o, L.numel(), [&](int64_t i) { return f(pa[i], pb[i]); });
  strided_for(L, kGrain, [&](const int64_t* off, int64_t n) {
    T* po = o + off[0];
    const T* x = pa + off[1];
    const T* y = pb + off[2];
    if (so == 1 && sa == 1 && sb == 1) {
      for (int64_t i = 0; i < n; ++i) po[i] = f(x[i], y[i]);
    } else if (so == 1 && sa == 1 && sb == 0) {
      const T yv = y[0];
      for (int64_t i = 0; i < n; ++i) po[i] = f(x[i], yv);
    } else if (so == 1 && sa == 0 && sb == 1) {
      const T xv = x[0];
      for (int64_t i = 0; i < n; ++i) po[i] = f(xv, y[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) po[i * so] = f(x[i * sa], y[i * sb]);
    }
  });
}

template <class T>
void unary_typed(UnaryOp op, const Tensor& x, const Tensor& out, T a, T b) {
  auto run = [&](auto f) { map1<T, T>(x, out, f); };
  switch (op) {
    case UnaryOp::Neg:
      return run([](T v) { return -v; });
    case UnaryOp::Exp:
      return run([](T v) { return vexp(v); });
    case UnaryOp::Log:
      return run([](T v) { return std::log(v); });
    case UnaryOp::Sqrt:
      return run([](T v) { return std::sqrt(v); });
    case UnaryOp::Rsqrt:
      return run([](T v) { return T(1) / std::sqrt(v); });
    case UnaryOp::Abs:
      return run([](T v) { return std::abs(v); });
    case UnaryOp::Sign:
      return run([](T v) { return T((v > 0) - (v < 0)); });
    case UnaryOp::Tanh:
      return run([](T v) { return vtanh(v); });
    case UnaryOp::Sigmoid:
      return run([](T v) { return vsigmoid(v); });
    case UnaryOp::Relu:
      return run([](T v) { return v > 0 ? v : T(0); });
    // (1 + tanh(u)) / 2 == sigmoid(2u) and (1 + erf(z)) == erfc(-z): same values, but no
    // cancellation for negative x, where the textbook forms lose all float precision.
    case UnaryOp::GeluTanh:
      return run(
          [](T v) { return v * vsigmoid(T(2 * kSqrt2OverPi) * (v + T(0.044715) * v * v * v)); });
    case UnaryOp::GeluErf:
      if constexpr (std::is_same_v<T, float>)
        if (avx512::enabled() && x.is_contiguous() && out.is_contiguous())
          return avx512::gelu_erf(x.data<float>(), out.data<float>(), x.numel());
      return run([](T v) __attribute__((always_inline)) { return gelu_erf(v); });
    case UnaryOp::Silu:
      return run([](T v) { return v * vsigmoid(v); });
    case UnaryOp::Erf:
      return run([](T v) { return std::erf(v); });
    case UnaryOp::Softplus:
      return run([](T v) { return v > T(20) ? v : std::log1p(std::exp(v)); });
    case UnaryOp::Square:
      return run([](T v) { return v * v; });
    case UnaryOp::Reciprocal:
      return run([](T v) { return T(1) / v; });
    case UnaryOp::PowScalar:
      if (a == T(2)) return run([](T v) { return v * v; });
      if (a == T(0.5)) return run([](T v) { return std::sqrt(v); });
      return run([a](T v) { return std::pow(v, a); });
    case UnaryOp::AddScalar:
      return run([a](T v) { return v + a; });
    case UnaryOp::MulScalar:
      return run([a](T v) { return v * a; });
    case UnaryOp::RSubScalar:
      return run([a](T v) { return a - v; });
    case UnaryOp::RDivScalar:
      return run([a](T v) { return a / v; });
    case UnaryOp::Clamp:
      return run([a, b](T v) { return v != v ? v : (v < a ? a : (v > b ? b : v)); });
    case UnaryOp::GtScalar:
      return run([a](T v) { return T(v > a); });
    case UnaryOp::LtScalar:
      return run([a](T v) { return T(v < a); });
  }
}

template <class T>
void binary_typed(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  auto run = [&](auto f) { map2<T>(a, b, out, f); };
  switch (op) {
    case BinaryOp::Add:
      return run([](T x, T y) { return x + y; });
    case BinaryOp::Sub:
      return run([](T x, T y) { return x - y; });
    case BinaryOp::Mul:
      return run([](T x, T y) { return x * y; });
    case BinaryOp::Div:
      return run([](T x, T y) { return x / y; });
    case BinaryOp::Maximum:
      return run([](T x, T y) { return (x != x || x > y) ? x : y; });
    case BinaryOp::Minimum:
      return run([](T x, T y) { return (x != x || x < y) ? x : y; });
    case BinaryOp::Gt:
      return run([](T x, T y) { return T(x > y); });
    case BinaryOp::Lt:
      return run([](T x, T y) { return T(x < y); });
    case BinaryOp::Ge:
      return run([](T x, T y) { return T(x >= y); });
    case BinaryOp::Le:
      return run([](T x, T y) { return T(x <= y); });
    case BinaryOp::Eq:
      return run([](T x, T y) { return T(x == y); });
    case BinaryOp::Ne:
      return run([](T x, T y) { return T(x != y); });
    // y = x Phi(x):  y' = Phi(x) + x phi(x)
    case BinaryOp::GeluErfBackward:  // (forced inline: as a call it would not vectorize)
      if constexpr (std::is_same_v<T, float>)
        if (avx512::enabled() && a.is_contiguous() && b.is_contiguous() && out.is_contiguous() &&
            a.shape() == b.shape())
          return avx512::gelu_erf_backward(a.data<float>(), b.data<float>(), out.data<float>(),
                                           out.numel());
      return run([](T g, T x) __attribute__((always_inline)) { return gelu_erf_backward(g, x); });
    // y = x sigmoid(2u), u = k (x + c x^3):  y' = s + 2 x s (1 - s) k (1 + 3 c x^2)
    case BinaryOp::GeluTanhBackward:
      return run([](T g, T x) __attribute__((always_inline)) {
        const T s = vsigmoid(T(2 * kSqrt2OverPi) * (x + T(0.044715) * x * x * x));
        return g *
               (s + T(2) * x * s * (T(1) - s) * T(kSqrt2OverPi) * (T(1) + T(3 * 0.044715) * x * x));
      });
  }
}

}  // namespace

void CpuBackend::copy(const Tensor& src, const Tensor& dst) {
  dispatch_all(dst.dtype(), [&](auto to) {
    using TO = decltype(to);
    dispatch_all(src.dtype(), [&](auto from) {
      using TI = decltype(from);
      map1<TO, TI>(src, dst, [](TI v) { return static_cast<TO>(v); });
    });
  });
}

void CpuBackend::fill(const Tensor& dst, double value) {
  dispatch_all(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T v = static_cast<T>(value);
    map1<T, T>(dst, dst, [v](T) { return v; });
  });
}

void CpuBackend::unary(UnaryOp op, const Tensor& x, const Tensor& out, double a, double b) {
  dispatch_float(x.dtype(), "unary", [&](auto tag) {
    using T = decltype(tag);
    unary_typed<T>(op, x, out, T(a), T(b));
  });
}

void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_float(a.dtype(), "binary",
                 [&](auto tag) { binary_typed<decltype(tag)>(op, a, b, out); });
}

void CpuBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_float(a.dtype(), "where", [&](auto tag) {
    using T = decltype(tag);
    StridedLoop<4> L(out.shape(), {&out.strides(), &cond.strides(), &a.strides(), &b.strides()});
    T* o = out.data<T>();
    const T* pc = cond.data<T>();
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    const int64_t so = L.inner_stride(0), sc = L.inner_stride(1), sa = L.inner_stride(2),
                  sb = L.inner_stride(3);
    strided_for(L, kGrain, [&](const int64_t* off, int64_t n) {
      for (int64_t i = 0; i < n; ++i)
        o[off[0] + i * so] =
            pc[off[1] + i * sc] != T(0) ? pa[off[2] + i * sa] : pb[off[3] + i * sb];
    });
  });
}

}  // namespace ng::cpu

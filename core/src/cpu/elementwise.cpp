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

// The formulas are normgrad/elementwise_formulas.h, shared with the CUDA backend; here the
// op is chosen once per call and its formula inlined into the loop (a call would not
// vectorize). PowScalar with a = 2 or 0.5 and the GELU kernels' AVX-512 builds are the only
// special cases.
template <class T>
void unary_typed(UnaryOp op, const Tensor& x, const Tensor& out, T a, T b) {
  if (op == UnaryOp::PowScalar && a == T(2)) op = UnaryOp::Square;
  if (op == UnaryOp::PowScalar && a == T(0.5)) op = UnaryOp::Sqrt;
  if constexpr (std::is_same_v<T, float>)
    if (op == UnaryOp::GeluErf && avx512::enabled() && x.is_contiguous() && out.is_contiguous())
      return avx512::gelu_erf(x.data<float>(), out.data<float>(), x.numel());
  formulas::visit_unary(op, [&](auto fn) {
    using Fn = decltype(fn);
    map1<T, T>(
        x, out, [ a, b ](T v) __attribute__((always_inline)) {
          return Fn::template apply<CpuMath, T>(v, a, b);
        });
  });
}

template <class T>
void binary_typed(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  if constexpr (std::is_same_v<T, float>)
    if (op == BinaryOp::GeluErfBackward && avx512::enabled() && a.is_contiguous() &&
        b.is_contiguous() && out.is_contiguous() && a.shape() == b.shape())
      return avx512::gelu_erf_backward(a.data<float>(), b.data<float>(), out.data<float>(),
                                       out.numel());
  formulas::visit_binary(op, [&](auto fn) {
    using Fn = decltype(fn);
    map2<T>(
        a, b, out, [](T x, T y) __attribute__((always_inline)) {
          return Fn::template apply<CpuMath, T>(x, y);
        });
  });
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

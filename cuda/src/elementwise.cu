// Elementwise kernels: copy/convert, fill, unary, binary, where. One thread per output
// element (grid-stride); strided and broadcast (stride-0) operands go through OffsetCalc,
// fully contiguous ones through the flat path. The formulas are
// normgrad/elementwise_formulas.h, shared with the CPU backend.
#include "common.cuh"
#include "cuda_backend.cuh"
#include "device_math.cuh"
#include "normgrad/elementwise_formulas.h"

namespace ng::cuda {
namespace elementwise {

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

// One kernel per op (chosen on the host), its formula from normgrad/elementwise_formulas.h.
// (Named templates, not generic lambdas: nvcc allows device lambdas only in the former.)
template <class Fn, class T>
void launch_unary(const Tensor& x, const Tensor& out, T a, T b) {
  T* o = out.data<T>();
  const T* in = x.data<T>();
  launch_map<2>(out.shape(), {&out.strides(), &x.strides()}, "unary",
                [=] __device__(const int64_t* off) {
                  o[off[0]] = Fn::template apply<DeviceMath, T>(in[off[1]], a, b);
                });
}
template <class T>
struct UnaryLauncher {
  const Tensor &x, &out;
  T a, b;
  template <class Fn>
  void operator()(Fn) const {
    launch_unary<Fn, T>(x, out, a, b);
  }
};

template <class Fn, class T>
void launch_binary(const Tensor& a, const Tensor& b, const Tensor& out) {
  T* o = out.data<T>();
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  launch_map<3>(out.shape(), {&out.strides(), &a.strides(), &b.strides()}, "binary",
                [=] __device__(const int64_t* off) {
                  o[off[0]] = Fn::template apply<DeviceMath, T>(pa[off[1]], pb[off[2]]);
                });
}
template <class T>
struct BinaryLauncher {
  const Tensor &a, &b, &out;
  template <class Fn>
  void operator()(Fn) const {
    launch_binary<Fn, T>(a, b, out);
  }
};

template <class T>
void unary_typed(UnaryOp op, const Tensor& x, const Tensor& out, T a, T b) {
  formulas::visit_unary(op, UnaryLauncher<T>{x, out, a, b});
}

template <class T>
void binary_typed(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  formulas::visit_binary(op, BinaryLauncher<T>{a, b, out});
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

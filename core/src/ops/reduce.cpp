// Reductions over any set of dims, and sum_to (the gradient of broadcasting).
#include <cmath>

#include "common.h"

namespace ng {
using namespace detail;

namespace {
Tensor run_reduce(ReduceOp op, const Tensor& x, const Dims& dims, bool keepdim, DType out_dtype) {
  const Shape keep = keepdim_shape(x.shape(), dims);
  Tensor out = empty(keep, {.dtype = out_dtype, .device = x.device()});
  backend_of(x).reduce(op, x, dims, out);
  if (keepdim) return out;
  const Shape r = reduced_shape(x.shape(), dims, false);
  return make_tensor(out.impl()->storage, r, contiguous_strides(r), 0, out_dtype);
}
}  // namespace

Tensor sum(const Tensor& x, Dims dims_in, bool keepdim) {
  check_float(x, "sum");
  const Dims dims = normalize_dims(dims_in, x.dim(), "sum");
  const Shape in = x.shape(), keep = keepdim_shape(in, dims);
  return autograd::record("sum", run_reduce(ReduceOp::Sum, x, dims, keepdim, x.dtype()), {x}, {},
                          [in, keep](const TensorList&, const Tensor& g) {
                            return TensorList{g.reshape(keep).expand(in)};
                          });
}

bool all_finite(const Tensor& x) {
  if (!is_floating(x.dtype()) || x.numel() == 0) return true;
  NoGradGuard no_grad;
  if (x.device() != Device::CPU)  // x * 0 is 0 where x is finite, NaN where it is inf or NaN
    return std::isfinite(sum(x.detach() * 0.0).item());
  const Tensor c = x.contiguous();
  auto scan = [&](auto* p) {
    for (int64_t i = 0, n = c.numel(); i < n; ++i)
      if (!std::isfinite(p[i])) return false;
    return true;
  };
  return x.dtype() == DType::F32 ? scan(c.data<float>()) : scan(c.data<double>());
}

Tensor mean(const Tensor& x, Dims dims_in, bool keepdim) {
  check_float(x, "mean");
  const Dims dims = normalize_dims(dims_in, x.dim(), "mean");
  int64_t n = 1;
  for (int64_t d : dims) n *= x.size(d);
  return sum(x, dims, keepdim) * (1.0 / (double)n);
}

Tensor var(const Tensor& x, Dims dims_in, int64_t correction, bool keepdim) {
  check_float(x, "var");
  const Dims dims = normalize_dims(dims_in, x.dim(), "var");
  int64_t n = 1;
  for (int64_t d : dims) n *= x.size(d);
  if (correction < 0) fail("var", "correction must be >= 0, got ", correction);
  const Tensor centered = x - mean(x, dims, true);
  return sum(square(centered), dims, keepdim) *
         (1.0 / (double)std::max<int64_t>(n - correction, 0));
}

// Max/min: the gradient goes to the elements equal to the result, shared among ties.
static Tensor extreme(const Tensor& x, Dims dims_in, bool keepdim, bool is_max) {
  const char* name = is_max ? "max" : "min";
  check_float(x, name);
  if (x.numel() == 0) fail(name, "reduction over an empty tensor of shape ", shape_str(x.shape()));
  const Dims dims = normalize_dims(dims_in, x.dim(), name);
  Tensor out = run_reduce(is_max ? ReduceOp::Max : ReduceOp::Min, x, dims, keepdim, x.dtype());
  const Shape in = x.shape(), keep = keepdim_shape(in, dims);
  return autograd::record(name, out, {x}, {x, out},
                          [in, keep, dims](const TensorList& s, const Tensor& g) {
                            const Tensor hit = eq(s[0].detach(), s[1].detach().reshape(keep));
                            const Tensor count = sum(hit, dims, true);
                            return TensorList{g.reshape(keep) * (hit / count)};
                          });
}
Tensor max(const Tensor& x, Dims dims, bool keepdim) { return extreme(x, dims, keepdim, true); }
Tensor min(const Tensor& x, Dims dims, bool keepdim) { return extreme(x, dims, keepdim, false); }

static Tensor arg_extreme(const Tensor& x, int64_t dim, bool keepdim, bool is_max) {
  const char* name = is_max ? "argmax" : "argmin";
  check_float(x, name);
  if (x.numel() == 0) fail(name, "reduction over an empty tensor of shape ", shape_str(x.shape()));
  const Dims dims = normalize_dims({dim}, x.dim(), name);
  return run_reduce(is_max ? ReduceOp::ArgMax : ReduceOp::ArgMin, x.detach(), dims, keepdim,
                    DType::I64);
}
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_extreme(x, dim, keepdim, true);
}
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_extreme(x, dim, keepdim, false);
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  if (shape.size() > (size_t)x.dim())
    fail("sum_to", "cannot sum ", shape_str(x.shape()), " to the larger rank ", shape_str(shape));
  const size_t lead = x.dim() - shape.size();
  Dims dims;
  for (size_t i = 0; i < (size_t)x.dim(); ++i) {
    if (i < lead)
      dims.push_back((int64_t)i);
    else if (shape[i - lead] == 1 && x.shape()[i] != 1)
      dims.push_back((int64_t)i);
    else if (shape[i - lead] != x.shape()[i])
      fail("sum_to", "cannot sum ", shape_str(x.shape()), " to ", shape_str(shape));
  }
  if (dims.empty()) return x.reshape(shape);
  return sum(x, dims, true).reshape(shape);
}

}  // namespace ng

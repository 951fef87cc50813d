// matmul as torch.matmul: 1-d operands are promoted and the added dim removed again;
// batch dims broadcast. The backward is two more matmuls (so it is twice differentiable).
#include "common.h"

namespace ng {
using namespace detail;

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_match(a, b, "matmul");
  if (a.dim() == 0 || b.dim() == 0)
    fail("matmul", "both operands need at least 1 dim, got ", shape_str(a.shape()), " and ",
         shape_str(b.shape()));
  if (a.dim() == 1 && b.dim() == 1) {
    if (a.size(0) != b.size(0))
      fail("matmul", "dot product of sizes ", a.size(0), " and ", b.size(0));
    return matmul(a.unsqueeze(0), b.unsqueeze(1)).reshape({});
  }
  if (a.dim() == 1) return matmul(a.unsqueeze(0), b).squeeze(-2);
  if (b.dim() == 1) return matmul(a, b.unsqueeze(-1)).squeeze(-1);

  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  if (b.size(-2) != K)
    fail("matmul", "inner dims differ: ", shape_str(a.shape()), " @ ", shape_str(b.shape()));
  const Shape ba(a.shape().begin(), a.shape().end() - 2),
      bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(ba, bb, "matmul");
  Shape sa = batch, sb = batch, so = batch;
  sa.insert(sa.end(), {M, K});
  sb.insert(sb.end(), {K, N});
  so.insert(so.end(), {M, N});
  Tensor out = empty_like_shape(a, so);
  backend_of(a).gemm(kernel_expand(a, sa), kernel_expand(b, sb), out, false);
  return autograd::record("matmul", out, {a, b}, {a, b}, [](const TensorList& s, const Tensor& g) {
    const Tensor &a = s[0], &b = s[1];
    return TensorList{matmul(g, b.transpose(-1, -2)), matmul(a.transpose(-1, -2), g)};
  });
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  check_match(x, w, "linear");
  if (w.dim() != 2 || x.dim() < 1 || x.size(-1) != w.size(1))
    fail("linear", "input ", shape_str(x.shape()), " does not fit weight ", shape_str(w.shape()),
         " ([out, in])");
  const int64_t K = w.size(1), N = w.size(0);
  if (b.defined()) {
    check_match(x, b, "linear");
    if (b.dim() != 1 || b.size(0) != N)
      fail("linear", "bias ", shape_str(b.shape()), " does not fit weight ", shape_str(w.shape()));
  }
  const Tensor x2 = x.reshape({-1, K});
  Shape out_shape = x.shape();
  out_shape.back() = N;
  Tensor out = empty_like_shape(x, {x2.size(0), N});
  if (b.defined()) backend_of(x).copy(kernel_expand(b, out.shape()), out);
  backend_of(x).gemm(x2, w.t(), out, b.defined());
  TensorList inputs{x, w};
  if (b.defined()) inputs.push_back(b);
  const Shape xs = x.shape();
  return autograd::record(
             "linear", out, inputs, {x2, w},
             [xs](const TensorList& s, const Tensor& g) {
               const Tensor &x2 = s[0], &w = s[1];
               return TensorList{matmul(g, w).reshape(xs), matmul(g.t(), x2), sum(g, {0})};
             })
      .reshape(out_shape);
}

}  // namespace ng

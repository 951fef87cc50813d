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
  backend_of(a).gemm(kernel_expand(a, sa), kernel_expand(b, sb), out);
  return autograd::record("matmul", out, {a, b}, {a, b}, [](const TensorList& s, const Tensor& g) {
    const Tensor &a = s[0], &b = s[1];
    return TensorList{matmul(g, b.transpose(-1, -2)), matmul(a.transpose(-1, -2), g)};
  });
}

}  // namespace ng

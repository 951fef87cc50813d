// Indexing ops. Each pair is the other's backward: index_select <-> index_add,
// gather <-> scatter_add, so gradients of gradients work too.
#include "common.h"

namespace ng {
using namespace detail;

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index_in) {
  check_index(index_in, x, "index_select");
  if (index_in.dim() > 1)
    fail("index_select", "index must be 0-d or 1-d, got shape ", shape_str(index_in.shape()));
  const Tensor index = index_in.reshape({index_in.numel()}).contiguous();
  dim = wrap_dim(dim, x.dim(), "index_select");
  Shape s = x.shape();
  s[dim] = index.numel();
  Tensor out = empty_like_shape(x, s);
  backend_of(x).index_select(x.contiguous(), dim, index, out);
  if (!is_floating(x.dtype())) return out;
  return autograd::record("index_select", out, {x}, {x},
                          [dim, index](const TensorList& sv, const Tensor& g) {
                            return TensorList{index_add(zeros_like(sv[0]), dim, index, g)};
                          });
}

Tensor index_add(const Tensor& base, int64_t dim, const Tensor& index_in, const Tensor& src) {
  check_match(base, src, "index_add");
  check_index(index_in, base, "index_add");
  const Tensor index = index_in.reshape({index_in.numel()}).contiguous();
  dim = wrap_dim(dim, base.dim(), "index_add");
  Shape want = base.shape();
  want[dim] = index.numel();
  if (src.shape() != want)
    fail("index_add", "source shape ", shape_str(src.shape()), " should be ", shape_str(want),
         " for base ", shape_str(base.shape()), " and ", index.numel(), " indices");
  Tensor out = empty_like_shape(base, base.shape());
  backend_of(base).copy(base, out);
  backend_of(base).index_add(out, dim, index, src.contiguous());
  return autograd::record("index_add", out, {base, src}, {},
                          [dim, index](const TensorList&, const Tensor& g) {
                            return TensorList{g, index_select(g, dim, index)};
                          });
}

Tensor embedding(const Tensor& weight, const Tensor& indices) {
  check_index(indices, weight, "embedding");
  if (weight.dim() != 2)
    fail("embedding", "weight must be [num_embeddings, dim], got ", shape_str(weight.shape()));
  Shape s = indices.shape();
  s.push_back(weight.size(1));
  return index_select(weight, 0, indices.reshape({indices.numel()})).reshape(s);
}

static void check_gather_shapes(const Tensor& x, int64_t dim, const Tensor& index, const char* op) {
  if (index.dim() != x.dim())
    fail(op, "index has ", index.dim(), " dims, tensor has ", x.dim(), " (",
         shape_str(index.shape()), " vs ", shape_str(x.shape()), ")");
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != dim && index.size(d) != x.size(d))
      fail(op, "index shape ", shape_str(index.shape()), " must match ", shape_str(x.shape()),
           " except in dim ", dim);
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index_in) {
  check_float(x, "gather");
  check_index(index_in, x, "gather");
  dim = wrap_dim(dim, x.dim(), "gather");
  check_gather_shapes(x, dim, index_in, "gather");
  const Tensor index = index_in.contiguous();
  Tensor out = empty_like_shape(x, index.shape());
  backend_of(x).gather(x.contiguous(), dim, index, out);
  return autograd::record("gather", out, {x}, {x},
                          [dim, index](const TensorList& s, const Tensor& g) {
                            return TensorList{scatter_add(zeros_like(s[0]), dim, index, g)};
                          });
}

Tensor scatter_add(const Tensor& base, int64_t dim, const Tensor& index_in, const Tensor& src) {
  check_match(base, src, "scatter_add");
  check_index(index_in, base, "scatter_add");
  dim = wrap_dim(dim, base.dim(), "scatter_add");
  check_gather_shapes(base, dim, index_in, "scatter_add");
  if (src.shape() != index_in.shape())
    fail("scatter_add", "source shape ", shape_str(src.shape()), " must equal index shape ",
         shape_str(index_in.shape()));
  const Tensor index = index_in.contiguous();
  Tensor out = empty_like_shape(base, base.shape());
  backend_of(base).copy(base, out);
  backend_of(base).scatter_add(out, dim, index, src.contiguous());
  return autograd::record("scatter_add", out, {base, src}, {},
                          [dim, index](const TensorList&, const Tensor& g) {
                            return TensorList{g, gather(g, dim, index)};
                          });
}

}  // namespace ng

// cat / stack / split / chunk.
#include "common.h"

namespace ng {
using namespace detail;

Tensor cat(const TensorList& ts, int64_t dim) {
  if (ts.empty()) fail("cat", "needs at least one tensor");
  const Tensor& first = ts[0];
  check_float(first, "cat");
  dim = wrap_dim(dim, first.dim(), "cat");
  Shape s = first.shape();
  s[dim] = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    check_match(first, ts[i], "cat");
    if (ts[i].dim() != first.dim())
      fail("cat", "tensor ", i, " has shape ", shape_str(ts[i].shape()), ", tensor 0 has ",
           shape_str(first.shape()));
    for (int64_t d = 0; d < first.dim(); ++d)
      if (d != dim && ts[i].size(d) != first.size(d))
        fail("cat", "tensor ", i, " has shape ", shape_str(ts[i].shape()), ", tensor 0 has ",
             shape_str(first.shape()), ": sizes must match except in dim ", dim);
    s[dim] += ts[i].size(dim);
  }
  Tensor out = empty_like_shape(first, s);
  std::vector<int64_t> lengths;
  int64_t at = 0;
  for (const auto& t : ts) {
    Shape part = s;
    part[dim] = t.size(dim);
    Tensor dst =
        make_tensor(out.impl()->storage, part, out.strides(), at * out.stride(dim), out.dtype());
    backend_of(out).copy(t, dst);
    lengths.push_back(t.size(dim));
    at += t.size(dim);
  }
  return autograd::record("cat", out, ts, {}, [dim, lengths](const TensorList&, const Tensor& g) {
    TensorList grads;
    int64_t start = 0;
    for (int64_t len : lengths) {
      grads.push_back(g.narrow(dim, start, len));
      start += len;
    }
    return grads;
  });
}

Tensor stack(const TensorList& ts, int64_t dim) {
  if (ts.empty()) fail("stack", "needs at least one tensor");
  dim = wrap_dim(dim, ts[0].dim() + 1, "stack");
  TensorList u;
  for (size_t i = 0; i < ts.size(); ++i) {
    if (ts[i].shape() != ts[0].shape())
      fail("stack", "tensor ", i, " has shape ", shape_str(ts[i].shape()), ", tensor 0 has ",
           shape_str(ts[0].shape()));
    u.push_back(ts[i].unsqueeze(dim));
  }
  return cat(u, dim);
}

TensorList split(const Tensor& x, int64_t split_size, int64_t dim) {
  dim = wrap_dim(dim, x.dim(), "split");
  if (split_size <= 0) fail("split", "split_size must be positive, got ", split_size);
  TensorList parts;
  for (int64_t start = 0; start < x.size(dim); start += split_size)
    parts.push_back(x.narrow(dim, start, std::min(split_size, x.size(dim) - start)));
  return parts;
}

TensorList chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  dim = wrap_dim(dim, x.dim(), "chunk");
  if (chunks <= 0) fail("chunk", "chunks must be positive, got ", chunks);
  const int64_t n = x.size(dim);
  return split(x, std::max<int64_t>(1, (n + chunks - 1) / chunks), dim);
}

}  // namespace ng

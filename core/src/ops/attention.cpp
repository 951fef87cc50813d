// Fused causal self-attention (the op) and its composed specification.
#include <cmath>

#include "common.h"

namespace ng {
using namespace detail;

namespace {

struct AttnShape {
  int64_t B, T, C, D;
};

AttnShape check_attention(const Tensor& qkv, int64_t n_head, const char* op) {
  check_float(qkv, op);
  if (qkv.dim() != 3 || qkv.size(2) % 3 != 0)
    fail(op, "expected packed qkv [B, T, 3C], got ", shape_str(qkv.shape()));
  const int64_t C = qkv.size(2) / 3;
  if (n_head <= 0 || C % n_head != 0)
    fail(op, "C = ", C, " (from qkv ", shape_str(qkv.shape()), ") is not divisible by n_head ",
         n_head);
  return {qkv.size(0), qkv.size(1), C, C / n_head};
}

// 1 above the diagonal: the future positions each query must not see.
Tensor future_mask(int64_t T, const Tensor& like) {
  std::vector<double> m(T * T, 0.0);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = i + 1; j < T; ++j) m[i * T + j] = 1.0;
  return from_vector(m, {T, T}, {.dtype = like.dtype(), .device = like.device()});
}

}  // namespace

namespace composed {
Tensor causal_self_attention(const Tensor& qkv, int64_t n_head) {
  const AttnShape s = check_attention(qkv, n_head, "causal_self_attention");
  const TensorList parts = split(qkv, s.C, 2);
  auto heads = [&](const Tensor& t) {
    return t.reshape({s.B, s.T, n_head, s.D}).transpose(1, 2);  // [B, H, T, D]
  };
  const Tensor q = heads(parts[0]), k = heads(parts[1]), v = heads(parts[2]);
  Tensor att = matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt((double)s.D));
  att = softmax(masked_fill(att, future_mask(s.T, qkv), -INFINITY), -1);
  return matmul(att, v).transpose(1, 2).reshape({s.B, s.T, s.C});
}
}  // namespace composed

Tensor causal_self_attention(const Tensor& qkv_in, int64_t n_head) {
  const AttnShape s = check_attention(qkv_in, n_head, "causal_self_attention");
  const Tensor qkv = qkv_in.contiguous();
  const double scale = 1.0 / std::sqrt((double)s.D);
  Tensor y = empty_like_shape(qkv, {s.B, s.T, s.C});
  // the backend's choice of what to keep: probabilities (CPU) or row log-sum-exps (GPU)
  const Tensor saved_by_backend = backend_of(qkv).attention_forward(qkv, n_head, scale, y);
  return autograd::record(
      "causal_self_attention", y, {qkv_in}, {qkv, y, saved_by_backend},
      [n_head, scale](const TensorList& saved, const Tensor& g) {
        const Tensor& qkv = saved[0];
        if (GradMode::enabled()) {  // create_graph: differentiate the specification
          return autograd::grad({composed::causal_self_attention(qkv, n_head)}, {qkv}, {g}, true);
        }
        Tensor dqkv = empty_like_shape(qkv, qkv.shape());
        backend_of(qkv).attention_backward(g.contiguous(), qkv, saved[1], saved[2], n_head, scale,
                                           dqkv);
        return TensorList{dqkv};
      });
}

}  // namespace ng

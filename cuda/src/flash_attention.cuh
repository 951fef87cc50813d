// The fused causal attention kernels (flash_attention.cu): what attention.cu calls.
#pragma once
#include "normgrad/tensor.h"

namespace ng::cuda::flash {

// True when the fused kernels handle this dtype and head size (head size <= 128 and the
// tiles fit the device's shared memory).
bool supported(DType dt, int64_t head_size);
// Writes y [B, T, C]; returns each row's log-sum-exp of its scaled scores, [B, H, T].
Tensor forward(const Tensor& qkv, int64_t n_head, double scale, const Tensor& y);
// dy, y [B, T, C] and qkv contiguous; writes every element of dqkv [B, T, 3C].
void backward(const Tensor& dy, const Tensor& qkv, const Tensor& y, const Tensor& lse,
              int64_t n_head, double scale, const Tensor& dqkv);

}  // namespace ng::cuda::flash

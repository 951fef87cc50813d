// How fast a run trains against what the machine can do: model FLOPs per token and the
// measured peak of the matrix products, from which the progress line and metrics.jsonl
// report MFU (model FLOPs utilisation, as nanoGPT and llm.c print it).
#pragma once
#include <cstdint>

#include "normgrad/tensor.h"

namespace ngcli {

// FLOPs of one training step (forward and backward) per token, PaLM's estimate (appendix B,
// as nanoGPT's estimate_mfu): 6 N + 12 L C T, with N the parameters, L the layers, C the
// width and T the context. 6 N: each parameter's multiply-add (2 FLOPs) in the forward pass
// and twice that in the backward pass; 12 L C T: the attention scores Q K^T and their
// weighted sum of V (2 x 2 T C FLOPs per token and layer forward, x3 with the backward).
double train_flops_per_token(int64_t params, int64_t n_layer, int64_t n_embd, int64_t block_size);

// The peak FLOP/s of this run's matrix products, measured: the best of a few square
// float32 GEMMs (1024 on the CPU, 4096 on a GPU) through ng::matmul on `dev`, with the
// current threads and matmul precision (fp32 sgemm, or the bf16 / tf32 path). Measured once
// per process for each device, thread count and precision (about 0.1 s), then cached.
double measured_peak_flops(ng::Device dev);

}  // namespace ngcli

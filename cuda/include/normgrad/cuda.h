// Querying and steering the CUDA backend. Only present when normgrad was built with CUDA
// (NG_HAS_CUDA). Tensors reach the GPU with t.to(Device::CUDA) or {.device = Device::CUDA}.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ng::cuda {

int device_count();  // 0 when the driver or a device is missing (never throws)
bool is_available();
// Why CUDA cannot be used here, e.g. "no CUDA-capable device is detected"; empty if it can.
std::string unavailable_reason();
// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.2 GiB)"; throws if no device.
std::string device_description();

// The caching allocator: freed blocks go back to a per-size free list and are reused by
// later allocations of the same rounded size; cudaMalloc runs only on a miss.
struct MemoryStats {
  size_t in_use = 0;           // bytes held by live tensors (rounded block sizes)
  size_t peak = 0;             // largest in_use since start or reset_peak()
  size_t cached = 0;           // bytes in free blocks kept for reuse
  size_t reserved = 0;         // in_use + cached: what cudaMalloc has handed us
  uint64_t device_allocs = 0;  // cudaMalloc calls so far
  uint64_t reuses = 0;         // allocations served from the cache
};
MemoryStats memory_stats();
void reset_peak();
void empty_cache();  // cudaFree every cached block
// Waits for all queued GPU work (timing, and surfacing kernel errors); throws an error a
// kernel reported since the last wait (an index out of range: kernels report those without
// a host sync, so they surface here or at the next copy to the host).
void synchronize();
// How many times the host has waited for the GPU so far (copies to the host, synchronize(),
// uploads that ran a whole staging ring ahead): each one drains the GPU's queue of work.
uint64_t host_syncs();
// The one (non-blocking) stream every normgrad kernel runs on, as a cudaStream_t: record
// timing events on it (events on the legacy stream do not order with it).
void* kernel_stream();

// TF32 tensor-core math for float32 matmuls: faster, ~1e-3 relative error. Off by default
// (as in PyTorch), so float32 results match the CPU to float tolerance.
void set_allow_tf32(bool on);
bool allow_tf32();

// Causal attention through the fused kernels (online softmax, O(T) memory per head; head
// sizes up to 128) or through cuBLAS products with a stored T x T probability matrix. On by
// default; NG_CUDA_ATTENTION=gemm at start turns it off. For A/B benchmarks and tests.
void set_fused_attention(bool on);
bool fused_attention();

}  // namespace ng::cuda

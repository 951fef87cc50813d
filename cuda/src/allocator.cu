// Caching allocator. Sizes are rounded up (512 B steps below 1 MiB, 2 MiB steps above),
// and a freed block waits in a free list keyed by its rounded size. Every kernel runs on
// one stream, so a block freed by the host can be handed to the next kernel at once:
// stream order guarantees the previous user's kernels finished with it first.
#include <cuda_runtime.h>

#include <map>
#include <mutex>

#include "allocator.h"
#include "common.cuh"
#include "normgrad/cuda.h"

namespace ng::cuda {
namespace {

struct Pool {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;
  MemoryStats stats;
};

Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: tensors may outlive static destruction
  return *p;
}

size_t round_size(size_t n) {
  n = std::max<size_t>(n, 1);
  if (n < (1u << 20)) return (n + 511) / 512 * 512;
  const size_t step = 2u << 20;
  return (n + step - 1) / step * step;
}

void release_cache(Pool& p) {
  // Blocks in the free list may still be read by kernels queued on the stream (a freed
  // block is handed out in stream order, not after its last reader finished): wait first.
  count_host_sync();
  cudaStreamSynchronize(stream());
  for (auto& [size, ptr] : p.free_blocks) {
    cudaFree(ptr);
    p.stats.cached -= size;
    p.stats.reserved -= size;
  }
  p.free_blocks.clear();
}

}  // namespace

void* cached_malloc(size_t nbytes, size_t* rounded) {
  Pool& p = pool();
  const size_t size = round_size(nbytes);
  std::lock_guard<std::mutex> lock(p.mu);
  void* ptr = nullptr;
  auto it = p.free_blocks.find(size);
  if (it != p.free_blocks.end()) {
    ptr = it->second;
    p.free_blocks.erase(it);
    p.stats.cached -= size;
    p.stats.reuses++;
  } else {
    cudaError_t e = cudaMalloc(&ptr, size);
    if (e == cudaErrorMemoryAllocation) {  // give the cache back and try once more
      cudaGetLastError();
      release_cache(p);
      e = cudaMalloc(&ptr, size);
    }
    if (e != cudaSuccess) {
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      fail("allocate", e == cudaErrorMemoryAllocation ? "CUDA out of memory" : "CUDA error",
           " asking for ", nbytes, " bytes (", cudaGetErrorString(e), "; normgrad holds ",
           p.stats.in_use, " bytes in tensors, device has ", free_b, " of ", total_b,
           " bytes free)");
    }
    p.stats.reserved += size;
    p.stats.device_allocs++;
  }
  p.stats.in_use += size;
  p.stats.peak = std::max(p.stats.peak, p.stats.in_use);
  *rounded = size;
  return ptr;
}

void cached_free(void* ptr, size_t rounded) {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  p.free_blocks.emplace(rounded, ptr);
  p.stats.in_use -= rounded;
  p.stats.cached += rounded;
}

MemoryStats memory_stats() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  return p.stats;
}

void reset_peak() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  p.stats.peak = p.stats.in_use;
}

void empty_cache() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  release_cache(p);
}

}  // namespace ng::cuda

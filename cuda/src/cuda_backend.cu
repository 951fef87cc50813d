// The CUDA backend's memory side: the stream, allocation, host<->device copies, and the
// registration with core's backend registry.
#include <cuda_runtime.h>

#include <array>
#include <cstring>
#include <mutex>

#include "allocator.h"
#include "common.cuh"
#include "cuda_backend.cuh"
#include "device_errors.cuh"
#include "normgrad/cuda.h"

namespace ng::cuda {

void check(cudaError_t e, const char* op) {
  if (e == cudaSuccess) return;
  cudaGetLastError();
  fail(op, "CUDA error: ", cudaGetErrorString(e));
}

cudaStream_t stream() {
  static cudaStream_t s = [] {
    cudaStream_t created = nullptr;
    check(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking), "cuda stream");
    return created;
  }();
  return s;
}

int sm_count() {
  static int n = [] {
    int dev = 0, count = 0;
    check(cudaGetDevice(&dev), "cuda device");
    check(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, dev), "cuda device");
    return count;
  }();
  return n;
}

void synchronize() { wait_for_stream("synchronize"); }
void* kernel_stream() { return (void*)stream(); }

DeviceBuffer::DeviceBuffer(size_t nbytes) : storage(backend(Device::CUDA).allocate(nbytes)) {}

std::shared_ptr<Storage> CudaBackend::allocate(size_t nbytes) {
  auto st = std::make_shared<Storage>();
  st->device = Device::CUDA;
  st->nbytes = nbytes;
  size_t rounded = 0;
  st->data = cached_malloc(nbytes, &rounded);
  st->release = [rounded](void* p) { cached_free(p, rounded); };
  return st;
}

namespace {
// Uploads go through a ring of pinned chunks: the host copies into a chunk and queues the
// DMA from it, so an upload never waits for the GPU (from pageable memory the driver may
// wait for the stream). A chunk is refilled only after the event behind its last copy
// fired, which costs a wait only when uploads run a whole ring ahead of the GPU.
class UploadRing {
 public:
  static constexpr size_t kChunk = 1 << 20;
  static constexpr int kChunks = 8;

  void upload(char* dst, const char* src, size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!chunks_[0]) {
      for (int k = 0; k < kChunks; ++k) {
        check(cudaMallocHost(&chunks_[k], kChunk), "to(cuda): pinned staging");
        check(cudaEventCreateWithFlags(&done_[k], cudaEventDisableTiming), "to(cuda)");
      }
    }
    for (size_t at = 0; at < n; at += kChunk) {
      const size_t len = std::min(kChunk, n - at);
      const int k = next_;
      next_ = (next_ + 1) % kChunks;
      if (used_[k] && cudaEventQuery(done_[k]) == cudaErrorNotReady) {
        count_host_sync();
        check(cudaEventSynchronize(done_[k]), "to(cuda)");
      }
      std::memcpy(chunks_[k], src + at, len);
      check(cudaMemcpyAsync(dst + at, chunks_[k], len, cudaMemcpyHostToDevice, stream()),
            "to(cuda)");
      check(cudaEventRecord(done_[k], stream()), "to(cuda)");
      used_[k] = true;
    }
  }

 private:
  std::mutex mu_;
  std::array<char*, kChunks> chunks_{};
  std::array<cudaEvent_t, kChunks> done_{};
  std::array<bool, kChunks> used_{};
  int next_ = 0;
};
}  // namespace

// The host may reuse (or free) its buffer as soon as the call returns: the data is in a
// pinned chunk by then.
void CudaBackend::copy_from_host(void* dst, const void* src, size_t n) {
  if (n == 0) return;
  static UploadRing* ring = new UploadRing;  // never destroyed: uploads may run at exit
  ring->upload(static_cast<char*>(dst), static_cast<const char*>(src), n);
}

void CudaBackend::copy_to_host(void* dst, const void* src, size_t n) {
  if (n == 0) return;
  check(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, stream()), "to(cpu)");
  wait_for_stream("to(cpu)");
}

namespace {
CudaBackend& instance() {
  static CudaBackend b;
  return b;
}

// Runs when libnormgrad loads; touches no CUDA API, so it is safe without a GPU.
const bool registered = [] {
  register_backend(Device::CUDA, &instance());
  return true;
}();
}  // namespace

}  // namespace ng::cuda

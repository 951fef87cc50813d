// The CUDA backend's memory side: the stream, allocation, host<->device copies, and the
// registration with core's backend registry.
#include <cuda_runtime.h>

#include <cstring>
#include <deque>
#include <mutex>
#include <vector>

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
// Uploads go through a pinned ring buffer: the host copies into the ring and queues the DMA
// from there, so an upload never waits for the GPU (from pageable memory the driver may wait
// for the stream). Each upload takes the next slice of the ring (small ones take a few
// hundred bytes, so a training loop's batches fit thousands of times); an event recorded
// after its copy says when the slice is free again. Bytes are rewritten only after the
// newest copy out of them finished: a wait only when uploads run a whole ring ahead of the
// GPU.
class UploadRing {
 public:
  static constexpr size_t kBytes = size_t(8) << 20;
  static constexpr size_t kAlign = 256;

  void upload(char* dst, const char* src, size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!ring_) check(cudaMallocHost(&ring_, kBytes), "to(cuda): pinned staging");
    for (size_t at = 0; at < n;) {
      const size_t len = std::min(kBytes, n - at);
      if (head_ + len > kBytes) head_ = 0;  // a slice never wraps: start the next lap
      make_room(head_, head_ + len);
      std::memcpy(ring_ + head_, src + at, len);
      check(cudaMemcpyAsync(dst + at, ring_ + head_, len, cudaMemcpyHostToDevice, stream()),
            "to(cuda)");
      cudaEvent_t done = spare_event();
      check(cudaEventRecord(done, stream()), "to(cuda)");
      pending_.push_back({head_, head_ + len, done});
      head_ = (head_ + len + kAlign - 1) / kAlign * kAlign;
      at += len;
    }
  }

 private:
  struct Pending {
    size_t begin, end;
    cudaEvent_t done;
  };

  cudaEvent_t spare_event() {
    if (spare_.empty()) {
      cudaEvent_t e = nullptr;
      check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "to(cuda)");
      return e;
    }
    cudaEvent_t e = spare_.back();
    spare_.pop_back();
    return e;
  }

  // Retires the copies that finished, then waits for the newest one still reading
  // [begin, end). Copies finish in queue order (one stream), so every older one is done too.
  void make_room(size_t begin, size_t end) {
    while (!pending_.empty() && cudaEventQuery(pending_.front().done) == cudaSuccess) retire(1);
    size_t last = 0;
    for (size_t i = 0; i < pending_.size(); ++i)
      if (pending_[i].begin < end && begin < pending_[i].end) last = i + 1;
    if (last == 0) return;
    count_host_sync();
    check(cudaEventSynchronize(pending_[last - 1].done), "to(cuda)");
    retire(last);
  }

  void retire(size_t count) {
    for (size_t i = 0; i < count; ++i) {
      spare_.push_back(pending_.front().done);
      pending_.pop_front();
    }
  }

  std::mutex mu_;
  char* ring_ = nullptr;
  size_t head_ = 0;
  std::deque<Pending> pending_;
  std::vector<cudaEvent_t> spare_;
};
}  // namespace

// The host may reuse (or free) its buffer as soon as the call returns: the data is in a
// pinned ring by then.
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

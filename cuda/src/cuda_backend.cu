// The CUDA backend's memory side: the stream, allocation, host<->device copies, and the
// registration with core's backend registry.
#include <cuda_runtime.h>

#include "allocator.h"
#include "common.cuh"
#include "cuda_backend.cuh"
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

void synchronize() { check(cudaStreamSynchronize(stream()), "synchronize"); }
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

// Host buffers are pageable: the copy is issued on our stream and waited for, so the
// host may reuse (or free) its buffer as soon as the call returns.
void CudaBackend::copy_from_host(void* dst, const void* src, size_t n) {
  if (n == 0) return;
  check(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, stream()), "to(cuda)");
  check(cudaStreamSynchronize(stream()), "to(cuda)");
}

void CudaBackend::copy_to_host(void* dst, const void* src, size_t n) {
  if (n == 0) return;
  check(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, stream()), "to(cpu)");
  check(cudaStreamSynchronize(stream()), "to(cpu)");
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

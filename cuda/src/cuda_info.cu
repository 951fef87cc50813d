// Device discovery: safe to call on machines without a GPU or driver.
#include <cuda_runtime.h>

#include <cstdio>

#include "normgrad/cuda.h"
#include "normgrad/error.h"

namespace ng::cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return 0;
  }
  return n;
}

bool is_available() { return device_count() > 0; }

std::string unavailable_reason() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return cudaGetErrorString(e);
  }
  return n > 0 ? "" : "no CUDA device found";
}

std::string device_description() {
  if (!is_available()) fail("cuda", "no usable GPU: ", unavailable_reason());
  int dev = 0;
  cudaGetDevice(&dev);
  cudaDeviceProp p{};
  cudaGetDeviceProperties(&p, dev);
  char buf[512];
  std::snprintf(buf, sizeof buf, "%s (sm_%d%d, %d SMs, %.1f GiB)", p.name, p.major, p.minor,
                p.multiProcessorCount, p.totalGlobalMem / double(1 << 30));
  return buf;
}

}  // namespace ng::cuda

// The device error slot (device_errors.cuh) and the host's one way of waiting for the GPU.
#include <cuda_runtime.h>

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "common.cuh"
#include "device_errors.cuh"
#include "normgrad/cuda.h"

namespace ng::cuda {
namespace {

std::atomic<uint64_t> g_host_syncs{0};

struct Slot {
  DeviceError* device = nullptr;  // written by kernels
  DeviceError* pinned = nullptr;  // its copy, queued before every wait
};

Slot& slot() {
  static Slot s = [] {
    Slot made;
    check(cudaMalloc(&made.device, sizeof(DeviceError)), "device error slot");
    check(cudaMallocHost(&made.pinned, sizeof(DeviceError)), "device error slot");
    check(cudaMemsetAsync(made.device, 0, sizeof(DeviceError), stream()), "device error slot");
    *made.pinned = DeviceError{};
    return made;
  }();
  return s;
}

std::mutex g_names_mu;
std::vector<std::string>& op_names() {
  static std::vector<std::string> names;
  return names;
}

}  // namespace

int op_id(const char* op) {
  std::lock_guard<std::mutex> lock(g_names_mu);
  auto& names = op_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == op) return (int)i;
  names.emplace_back(op);
  return (int)names.size() - 1;
}

IndexGuard index_guard(const char* op) { return {slot().device, op_id(op)}; }

uint64_t host_syncs() { return g_host_syncs.load(); }
void count_host_sync() { g_host_syncs++; }

void wait_for_stream(const char* why) {
  Slot& s = slot();
  check(cudaMemcpyAsync(s.pinned, s.device, sizeof(DeviceError), cudaMemcpyDeviceToHost, stream()),
        why);
  g_host_syncs++;
  check(cudaStreamSynchronize(stream()), why);
  if (s.pinned->flag == 0) return;
  const DeviceError e = *s.pinned;
  *s.pinned = DeviceError{};
  check(cudaMemsetAsync(s.device, 0, sizeof(DeviceError), stream()), why);
  std::string op;
  {
    std::lock_guard<std::mutex> lock(g_names_mu);
    op = e.op >= 0 && (size_t)e.op < op_names().size() ? op_names()[e.op] : "cuda kernel";
  }
  fail(op.c_str(), "index ", e.value, " (element ", e.position,
       " of the index tensor) is out of range for a dimension of size ", e.size,
       " (found on the GPU; reported at the next wait for the GPU, in ", why, ")");
}

}  // namespace ng::cuda

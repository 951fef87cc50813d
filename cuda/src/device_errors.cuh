// Errors that kernels find (an index out of range), reported without a host sync. The first
// thread to find one records it in a device-memory slot; every wait of the host on the stream
// (wait_for_stream: a copy to the host, synchronize()) first queues a copy of the slot to
// pinned memory, then throws what it holds. The reporting kernel skips the bad element, so
// nothing is touched out of bounds in between. PyTorch reports such errors asynchronously too.
#pragma once

namespace ng::cuda {

struct DeviceError {
  int flag;  // 0 until a kernel reports
  int op;    // op_id() of the op that found it
  long long value, position, size;
};

// The slot kernels report to (a device-visible pointer); allocated on first use.
DeviceError* device_error();
// A small stable id for an op name (a string literal), for kernels to report with.
int op_id(const char* op);
// Waits for every kernel queued so far (counted by host_syncs()), then throws the error a
// kernel reported, if any (and clears the slot). `why` names the waiting op in CUDA errors.
void wait_for_stream(const char* why);

// position: the element of the index tensor (row-major) that holds `value`.
__device__ inline void report_index_error(DeviceError* e, int op, long long value,
                                          long long position, long long size) {
  if (atomicCAS(&e->flag, 0, 1) != 0) return;  // the first report wins
  e->op = op;
  e->value = value;
  e->position = position;
  e->size = size;
}

}  // namespace ng::cuda

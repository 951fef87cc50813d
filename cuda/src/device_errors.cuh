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

// A small stable id for an op name (a string literal), for kernels to report with.
int op_id(const char* op);
// Waits for every kernel queued so far (counted by host_syncs()), then throws the error a
// kernel reported, if any (and clears the slot). `why` names the waiting op in CUDA errors.
void wait_for_stream(const char* why);

// What a kernel checks its indices with: made on the host (index_guard(op)), passed by
// value. ok() is true for 0 <= value < size; otherwise the first failing thread records
// value, position (the element of the index tensor that holds it) and size.
struct IndexGuard {
  DeviceError* slot;
  int op;
  __device__ bool ok(long long value, long long position, long long size) const {
    if (value >= 0 && value < size) return true;
    if (atomicCAS(&slot->flag, 0, 1) == 0) {  // the first report wins
      slot->op = op;
      slot->value = value;
      slot->position = position;
      slot->size = size;
    }
    return false;
  }
};
IndexGuard index_guard(const char* op);  // allocates the slot on first use

}  // namespace ng::cuda

#include "cpu_backend.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>

namespace ng::cpu {

CpuBackend::CpuBackend() {
  // Keep freed blocks in the heap instead of returning them to the OS: on our VMs every
  // first touch of a fresh page costs ~10 us, and tensors of the same sizes come and go
  // every step. (glibc otherwise mmaps/unmaps each block above 128 KiB.)
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

std::shared_ptr<Storage> CpuBackend::allocate(size_t nbytes) {
  auto st = std::make_shared<Storage>();
  st->device = Device::CPU;
  st->nbytes = nbytes;
  const size_t rounded = (std::max<size_t>(nbytes, 1) + 63) / 64 * 64;
  st->data = std::aligned_alloc(64, rounded);
  if (!st->data) fail("allocate", "out of memory asking for ", nbytes, " bytes on cpu");
  st->release = [](void* p) { std::free(p); };
  return st;
}

void CpuBackend::copy_from_host(void* dst, const void* src, size_t n) { std::memcpy(dst, src, n); }
void CpuBackend::copy_to_host(void* dst, const void* src, size_t n) { std::memcpy(dst, src, n); }

Backend& cpu_backend() {
  static CpuBackend b;
  return b;
}

}  // namespace ng::cpu

// Non-temporal ("streaming") stores for outputs far larger than the last-level cache.
// A normal store first reads the destination line into cache (read-for-ownership), so
// writing n bytes costs 2n of memory traffic; streaming stores skip that read. Kernels
// compute a small block into an L1-resident buffer, then stream it out.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace ng::cpu {

// Outputs at least this large bypass the cache (the L3 here is 32 MiB).
constexpr int64_t kStreamBytes = 32ll << 20;
constexpr int64_t kStreamBlock = 1024;  // elements computed per L1 block

inline void stream_copy(void* dst, const void* src, size_t bytes) {
#ifdef __AVX__
  char* d = static_cast<char*>(dst);
  const char* s = static_cast<const char*>(src);
  const size_t head = std::min(bytes, (size_t)((32 - ((uintptr_t)d & 31)) & 31));
  std::memcpy(d, s, head);
  size_t i = head;
  for (; i + 32 <= bytes; i += 32)
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d + i),
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i)));
  std::memcpy(d + i, s + i, bytes - i);
#else
  std::memcpy(dst, src, bytes);
#endif
}

// Makes this thread's streamed stores visible before the kernel returns.
inline void stream_fence() {
#ifdef __AVX__
  _mm_sfence();
#endif
}

}  // namespace ng::cpu

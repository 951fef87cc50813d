// Whether the AVX-512 kernels run (portable code: compiled without AVX-512).
#include <atomic>
#include <cstdlib>

#include "avx512.h"

namespace ng::cpu::avx512 {
bool cpu_has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

namespace {

std::atomic<bool>& flag() {
  static std::atomic<bool> on{cpu_has_avx512() && !std::getenv("NG_NO_AVX512")};
  return on;
}

}  // namespace

bool enabled() { return flag().load(std::memory_order_relaxed); }
void set_enabled(bool on) { flag() = on && cpu_has_avx512(); }

}  // namespace ng::cpu::avx512

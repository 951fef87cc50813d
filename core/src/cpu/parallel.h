// parallel_for over [0, n): OpenMP when the work is large enough to pay for it.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace ng::cpu {

// Elements below which threading costs more than it saves (measured on small tensors).
constexpr int64_t kGrain = 32768;

template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  int max_t = omp_in_parallel() ? 1 : omp_get_max_threads();
  int64_t want = grain > 0 ? (n + grain - 1) / grain : 1;
  int nt = (int)std::min<int64_t>(max_t, want);
  if (nt <= 1) {
    if (n > 0) f(int64_t(0), n);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    int t = omp_get_thread_num(), T = omp_get_num_threads();
    int64_t chunk = (n + T - 1) / T;
    int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b < e) f(b, e);
  }
}

}  // namespace ng::cpu

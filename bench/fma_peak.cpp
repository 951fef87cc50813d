// The FMA peak of this machine in float32: twelve independent chains of fused multiply-adds
// per thread (enough to cover the FMA latency on every x86 core we know), on 1 thread and on
// every core, AVX-512 where the CPU has it, else AVX2. GEMM figures elsewhere are stated as a
// fraction of this measured peak, not of a data-sheet number. One JSON line on stdout.
//   bench/fma_peak
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace {

constexpr long kIters = 20'000'000;  // x 12 chains: ~0.1 s per thread

__attribute__((target("avx512f"))) float chains_avx512(long iters) {
  __m512 acc[12];
  const __m512 b = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps((float)i);
  for (long k = 0; k < iters; ++k)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], b, c);
  alignas(64) float out[16];  // (not _mm512_reduce_add_ps: GCC 12's header warns in it)
  float s = 0;
  for (int i = 0; i < 12; ++i) {
    _mm512_store_ps(out, acc[i]);
    for (float v : out) s += v;
  }
  return s;
}

__attribute__((target("avx2,fma"))) float chains_avx2(long iters) {
  __m256 acc[12];
  const __m256 b = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps((float)i);
  for (long k = 0; k < iters; ++k)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], b, c);
  alignas(32) float out[8];
  float s = 0;
  for (int i = 0; i < 12; ++i) {
    _mm256_store_ps(out, acc[i]);
    for (float v : out) s += v;
  }
  return s;
}

// Best of three runs on `threads` threads, in GFLOP/s (2 flops per lane per FMA).
double peak(int threads, bool avx512) {
  const int lanes = avx512 ? 16 : 8;
  double best = 0;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += avx512 ? chains_avx512(kIters) : chains_avx2(kIters);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (sink == 12345.0f) std::printf(" ");  // keeps the work observable
    best = std::max(best, threads * (double)kIters * 12 * lanes * 2 / s / 1e9);
  }
  return best;
}

}  // namespace

int main() {
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const int cores = omp_get_num_procs();
  std::printf(
      "{\"isa\": \"%s\", \"cores\": %d, \"gflops_1_thread\": %.1f, \"gflops_all_cores\": %.1f}\n",
      avx512 ? "avx512" : "avx2", cores, peak(1, avx512), peak(cores, avx512));
  return 0;
}

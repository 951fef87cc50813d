// Core kernel benchmarks, each next to its hardware reference, with ratios printed at the end:
//   elementwise add / mul / tanh and sum  vs  memcpy of the same bytes (GB/s touched)
//   matmul through normgrad               vs  a direct cblas_sgemm on the same shapes
// Run: build/release/bench/bench_core   (add --benchmark_filter=... to narrow)
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "normgrad/normgrad.h"
#include "rates.h"

using namespace ng;

namespace {

constexpr int64_t kBig = 1 << 24;  // 16M floats = 64 MiB per tensor: far beyond the caches

// Bytes read + written by each op on n floats.
void BM_memcpy(benchmark::State& st) {
  const int64_t n = st.range(0);
  Tensor a = randn({n}), b = empty({n});
  for (auto _ : st) {
    std::memcpy(b.raw_data(), a.raw_data(), n * 4);
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(st.iterations() * n * 8);
}

// The parallel version of memcpy: the fair reference for our 2-thread kernels.
void BM_memcpy_parallel(benchmark::State& st) {
  const int64_t n = st.range(0);
  Tensor a = randn({n}), b = empty({n});
  const char* src = static_cast<const char*>(a.raw_data());
  char* dst = static_cast<char*>(b.raw_data());
  for (auto _ : st) {
#pragma omp parallel
    {
      const int t = omp_get_thread_num(), T = omp_get_num_threads();
      const int64_t chunk = (n * 4 + T - 1) / T, off = t * chunk;
      const int64_t len = std::max<int64_t>(0, std::min<int64_t>(chunk, n * 4 - off));
      std::memcpy(dst + off, src + off, len);
    }
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(st.iterations() * n * 8);
}

void BM_add(benchmark::State& st) {
  const int64_t n = st.range(0);
  Tensor a = randn({n}), b = randn({n});
  for (auto _ : st) benchmark::DoNotOptimize(add(a, b));
  st.SetBytesProcessed(st.iterations() * n * 12);
}

void BM_mul(benchmark::State& st) {
  const int64_t n = st.range(0);
  Tensor a = randn({n}), b = randn({n});
  for (auto _ : st) benchmark::DoNotOptimize(mul(a, b));
  st.SetBytesProcessed(st.iterations() * n * 12);
}

void BM_tanh(benchmark::State& st) {
  const int64_t n = st.range(0);
  Tensor a = randn({n});
  for (auto _ : st) benchmark::DoNotOptimize(tanh(a));
  st.SetBytesProcessed(st.iterations() * n * 8);
}

void BM_sum(benchmark::State& st) {
  const int64_t n = st.range(0);
  Tensor a = randn({n});
  for (auto _ : st) benchmark::DoNotOptimize(sum(a));
  st.SetBytesProcessed(st.iterations() * n * 4);
}

void BM_cblas_sgemm(benchmark::State& st) {
  const int64_t M = st.range(0), K = st.range(1), N = st.range(2);
  Tensor a = randn({M, K}), b = randn({K, N}), c = empty({M, N});
  for (auto _ : st) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a.data<float>(), K,
                b.data<float>(), N, 0.0f, c.data<float>(), N);
    benchmark::ClobberMemory();
  }
  st.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * M * N * K * st.iterations(), benchmark::Counter::kIsRate);
}

void BM_matmul(benchmark::State& st) {
  const int64_t M = st.range(0), K = st.range(1), N = st.range(2);
  Tensor a = randn({M, K}), b = randn({K, N});
  for (auto _ : st) benchmark::DoNotOptimize(matmul(a, b));
  st.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * M * N * K * st.iterations(), benchmark::Counter::kIsRate);
}

// A^T @ B as the backward pass issues it: a transposed view, never copied.
void BM_matmul_transposed(benchmark::State& st) {
  const int64_t M = st.range(0), K = st.range(1), N = st.range(2);
  Tensor at = randn({K, M}), b = randn({K, N});
  for (auto _ : st) benchmark::DoNotOptimize(matmul(at.t(), b));
  st.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * M * N * K * st.iterations(), benchmark::Counter::kIsRate);
}

// A product whose result is denormal (1e-20 * 1e-20 = 1e-40 < FLT_MIN) with denormals kept
// (range 1 = 0) and flushed (the default, 1): what set_flush_denormals buys where they occur.
void BM_mul_denormal(benchmark::State& st) {
  const int64_t n = 1 << 20;
  Tensor a = full({n}, 1e-20);
  set_flush_denormals(st.range(0) != 0);
  for (auto _ : st) benchmark::DoNotOptimize(a * 1e-20);
  set_flush_denormals(true);
  st.SetBytesProcessed(st.iterations() * n * 8);
}
BENCHMARK(BM_mul_denormal)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMicrosecond);

#define ELEMENTWISE(fn) \
  BENCHMARK(fn)->Arg(kBig)->Arg(1 << 20)->UseRealTime()->Unit(benchmark::kMicrosecond)
ELEMENTWISE(BM_memcpy);
ELEMENTWISE(BM_memcpy_parallel);
ELEMENTWISE(BM_add);
ELEMENTWISE(BM_mul);
ELEMENTWISE(BM_tanh);
ELEMENTWISE(BM_sum);

#define GEMM(fn)                 \
  BENCHMARK(fn)                  \
      ->Args({512, 512, 512})    \
      ->Args({1024, 1024, 1024}) \
      ->Args({768, 128, 512})    \
      ->UseRealTime()            \
      ->Unit(benchmark::kMicrosecond)
GEMM(BM_cblas_sgemm);
GEMM(BM_matmul);
GEMM(BM_matmul_transposed);

}  // namespace

int main(int argc, char** argv) {
  ng::select_blas_core(argv);  // first: may re-run the program with OPENBLAS_CORETYPE set
  std::printf("%s\n", thread_config().c_str());
  benchmark::Initialize(&argc, argv);
  RateReporter rep("GFLOP/s");
  benchmark::RunSpecifiedBenchmarks(&rep);
  auto ratio = [&](const std::string& a, const std::string& b) { return rep.ratio(a, b); };
  std::printf("\nRatios (same run):\n");
  for (const char* n : {"1048576", "16777216"}) {
    const std::string sfx = std::string("/") + n + "/real_time";
    for (const char* op : {"BM_add", "BM_mul", "BM_tanh", "BM_sum"})
      std::printf("  %-8s n=%-9s %5.1f%% of parallel memcpy GB/s  (%5.1f%% of 1-thread memcpy)\n",
                  op + 3, n, 100 * ratio(op + sfx, "BM_memcpy_parallel" + sfx),
                  100 * ratio(op + sfx, "BM_memcpy" + sfx));
  }
  for (const char* s : {"/512/512/512", "/1024/1024/1024", "/768/128/512"}) {
    const std::string sfx = std::string(s) + "/real_time";
    std::printf("  matmul %-15s %5.1f%% of direct cblas_sgemm  (A^T@B view: %5.1f%%)\n", s,
                100 * ratio("BM_matmul" + sfx, "BM_cblas_sgemm" + sfx),
                100 * ratio("BM_matmul_transposed" + sfx, "BM_cblas_sgemm" + sfx));
  }
  return 0;
}

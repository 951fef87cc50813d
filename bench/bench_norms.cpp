// Forward + backward of each normalization layer, fused and composed, float32, on
// [4096, 768] and [16384, 256]. Reported as a fraction of memcpy bandwidth for the bytes a
// norm must touch at least: forward reads x and writes y, backward reads x and dy and
// writes dx (5 * N * C * 4 bytes; parameters are negligible).
// Run: build/release/bench/bench_norms
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "normgrad/nn.h"
#include "normgrad/normgrad.h"
#include "rates.h"

using namespace ng;

namespace {

// Every registered kind with a fused CPU kernel, from the registry: a new kind is timed
// without editing this file. The identity ("none") does no work worth timing.
std::vector<std::string> fused_kinds() {
  std::vector<std::string> kinds;
  for (const auto& k : norm_kind_names())
    if (k != "none" && find_norm_kernels(Device::CPU, k)) kinds.push_back(k);
  return kinds;
}
const int64_t kShapes[][2] = {{4096, 768}, {16384, 256}};

// Copies 2.5 * N * C floats: the same 5 * N * C * 4 bytes read + written as the norm.
void BM_memcpy(benchmark::State& st) {
  const int64_t n = st.range(0) * st.range(1) * 5 / 2;
  Tensor a = randn({n}), b = empty({n});
  for (auto _ : st) {
    b.copy_(a);  // our own parallel copy kernel; plain memcpy is single-threaded
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(st.iterations() * n * 8);
}

void BM_norm(benchmark::State& st, const std::string& kind, bool fused) {
  const int64_t N = st.range(0), C = st.range(1);
  auto norm = nn::make_norm(kind, C);
  Tensor x = randn({N, C}).requires_grad_();
  Tensor dy = randn({N, C});
  TensorList wrt{x};
  for (auto& p : norm->parameters()) wrt.push_back(p);
  for (auto _ : st) {
    Tensor y = fused ? (*norm)(x) : norm->forward_composed(x);
    benchmark::DoNotOptimize(autograd::grad({y}, wrt, {dy}));
  }
  st.SetBytesProcessed(st.iterations() * N * C * 4 * 5);
}

}  // namespace

int main(int argc, char** argv) {
  ng::select_blas_core(argv);  // first: may re-run the program with OPENBLAS_CORETYPE set
  std::printf("%s\n", thread_config().c_str());
  for (auto& s : kShapes) {
    benchmark::RegisterBenchmark("memcpy", BM_memcpy)
        ->Args({s[0], s[1]})
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
    for (const std::string& k : fused_kinds())
      for (bool fused : {true, false})
        benchmark::RegisterBenchmark((k + (fused ? "/fused" : "/composed")).c_str(),
                                     [k, fused](benchmark::State& st) { BM_norm(st, k, fused); })
            ->Args({s[0], s[1]})
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
  }
  benchmark::Initialize(&argc, argv);
  RateReporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  std::printf("\nforward+backward, float32 (same run)\n");
  std::printf("%-10s %-12s %12s %16s %18s\n", "norm", "shape", "fused us", "of memcpy BW",
              "fused speed-up");
  for (auto& s : kShapes) {
    char buf[64];  // (snprintf: GCC 12 warns falsely on this chain of string operator+)
    std::snprintf(buf, sizeof buf, "/%lld/%lld/real_time", (long long)s[0], (long long)s[1]);
    const std::string sfx = buf;
    for (const std::string& k : fused_kinds()) {
      const std::string f = k + "/fused" + sfx, c = k + "/composed" + sfx;
      std::printf("%-10s %5lldx%-6lld %12.0f %15.1f%% %17.1fx\n", k.c_str(), (long long)s[0],
                  (long long)s[1], rep.seconds[f] * 1e6, 100 * rep.ratio(f, "memcpy" + sfx),
                  rep.ratio(f, c));
    }
  }
  return 0;
}

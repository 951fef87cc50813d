// Causal self-attention on the GPU: the fused kernels (flash_attention.cu) against the
// cuBLAS path (stored T x T probabilities), forward and forward + backward, on the S, L and
// G training shapes, interleaved A/B/A/B with the median of each. GPU time from CUDA events
// on normgrad's kernel stream around back-to-back calls. TFLOP/s counts the causal half of
// the products a textbook implementation does (forward 2, backward 4 products of
// 2 B H T^2 D / 2 each); the fused backward recomputes the scores (3 more), not counted.
// Peak memory: the allocator's peak over one forward + backward, minus what was live before.
//   bench/bench_attention_cuda [--reps 7]
// Exits 0 with a message when no GPU.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "normgrad/cuda.h"
#include "normgrad/normgrad.h"

using namespace ng;

namespace {

struct Shape4 {
  const char* name;
  int64_t B, T, C, H;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// GPU milliseconds per call of f over `iters` back-to-back calls.
double time_ms(const std::function<void()>& f, int iters) {
  cudaStream_t s = static_cast<cudaStream_t>(cuda::kernel_stream());
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  f();  // warm: allocator, shared-memory attributes
  cuda::synchronize();
  cudaEventRecord(a, s);
  for (int i = 0; i < iters; ++i) f();
  cudaEventRecord(b, s);
  cuda::synchronize();
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return ms / iters;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 7;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--reps") == 0) reps = std::max(1, std::atoi(argv[i + 1]));
  if (!cuda::is_available()) {
    std::printf("bench_attention_cuda: skipped, no usable GPU (%s)\n",
                cuda::unavailable_reason().c_str());
    return 0;
  }
  try {
    std::printf("device: %s\n", cuda::device_description().c_str());
    std::printf("%-3s %-22s %-6s %10s %10s %9s %10s %9s\n", "cfg", "B x T x C, heads", "path",
                "fwd ms", "fwd+bwd ms", "TFLOP/s", "peak MB", "vs gemm");
    const std::vector<Shape4> shapes = {
        {"S", 12, 64, 128, 4}, {"L", 32, 256, 384, 6}, {"G", 8, 1024, 768, 12}};
    for (const Shape4& s : shapes) {
      Generator gen(1);
      const Tensor qkv = (randn({s.B, s.T, 3 * s.C}, {.dtype = DType::F32}, &gen) * 0.5)
                             .to(Device::CUDA)
                             .requires_grad_();
      const Tensor w = randn({s.B, s.T, s.C}, {.dtype = DType::F32}, &gen).to(Device::CUDA);
      auto fwd = [&] {
        NoGradGuard no_grad;
        (void)causal_self_attention(qkv, s.H);
      };
      auto both = [&] { (void)autograd::grad({sum(causal_self_attention(qkv, s.H) * w)}, {qkv}); };
      const int iters = s.T >= 1024 ? 5 : 20;
      std::vector<double> f_ms[2], b_ms[2];
      double peak[2] = {0, 0};
      for (int r = 0; r < reps; ++r)
        for (int path = 0; path < 2; ++path) {  // 0 fused, 1 gemm: interleaved
          cuda::set_fused_attention(path == 0);
          f_ms[path].push_back(time_ms(fwd, iters));
          b_ms[path].push_back(time_ms(both, iters));
          if (r == 0) {
            cuda::synchronize();
            const size_t base = cuda::memory_stats().in_use;
            cuda::reset_peak();
            both();
            cuda::synchronize();
            peak[path] = (cuda::memory_stats().peak - base) / 1e6;
          }
        }
      cuda::set_fused_attention(true);
      const double D = (double)s.C / s.H;
      const double textbook = 6.0 * 2.0 * s.B * s.H * (double)s.T * s.T * D / 2.0;
      const double both_gemm = median(b_ms[1]);
      char dims[64];
      std::snprintf(dims, sizeof dims, "%lld x %lld x %lld, %lld", (long long)s.B, (long long)s.T,
                    (long long)s.C, (long long)s.H);
      for (int path = 0; path < 2; ++path) {
        const double t = median(b_ms[path]);
        std::printf("%-3s %-22s %-6s %10.3f %10.3f %9.2f %10.1f %8.2fx\n", s.name, dims,
                    path == 0 ? "fused" : "gemm", median(f_ms[path]), t, textbook / (t * 1e9),
                    peak[path], both_gemm / t);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_attention_cuda: %s\n", e.what());
    return 1;
  }
  return 0;
}

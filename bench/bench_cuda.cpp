// GPU kernel throughput: the fused norm kernels (forward + backward, the backend calls
// alone) as a fraction of the device's measured copy bandwidth, plus a few elementwise
// ops and the GEMM rate of cuBLAS for scale. Times come from CUDA events around many
// launches (median of repeats). Prints a table; exits 0 with a message when no GPU.
//   bench/bench_cuda [--reps 7]
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "normgrad/backend.h"
#include "normgrad/cuda.h"
#include "normgrad/nn/norm.h"
#include "normgrad/normgrad.h"

using namespace ng;

namespace {

int g_reps = 7;

// Median milliseconds per call of f over `iters` back-to-back launches.
double time_ms(const std::function<void()>& f, int iters) {
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  f();  // warm-up
  cuda::synchronize();
  std::vector<double> ms;
  // the events go on normgrad's own stream, in order with the kernels they time
  const auto s = static_cast<cudaStream_t>(cuda::kernel_stream());
  for (int r = 0; r < g_reps; ++r) {
    cudaEventRecord(a, s);
    for (int i = 0; i < iters; ++i) f();
    cudaEventRecord(b, s);
    cudaEventSynchronize(b);
    float t = 0;
    cudaEventElapsedTime(&t, a, b);
    ms.push_back(t / iters);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// Device-to-device copy bandwidth, counting bytes read plus bytes written.
double copy_gbps(size_t bytes) {
  void *src = nullptr, *dst = nullptr;
  cudaMalloc(&src, bytes);
  cudaMalloc(&dst, bytes);
  cudaMemset(src, 1, bytes);
  const double ms = time_ms([&] { cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice); }, 20);
  cudaFree(src);
  cudaFree(dst);
  return 2.0 * bytes / (ms * 1e-3) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; i += 2)
    if (!std::strcmp(argv[i], "--reps")) g_reps = std::max(1, std::atoi(argv[i + 1]));
  if (!cuda::is_available()) {
    std::printf("bench_cuda: skipped, no usable GPU (%s)\n", cuda::unavailable_reason().c_str());
    return 0;
  }
  std::printf("device: %s\n", cuda::device_description().c_str());
  const double bw = copy_gbps(size_t(1) << 30);
  std::printf("copy bandwidth (cudaMemcpy D2D, 1 GiB, read+write): %.0f GB/s\n\n", bw);

  Backend& be = backend(Device::CUDA);
  const TensorOptions on_gpu{.device = Device::CUDA};
  std::printf("%-10s %-14s %10s %10s %9s\n", "norm", "shape", "fwd+bwd us", "GB/s", "of copy");
  // Every fused kind, through its layer (forward + backward as training runs it).
  std::vector<std::string> kinds;
  for (const auto& name : norm_kind_names())
    if (find_norm_kernels(Device::CUDA, name)) kinds.push_back(name);
  for (const Shape& s : std::vector<Shape>{{16384, 256}, {4096, 768}, {65536, 384}, {8192, 4096}}) {
    const int64_t N = s[0], C = s[1];
    Generator gen(1);
    const Tensor x = randn(s, {}, &gen).to(Device::CUDA).requires_grad_();
    const Tensor g = randn(s, {}, &gen).to(Device::CUDA);
    for (const std::string& kind : kinds) {
      auto layer = nn::make_norm(kind, C);
      layer->to(Device::CUDA);
      const double ms = time_ms([&] { (*layer)(x).backward(g); }, 50);
      const double bytes = 5.0 * N * C * 4;  // fwd: x in, y out; bwd: g, x in, dx out
      const double gbps = bytes / (ms * 1e-3) / 1e9;
      std::printf("%-10s %-14s %10.1f %10.0f %8.0f%%\n", kind.c_str(), shape_str(s).c_str(),
                  ms * 1e3, gbps, 100 * gbps / bw);
    }
  }

  std::printf("\n%-24s %10s %10s %9s\n", "elementwise [64M]", "us", "GB/s", "of copy");
  const int64_t n = int64_t(64) << 20;
  const Tensor a = randn({n}).to(Device::CUDA), c = randn({n}).to(Device::CUDA);
  const Tensor o = empty({n}, on_gpu);
  const std::vector<std::pair<const char*, std::function<void()>>> ew = {
      {"add", [&] { be.binary(BinaryOp::Add, a, c, o); }},
      {"tanh", [&] { be.unary(UnaryOp::Tanh, a, o, 0, 0); }},
      {"gelu", [&] { be.unary(UnaryOp::GeluErf, a, o, 0, 0); }},
  };
  for (auto& [name, f] : ew) {
    const double ms = time_ms(f, 20);
    const double bytes = (std::string(name) == "add" ? 3.0 : 2.0) * n * 4;
    const double gbps = bytes / (ms * 1e-3) / 1e9;
    std::printf("%-24s %10.1f %10.0f %8.0f%%\n", name, ms * 1e3, gbps, 100 * gbps / bw);
  }
  const Tensor ma = randn({4096, 4096}).to(Device::CUDA), mb = randn({4096, 4096}).to(Device::CUDA);
  const Tensor mo = empty({4096, 4096}, on_gpu);
  const double gms = time_ms([&] { be.gemm(ma, mb, mo, false); }, 10);
  std::printf("\ncuBLAS sgemm 4096^3 (fp32, no TF32): %.1f TFLOP/s\n",
              2.0 * 4096 * 4096 * 4096 / (gms * 1e-3) / 1e12);
  return 0;
}

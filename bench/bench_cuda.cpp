// GPU kernel throughput: the fused norm kernels (forward and backward, the backend kernels
// alone, then through the layer and autograd as training runs them) against the device's
// measured copy bandwidth, with the limit each one hits; a few elementwise ops; the GEMM
// rates of cuBLAS in fp32, TF32 and bf16 for scale. GPU times come from CUDA events on
// normgrad's kernel stream around many back-to-back launches (median of repeats); the host's
// time to enqueue the same launches is measured alongside (the launch/host limit).
//   bench/bench_cuda [--reps 5] [--kinds layernorm,rmsnorm,dyt,dyisru]
// Prints tables; exits 0 with a message when no GPU.
//
// Bytes moved: what each kernel must read and write once (forward: x in, y out, row
// statistics, per-channel weight and bias; backward: g and x in, dx out, statistics, and the
// per-chunk partial sums of dweight/dbias written and read back). GB/s = bytes / GPU time;
// "of copy" = that rate / the copy bandwidth, a device-to-device copy counted as bytes read
// plus bytes written (the same way), so 100% means the kernel moves its bytes as fast as a
// plain copy moves memory.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "normgrad/backend.h"
#include "normgrad/cuda.h"
#include "normgrad/nn/norm.h"
#include "normgrad/normgrad.h"

using namespace ng;
using Clock = std::chrono::steady_clock;

namespace {

int g_reps = 5;
int g_sms = 0;

void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  std::fprintf(stderr, "bench_cuda: %s: %s\n", what, cudaGetErrorString(e));
  std::exit(1);
}

struct Timing {
  double gpu_ms = 0;   // median GPU time per call (events around `iters` calls)
  double host_ms = 0;  // median host time per call to enqueue them (no wait inside)
};

// Times `iters` back-to-back calls of f, g_reps times. Everything f launches must go on
// normgrad's kernel stream (a non-blocking stream: work on the legacy default stream, e.g.
// a plain cudaMemcpy, does not order with events recorded there).
Timing time_calls(const std::function<void()>& f, int iters) {
  cudaEvent_t a, b;
  check(cudaEventCreate(&a), "event");
  check(cudaEventCreate(&b), "event");
  const auto s = static_cast<cudaStream_t>(cuda::kernel_stream());
  f();  // warm-up
  cuda::synchronize();
  std::vector<double> gpu, host;
  for (int r = 0; r < g_reps; ++r) {
    check(cudaEventRecord(a, s), "event record");
    const auto t0 = Clock::now();
    for (int i = 0; i < iters; ++i) f();
    host.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / iters);
    check(cudaEventRecord(b, s), "event record");
    check(cudaEventSynchronize(b), "event sync");
    float t = 0;
    check(cudaEventElapsedTime(&t, a, b), "event time");
    gpu.push_back(t / iters);
  }
  cuda::synchronize();
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(gpu.begin(), gpu.end());
  std::sort(host.begin(), host.end());
  return {gpu[gpu.size() / 2], host[host.size() / 2]};
}

// Device-to-device copy bandwidth, counting bytes read plus bytes written. The copies are
// cudaMemcpyAsync on the kernel stream (the events' stream); the event time is checked
// against the host's wall clock around the same copies plus a final wait.
double copy_gbps(size_t bytes) {
  void *src = nullptr, *dst = nullptr;
  check(cudaMalloc(&src, bytes), "cudaMalloc");
  check(cudaMalloc(&dst, bytes), "cudaMalloc");
  const auto s = static_cast<cudaStream_t>(cuda::kernel_stream());
  check(cudaMemsetAsync(src, 1, bytes, s), "memset");
  const int iters = 20;
  auto copy = [&] { check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s), "copy"); };
  const Timing t = time_calls(copy, iters);
  const auto t0 = Clock::now();
  for (int i = 0; i < iters; ++i) copy();
  check(cudaStreamSynchronize(s), "stream sync");
  const double wall_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / iters;
  check(cudaFree(src), "cudaFree");
  check(cudaFree(dst), "cudaFree");
  const double gbps = 2.0 * bytes / (t.gpu_ms * 1e-3) / 1e9;
  const double wall_gbps = 2.0 * bytes / (wall_ms * 1e-3) / 1e9;
  std::printf(
      "copy bandwidth (cudaMemcpyAsync D2D, %zu MiB, read+write): %.0f GB/s by events, %.0f GB/s "
      "by the host's clock%s\n",
      bytes >> 20, gbps, wall_gbps,
      std::abs(gbps / wall_gbps - 1) > 0.2 ? "  ** the two disagree by over 20%: suspect **" : "");
  return gbps;
}

// Which limit a kernel hits, from what was measured: the host (it enqueues no faster than the
// GPU runs), HBM bandwidth (at least 70% of the copy rate), the grid (under 2 blocks per SM:
// too few warps in flight to keep HBM busy), else the kernel's own latency / instructions
// (a full grid and still under 70% of copy: dependent loads, extra passes, transcendentals).
std::string limit(const Timing& t, double pct, int64_t blocks) {
  if (t.host_ms >= 0.9 * t.gpu_ms) return "host (enqueue >= GPU time)";
  if (pct >= 70) return "HBM bandwidth";
  if (blocks < 2 * g_sms) {
    std::ostringstream o;
    o << "grid (" << blocks << " blocks, " << g_sms << " SMs)";
    return o.str();
  }
  return "latency/instructions";
}

struct Shape2 {
  int64_t N, C;
  const char* what;
};

// The fused kernels of a kind, found through the registry: one forward + backward through
// the layer runs with recording wrappers registered in place of the kernels, which keep the
// two NormCalls (tensors, consts, scalars, statistics, the gradients wanted) exactly as the
// layer makes them; the kind's own kernels are registered back and timed on those calls.
NormKernels g_orig;
NormCall g_fwd, g_bwd;
bool g_have_fwd = false, g_have_bwd = false;
void record_forward(const NormCall& c) {
  g_fwd = c;
  g_have_fwd = true;
  g_orig.forward(c);
}
void record_backward(const NormCall& c) {
  g_bwd = c;
  g_have_bwd = true;
  g_orig.backward(c);
}

void bench_kind(const std::string& kind, const Shape2& sh, const Tensor& x, const Tensor& g,
                double bw) {
  const int64_t N = sh.N, C = sh.C;
  const NormKernels* k = find_norm_kernels(Device::CUDA, kind);
  if (!k) {
    std::printf("%-10s no fused CUDA kernels\n", kind.c_str());
    return;
  }
  g_orig = *k;
  auto layer = nn::make_norm(kind, C);
  layer->to(Device::CUDA);
  // x needs a gradient, as the residual stream does; autograd::grad leaves no .grad behind
  const Tensor xl = x.detach().requires_grad_();
  TensorList wrt{xl};
  for (const Tensor& p : layer->parameters()) wrt.push_back(p);
  g_have_fwd = g_have_bwd = false;
  register_norm_kernels(Device::CUDA, kind, {&record_forward, &record_backward});
  try {
    autograd::grad({(*layer)(xl)}, wrt, {g}, false, std::nullopt, true);
  } catch (...) {
    register_norm_kernels(Device::CUDA, kind, g_orig);
    throw;
  }
  register_norm_kernels(Device::CUDA, kind, g_orig);
  if (!g_have_fwd || !g_have_bwd) {
    std::printf("%-10s the layer did not call its fused kernels\n", kind.c_str());
    return;
  }
  const NormCall fc = g_fwd, bc = g_bwd;
  g_fwd = g_bwd = NormCall{};
  const int64_t stats = fc.stats.defined() ? fc.stats.numel() / N : 0;
  const int affine_f = int(fc.w.defined()) + int(fc.b.defined());
  const int partial = int(bc.dw.defined()) + int(bc.db.defined());
  const int64_t chunks = (N + 31) / 32;  // the backward's rows per block (norm_rows.cuh)
  const double f_bytes = 4.0 * (2.0 * N * C + N * stats + affine_f * C);
  const double b_bytes =
      4.0 * (3.0 * N * C + N * stats + C * bc.w.defined() + (2.0 * chunks + 1) * partial * C);
  const int iters = N * C >= (int64_t(1) << 22) ? 20 : 100;
  const Timing tf = time_calls([&] { g_orig.forward(fc); }, iters);
  const Timing tb = time_calls([&] { g_orig.backward(bc); }, iters);
  const double fp = 100 * f_bytes / (tf.gpu_ms * 1e-3) / 1e9 / bw;
  const double bp = 100 * b_bytes / (tb.gpu_ms * 1e-3) / 1e9 / bw;
  const double gbps = (f_bytes + b_bytes) / ((tf.gpu_ms + tb.gpu_ms) * 1e-3) / 1e9;
  // the same through the layer and autograd: what a training step pays
  const Timing tl = time_calls(
      [&] { autograd::grad({(*layer)(xl)}, wrt, {g}, false, std::nullopt, true); }, iters);

  std::ostringstream shape;
  shape << "[" << N << ", " << C << "]";
  std::printf(
      "%-10s %-14s %-5s %8.1f %5.0f%% %8.1f %5.0f%% %7.0f %5.0f%%  %-26s %-26s %8.1f %8.1f\n",
      kind.c_str(), shape.str().c_str(), sh.what, tf.gpu_ms * 1e3, fp, tb.gpu_ms * 1e3, bp, gbps,
      100 * gbps / bw, limit(tf, fp, (N + 7) / 8).c_str(), limit(tb, bp, chunks).c_str(),
      tl.gpu_ms * 1e3, tl.host_ms * 1e3);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> kinds = {"layernorm", "rmsnorm", "dyt", "dyisru"};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--reps")) g_reps = std::max(1, std::atoi(argv[i + 1]));
    if (!std::strcmp(argv[i], "--kinds")) {
      kinds.clear();
      std::stringstream ss(argv[i + 1]);
      for (std::string k; std::getline(ss, k, ',');) kinds.push_back(k);
    }
  }
  if (!cuda::is_available()) {
    std::printf("bench_cuda: skipped, no usable GPU (%s)\n", cuda::unavailable_reason().c_str());
    return 0;
  }
  std::printf("device: %s\n", cuda::device_description().c_str());
  int dev = 0;
  check(cudaGetDevice(&dev), "device");
  check(cudaDeviceGetAttribute(&g_sms, cudaDevAttrMultiProcessorCount, dev), "SM count");
  const double bw = copy_gbps(size_t(1) << 30);

  std::printf(
      "\nfused norm kernels, float32. sweep: N x C = 16M elements (64 MB per tensor, past L2) for "
      "C = 256..4096;\ntrain: the rows of one step's norm call in configs S, L and G (batch x "
      "block, n_embd).\nfwd/bwd: the backend kernels alone (GPU us, %% of copy); fwd+bwd GB/s; "
      "limit: what bounds each kernel;\nlayer: forward + backward through the layer and autograd "
      "(GPU us per call, host us to enqueue one).\n\n");
  std::printf("%-10s %-14s %-5s %8s %6s %8s %6s %7s %6s  %-26s %-26s %8s %8s\n", "norm", "shape",
              "set", "fwd us", "copy", "bwd us", "copy", "GB/s", "copy", "fwd limit", "bwd limit",
              "layer us", "host us");
  std::vector<Shape2> shapes;
  for (int64_t C : {256, 512, 768, 1024, 2048, 4096})
    shapes.push_back({(int64_t(1) << 24) / C, C, "sweep"});
  shapes.push_back({12 * 64, 128, "S"});
  shapes.push_back({32 * 256, 384, "L"});
  shapes.push_back({8 * 1024, 768, "G"});
  for (const Shape2& sh : shapes) {
    Generator gen(1);
    const Tensor x = randn({sh.N, sh.C}, {}, &gen).to(Device::CUDA);
    const Tensor g = randn({sh.N, sh.C}, {}, &gen).to(Device::CUDA);
    for (const std::string& kind : kinds) {
      try {
        bench_kind(kind, sh, x, g, bw);
      } catch (const std::exception& e) {
        std::printf("%-10s failed: %s\n", kind.c_str(), e.what());
      }
    }
  }

  std::printf(
      "limits: HBM bandwidth = at least 70%% of copy; grid = under 2 blocks per SM (too few "
      "warps in flight to keep HBM busy);\nhost = enqueueing takes as long as the GPU runs "
      "(launch-bound); latency/instructions = a full grid and still under 70%% of copy\n(dependent "
      "loads, a second pass over the row, transcendental math).\n");

  Backend& be = backend(Device::CUDA);
  const TensorOptions on_gpu{.device = Device::CUDA};
  std::printf("\n%-24s %10s %10s %9s\n", "elementwise [64M]", "us", "GB/s", "of copy");
  const int64_t n = int64_t(64) << 20;
  const Tensor a = randn({n}).to(Device::CUDA), c = randn({n}).to(Device::CUDA);
  const Tensor o = empty({n}, on_gpu);
  const std::vector<std::pair<const char*, std::function<void()>>> ew = {
      {"copy (normgrad kernel)", [&] { be.copy(a, o); }},
      {"add", [&] { be.binary(BinaryOp::Add, a, c, o); }},
      {"tanh", [&] { be.unary(UnaryOp::Tanh, a, o, 0, 0); }},
      {"gelu", [&] { be.unary(UnaryOp::GeluErf, a, o, 0, 0); }},
  };
  for (auto& [name, f] : ew) {
    const double ms = time_calls(f, 20).gpu_ms;
    const double bytes = (std::string(name) == "add" ? 3.0 : 2.0) * n * 4;
    const double gbps = bytes / (ms * 1e-3) / 1e9;
    std::printf("%-24s %10.1f %10.0f %8.0f%%\n", name, ms * 1e3, gbps, 100 * gbps / bw);
  }
  const Tensor ma = randn({4096, 4096}).to(Device::CUDA), mb = randn({4096, 4096}).to(Device::CUDA);
  const Tensor mo = empty({4096, 4096}, on_gpu);
  auto gemm_rate = [&](const char* what) {
    const double gms = time_calls([&] { be.gemm(ma, mb, mo, false); }, 10).gpu_ms;
    std::printf("cuBLAS 4096^3 %-44s %6.1f TFLOP/s\n", what,
                2.0 * 4096 * 4096 * 4096 / (gms * 1e-3) / 1e12);
  };
  std::printf("\n");
  gemm_rate("fp32 (sgemm, no TF32)");
  {
    const MatmulPrecisionScope tf32(MatmulPrecision::TF32);
    gemm_rate("tf32 (float32 tensors, TF32 tensor cores)");
  }
  {
    const MatmulPrecisionScope bf16(MatmulPrecision::BF16);
    gemm_rate("bf16 (operands rounded on the GPU, fp32 accum)");
  }
  return 0;
}

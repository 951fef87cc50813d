#include "normgrad/train/speed.h"

#include <chrono>
#include <map>
#include <mutex>
#include <tuple>

#include "normgrad/backend.h"
#include "normgrad/normgrad.h"
#include "normgrad/precision.h"
#include "normgrad/threading.h"

namespace ngcli {
using namespace ng;

double train_flops_per_token(int64_t params, int64_t n_layer, int64_t n_embd, int64_t block_size) {
  return 6.0 * (double)params + 12.0 * (double)n_layer * (double)n_embd * (double)block_size;
}

double measured_peak_flops(Device dev) {
  static std::mutex mu;
  static std::map<std::tuple<Device, int, MatmulPrecision>, double> cache;
  const auto key = std::make_tuple(dev, num_threads(), matmul_precision());
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  NoGradGuard no_grad;
  // Large enough to reach the BLAS's steady state, small enough to cost ~0.1 s on 2 cores.
  const int64_t n = dev == Device::CPU ? 1024 : 4096;
  Generator g(7);
  const Tensor a = randn({n, n}, {}, &g).to(dev), b = randn({n, n}, {}, &g).to(dev);
  // One output for every product: a fresh 4 MiB result per product would pay the VM's first
  // touch of its pages (~10 us per 4 KiB page here, a third of a 1-thread product), which
  // lowered the measured peak and let MFU pass 100%. Reading one value back waits for a GPU
  // to finish the product; on the CPU it is free.
  const Tensor c = zeros({n, n}).to(dev);
  const auto timed = [&] {
    const auto t0 = std::chrono::steady_clock::now();
    backend(dev).gemm(a, b, c, /*accumulate=*/false);
    (void)c.narrow(0, 0, 1).narrow(1, 0, 1).item();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  timed();  // warm-up: thread pool, BLAS buffers, GPU handles
  double best = timed();
  for (int i = 0; i < 3; ++i) best = std::min(best, timed());
  const double peak = 2.0 * (double)n * (double)n * (double)n / best;
  cache[key] = peak;
  return peak;
}

}  // namespace ngcli

// The fused GPU attention kernels (cuda/src/flash_kernels.cuh), the exact source, run on the
// CPU: each GPU block is 256 fibers (ucontext) on one OS thread, __syncthreads a switch back
// to a scheduler that resumes every fiber once all have arrived (in a shuffled order each
// round, so no kernel can lean on one thread running before another), a warp shuffle an
// exchange through a slot array between two barriers, shared memory a buffer of NaN bytes,
// and every output starts as NaN. A barrier that some threads skip while others wait fails
// the test. Values and gradients must equal the float64 specification
// (composed::causal_self_attention) to the GPU parity tests' tolerances, for every kernel
// instantiation (head sizes up to 16, 32, 64, 128), ragged tiles, float and double, large
// scores whose row maximum sits in a late key tile. It
// checks the thread map, the shared-memory layout, padding, shuffles and barriers -- what
// the tile replay (test_flash_plan.cpp) cannot -- on any machine; it does not model warp
// scheduling or the GPU's memory model, which the GPU run's racecheck covers.
// Fibers, not OS threads: 256 threads meeting at a barrier cost the kernel (and ctest -j's
// other tests) more in context switches than the kernels' arithmetic (34.7 s wall, 18 CPU-s
// mostly system time with std::thread + std::barrier on the 2-core CI machine).
#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "helpers.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define NG_ASAN_FIBERS 1
#endif

// ---- the CUDA names the kernels use, on the host ----
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__
#define __launch_bounds__(x)
#define NG_FLASH_SHARED_MEMORY(name) unsigned char* name = emu::smem

namespace emu {
struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};
// One OS thread runs every fiber, so these are plain globals; the scheduler sets threadIdx
// before it resumes a fiber.
inline Dim3 threadIdx, blockIdx, gridDim, blockDim;
inline unsigned char* smem;
inline double* slots;

// n fibers that run body(t), t in [0, n), up to each barrier() in turn. Stacks are kept
// between runs (a fresh page costs ~10 us on this VM).
class Fibers {
 public:
  void run(unsigned n, std::function<void(unsigned)> body) {
    constexpr size_t kStackBytes = 256 * 1024;
    while (fibers_.size() < n)
      fibers_.push_back({{}, std::make_unique<char[]>(kStackBytes), State::done});
    body_ = std::move(body);
    for (unsigned t = 0; t < n; ++t) {
      Fiber& f = fibers_[t];
      getcontext(&f.context);
      f.context.uc_stack = {f.stack.get(), 0, kStackBytes};
      f.context.uc_link = &scheduler_;
      makecontext(&f.context, &Fibers::entry, 0);
      f.state = State::ready;
    }
    std::vector<unsigned> order(n);
    std::iota(order.begin(), order.end(), 0u);
    for (;;) {
      std::shuffle(order.begin(), order.end(), rng_);
      for (unsigned t : order) resume(t, kStackBytes);
      const auto waiting =
          (unsigned)std::count_if(fibers_.begin(), fibers_.begin() + n,
                                  [](const Fiber& f) { return f.state == State::at_barrier; });
      if (waiting == 0) return;  // every thread returned
      if (waiting != n)
        throw std::logic_error(
            "flash emulation: divergent __syncthreads: " + std::to_string(waiting) + " of " +
            std::to_string(n) + " threads wait at a barrier that the others never reach");
      for (unsigned t = 0; t < n; ++t) fibers_[t].state = State::ready;
    }
  }

  // __syncthreads from inside a fiber: back to the scheduler until every thread arrived.
  void barrier() {
    Fiber& f = fibers_[running_];
    f.state = State::at_barrier;
    switch_out(&f.context, false);
  }

 private:
  enum class State { ready, at_barrier, done };
  struct Fiber {
    ucontext_t context;
    std::unique_ptr<char[]> stack;
    State state;
  };

  void resume(unsigned t, size_t stack_bytes) {
    running_ = t;
    threadIdx = {t, 0, 0};
#ifdef NG_ASAN_FIBERS
    void* fake_stack = nullptr;
    __sanitizer_start_switch_fiber(&fake_stack, fibers_[t].stack.get(), stack_bytes);
    swapcontext(&scheduler_, &fibers_[t].context);
    __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#else
    swapcontext(&scheduler_, &fibers_[t].context);
#endif
  }
  void switch_out(ucontext_t* from, bool exiting) {
#ifdef NG_ASAN_FIBERS
    void* fake_stack = nullptr;
    __sanitizer_start_switch_fiber(exiting ? nullptr : &fake_stack, scheduler_bottom_,
                                   scheduler_size_);
    if (exiting) return;  // entry() returns; uc_link resumes the scheduler
    swapcontext(from, &scheduler_);
    __sanitizer_finish_switch_fiber(fake_stack, &scheduler_bottom_, &scheduler_size_);
#else
    if (!exiting) swapcontext(from, &scheduler_);
#endif
  }
  static void entry();

  std::vector<Fiber> fibers_;
  std::function<void(unsigned)> body_;
  ucontext_t scheduler_{};
  unsigned running_ = 0;
  std::mt19937 rng_{20261205};
#ifdef NG_ASAN_FIBERS
  const void* scheduler_bottom_ = nullptr;
  size_t scheduler_size_ = 0;
#endif
  friend Fibers& fibers();
};

inline Fibers& fibers() {
  static Fibers instance;
  return instance;
}

inline void Fibers::entry() {
  Fibers& self = fibers();
#ifdef NG_ASAN_FIBERS
  __sanitizer_finish_switch_fiber(nullptr, &self.scheduler_bottom_, &self.scheduler_size_);
#endif
  const unsigned t = self.running_;
  self.body_(t);
  self.fibers_[t].state = State::done;
  self.switch_out(nullptr, true);
}
}  // namespace emu
using emu::blockDim;
using emu::blockIdx;
using emu::gridDim;
using emu::threadIdx;

inline void __syncthreads() { emu::fibers().barrier(); }
template <class T>
T __shfl_xor_sync(unsigned, T v, int lane_mask) {
  emu::slots[threadIdx.x] = (double)v;
  __syncthreads();
  const T other = (T)emu::slots[threadIdx.x ^ lane_mask];
  __syncthreads();
  return other;
}
namespace ng::cuda {
template <class T>
T d_exp(T x) {
  return std::exp(x);
}
template <class T>
T d_log(T x) {
  return std::log(x);
}
}  // namespace ng::cuda

#include "../cuda/src/flash_kernels.cuh"

using namespace ngt;
namespace fl = ng::cuda::flash;

namespace {

// Runs f once per block of `grid`, `threads` fibers per block.
template <class F>
void launch(emu::Dim3 grid, unsigned threads, size_t shared_bytes, F f) {
  std::vector<unsigned char> shared;
  std::vector<double> slots(threads);
  for (unsigned by = 0; by < grid.y; ++by)
    for (unsigned bx = 0; bx < grid.x; ++bx) {
      shared.assign(shared_bytes ? shared_bytes : 1, 0xFF);  // NaN bytes
      emu::blockIdx = {bx, by, 0};
      emu::gridDim = grid;
      emu::blockDim = {threads, 1, 1};
      emu::smem = shared.data();
      emu::slots = slots.data();
      emu::fibers().run(threads, [&](unsigned) { f(); });
    }
}

struct Outputs {
  std::vector<double> y, lse, dqkv;
};

// The four kernels as flash_attention.cu launches them, on qkv and dy given in float64.
template <class T, int DK>
Outputs run_kernels(const std::vector<double>& qkv64, const std::vector<double>& dy64, int64_t B,
                    int64_t Tn, int64_t C, int64_t H) {
  constexpr int RM = fl::rows_per_thread<T>(), BR = fl::kSide * RM;
  const std::vector<T> x(qkv64.begin(), qkv64.end()), dy(dy64.begin(), dy64.end());
  const T nan = std::numeric_limits<T>::quiet_NaN();
  std::vector<T> y(B * Tn * C, nan), lse(B * H * Tn, nan), dv(B * H * Tn, nan),
      dqkv(B * Tn * 3 * C, nan);
  const fl::Geo g{B, Tn, C, H, C / H};
  const T scale = T(1.0 / std::sqrt((double)(C / H)));
  const emu::Dim3 grid{(unsigned)(B * H), (unsigned)fl::tiles_for(Tn, BR), 1};
  launch(grid, fl::kThreads, fl::forward_elems<RM, DK>() * sizeof(T),
         [&] { fl::forward_kernel<T, RM, DK>(g, scale, x.data(), y.data(), lse.data()); });
  launch({1, 1, 1}, 1, 0, [&] {  // one thread walks every row (a grid-stride loop)
    fl::rowdot_kernel<T>(g, dy.data(), y.data(), dv.data());
  });
  const size_t bytes = fl::backward_elems<RM, DK>() * sizeof(T);
  launch(grid, fl::kThreads, bytes, [&] {
    fl::dkv_kernel<T, RM, DK>(g, scale, x.data(), dy.data(), lse.data(), dv.data(), dqkv.data());
  });
  launch(grid, fl::kThreads, bytes, [&] {
    fl::dq_kernel<T, RM, DK>(g, scale, x.data(), dy.data(), lse.data(), dv.data(), dqkv.data());
  });
  return {{y.begin(), y.end()}, {lse.begin(), lse.end()}, {dqkv.begin(), dqkv.end()}};
}

template <class T>
Outputs run_any(const std::vector<double>& q, const std::vector<double>& dy, int64_t B, int64_t Tn,
                int64_t C, int64_t H) {
  switch (fl::column_chunks(C / H)) {
    case 1:
      return run_kernels<T, 1>(q, dy, B, Tn, C, H);
    case 2:
      return run_kernels<T, 2>(q, dy, B, Tn, C, H);
    case 4:
      return run_kernels<T, 4>(q, dy, B, Tn, C, H);
    default:
      return run_kernels<T, 8>(q, dy, B, Tn, C, H);
  }
}

// The worst |got - want| / (atol + rtol |want|); a NaN (an element never written) is infinite.
double worst(const std::vector<double>& got, const std::vector<double>& want, double rtol,
             double atol) {
  double w = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(got[i])) return INFINITY;
    w = std::max(w, std::fabs(got[i] - want[i]) / (atol + rtol * std::fabs(want[i])));
  }
  return w;
}

struct Case {
  int64_t B, T, C, H;
  double amp;  // inputs uniform in [-amp, amp): large amp gives large, peaked scores
};

template <class T>
void check_case(const Case& c) {
  const bool f32 = std::is_same_v<T, float>;
  INFO((f32 ? "float32" : "float64") << " B " << c.B << " T " << c.T << " C " << c.C << " H " << c.H
                                     << " (head size " << c.C / c.H << ") amp " << c.amp);
  const Tensor qkv = input({c.B, c.T, 3 * c.C}, 1000 + c.T + c.C, -c.amp, c.amp);
  const Tensor dy = input({c.B, c.T, c.C}, 2000 + c.T).detach();
  // the kernels see the inputs rounded to T; the reference gets the same rounded values
  const Tensor q_in =
      qkv.detach().to(f32 ? DType::F32 : DType::F64).to(DType::F64).requires_grad_();
  const Tensor dy_in = dy.to(f32 ? DType::F32 : DType::F64).to(DType::F64);
  const Tensor y = composed::causal_self_attention(q_in, c.H);
  const Tensor g = autograd::grad({sum(y * dy_in)}, {q_in})[0];
  const auto x = q_in.to_vector();
  const int64_t D = c.C / c.H;
  std::vector<double> lse(c.B * c.H * c.T);
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.H; ++h)
      for (int64_t i = 0; i < c.T; ++i) {
        std::vector<double> s(i + 1);
        double m = -INFINITY, z = 0;
        for (int64_t j = 0; j <= i; ++j) {
          for (int64_t d = 0; d < D; ++d)
            s[j] += x[(b * c.T + i) * 3 * c.C + h * D + d] *
                    x[(b * c.T + j) * 3 * c.C + c.C + h * D + d];
          s[j] /= std::sqrt((double)D);
          m = std::max(m, s[j]);
        }
        for (double v : s) z += std::exp(v - m);
        lse[(b * c.H + h) * c.T + i] = m + std::log(z);
      }
  const Outputs o = run_any<T>(x, dy_in.to_vector(), c.B, c.T, c.C, c.H);
  const double rtol = f32 ? 1e-4 : 1e-10, atol = f32 ? 1e-5 : 1e-12;
  CHECK(worst(o.y, y.to_vector(), rtol, atol) <= 1);
  CHECK(worst(o.lse, lse, rtol, atol) <= 1);
  CHECK(worst(o.dqkv, g.to_vector(), rtol, atol) <= 1);
}

}  // namespace

TEST_SUITE("cuda") {
  TEST_CASE("fused attention kernels, emulated on the CPU, equal the float64 specification") {
    // head sizes 2 (DK 1), 17 and 32 (DK 2), 64 (DK 4), 100 (DK 8, padded); T = 1, one
    // ragged tile, several tiles with ragged ends, exact tile multiples
    const std::vector<Case> cases = {{2, 7, 6, 3, 2},   {1, 1, 3, 3, 2},   {1, 37, 17, 1, 2},
                                     {2, 65, 64, 2, 2}, {1, 64, 64, 1, 2}, {1, 70, 100, 1, 2},
                                     {1, 33, 64, 2, 2}};
    for (const Case& c : cases) {
      check_case<float>(c);
      check_case<double>(c);
    }
  }

  TEST_CASE("fused attention kernels, emulated: large scores, the maximum in a late key tile") {
    // amp 4 makes scores of tens: a kernel that skipped the running-max rescale would
    // overflow or lose the early tiles. T = 150 spans three float tiles and five double ones.
    check_case<double>({1, 150, 32, 2, 4});
    check_case<float>({1, 150, 32, 2, 2.5});
  }
}

TEST_SUITE("cuda") {
  TEST_CASE(
      "flash emulation: a barrier that some threads skip fails, every thread sees each barrier") {
    // The harness itself: what the kernels' checks above rely on.
    std::vector<int> before(8, 0), seen(8, -1);
    launch({1, 1, 1}, 8, 0, [&] {
      before[threadIdx.x] = 1;
      __syncthreads();
      int sum = 0;  // every thread's write before the barrier is visible after it
      for (int v : before) sum += v;
      seen[threadIdx.x] = sum;
    });
    CHECK(seen == std::vector<int>(8, 8));
    CHECK_THROWS_WITH_AS(launch({1, 1, 1}, 4, 0,
                                [&] {
                                  if (threadIdx.x != 2) __syncthreads();
                                }),
                         doctest::Contains("divergent __syncthreads: 3 of 4 threads"),
                         std::logic_error);
  }
}

// The fused GPU attention kernels (cuda/src/flash_kernels.cuh), the exact source, run on the
// CPU: each GPU block is 256 std::threads, __syncthreads a std::barrier, a warp shuffle an
// exchange through a slot array between two barriers, shared memory a buffer of NaN bytes,
// and every output starts as NaN. Values and gradients must equal the float64 specification
// (composed::causal_self_attention) to the GPU parity tests' tolerances, for every kernel
// instantiation (head sizes up to 16, 32, 64, 128), ragged tiles, float and double, large
// scores whose row maximum sits in a late key tile. It
// checks the thread map, the shared-memory layout, padding, shuffles and barriers -- what
// the tile replay (test_flash_plan.cpp) cannot -- on any machine; it does not model warp
// scheduling or the GPU's memory model, which the GPU run's racecheck covers.
#include <barrier>
#include <cmath>
#include <cstdint>
#include <limits>
#include <thread>
#include <vector>

#include "helpers.h"

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
thread_local Dim3 threadIdx, blockIdx, gridDim, blockDim;
thread_local unsigned char* smem;
thread_local std::barrier<>* bar;
thread_local double* slots;
}  // namespace emu
using emu::blockDim;
using emu::blockIdx;
using emu::gridDim;
using emu::threadIdx;

inline void __syncthreads() { emu::bar->arrive_and_wait(); }
template <class T>
T __shfl_xor_sync(unsigned, T v, int lane_mask) {
  emu::slots[threadIdx.x] = (double)v;
  emu::bar->arrive_and_wait();
  const T other = (T)emu::slots[threadIdx.x ^ lane_mask];
  emu::bar->arrive_and_wait();
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

// Runs f once per block of `grid`, `threads` host threads per block.
template <class F>
void launch(emu::Dim3 grid, unsigned threads, size_t shared_bytes, F f) {
  for (unsigned by = 0; by < grid.y; ++by)
    for (unsigned bx = 0; bx < grid.x; ++bx) {
      std::vector<unsigned char> shared(shared_bytes ? shared_bytes : 1, 0xFF);  // NaN bytes
      std::barrier<> barrier(threads);
      std::vector<double> slots(threads);
      std::vector<std::thread> pool;
      for (unsigned t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
          emu::threadIdx = {t, 0, 0};
          emu::blockIdx = {bx, by, 0};
          emu::gridDim = grid;
          emu::blockDim = {threads, 1, 1};
          emu::smem = shared.data();
          emu::bar = &barrier;
          emu::slots = slots.data();
          f();
        });
      for (auto& th : pool) th.join();
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

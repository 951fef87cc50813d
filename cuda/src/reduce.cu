// Reductions and softmax.
//
// A reduction maps each output (the kept dims) to a set of R inputs (the reduced dims),
// both walked through OffsetCalc, so any strided view works without a copy. Small R: one
// warp per output; large R: one block per output, and for few outputs with huge R the
// work is split into chunks whose partial results a second kernel adds in chunk order.
// Every combine happens in a fixed tree, so results are bit-reproducible run to run.
#include <cfloat>

#include "common.cuh"
#include "cuda_backend.cuh"
#include "device_math.cuh"

namespace ng::cuda {
namespace reduction {

// Value + index; index -1 means "no element yet". Max/Min and their Arg forms share it:
// NaN wins (the first NaN), ties go to the lower index -- PyTorch's and our CPU's rules.
template <class T>
struct Pick {
  T v;
  int64_t i;
};

template <class T, bool kMax>
__device__ __forceinline__ Pick<T> better(Pick<T> a, Pick<T> b) {
  if (a.i < 0) return b;
  if (b.i < 0) return a;
  const bool an = a.v != a.v, bn = b.v != b.v;
  if (an || bn) return (an && bn) ? (a.i < b.i ? a : b) : (an ? a : b);
  if (kMax ? a.v > b.v : a.v < b.v) return a;
  if (kMax ? b.v > a.v : b.v < a.v) return b;
  return a.i < b.i ? a : b;
}

template <class T>
__device__ __forceinline__ Pick<T> shfl(Pick<T> p, int o) {
  return {__shfl_xor_sync(0xffffffffu, p.v, o), __shfl_xor_sync(0xffffffffu, p.i, o)};
}

// Reduces within a group of `threads` (a warp or the block); result valid in thread 0.
template <class V, class Combine>
__device__ V group_reduce(V v, Combine combine, bool whole_block) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    V other;
    if constexpr (std::is_arithmetic_v<V>)
      other = __shfl_xor_sync(0xffffffffu, v, o);
    else
      other = shfl(v, o);
    v = combine(v, other);
  }
  if (!whole_block) return v;
  __shared__ unsigned char raw[32 * sizeof(V)];
  V* part = reinterpret_cast<V*>(raw);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nwarps = blockDim.x / 32;
  if (lane == 0) part[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = part[0];
    for (int w = 1; w < nwarps; ++w) v = combine(v, part[w]);  // fixed order
  }
  __syncthreads();
  return v;
}

struct Plan {
  OffsetCalc<1> kept, red;
  int64_t K, R;
  bool red_flat;  // reduced elements are contiguous (stride 1) from each output's start
};

// One output per `group` (warp or block); chunked over R when split > 1.
// kOp: 0 sum, 1 max, 2 min; kArg: write the index.
template <class T, class O, int kOp, bool kArg>
__global__ void reduce_kernel(Plan plan, const T* x, O* out, int64_t chunk, bool whole_block,
                              Pick<T>* pick_part, double* sum_part) {
  const int per_block = whole_block ? 1 : blockDim.x / 32;
  const int64_t k = (int64_t)blockIdx.x * per_block + (whole_block ? 0 : threadIdx.x / 32);
  const int tid = whole_block ? threadIdx.x : threadIdx.x % 32;
  const int nt = whole_block ? blockDim.x : 32;
  if (k >= plan.K) return;  // whole warps leave together, so later shuffles stay full
  int64_t base;
  plan.kept.get(k, &base);
  const int64_t r0 = blockIdx.y * chunk, r1 = ::min(plan.R, r0 + chunk);
  auto at = [&](int64_t r) {
    if (plan.red_flat) return x[base + r];
    int64_t o;
    plan.red.get(r, &o);
    return x[base + o];
  };
  const bool split = gridDim.y > 1;
  if constexpr (kOp == 0) {
    double acc = 0;  // float64 like the CPU's sums: long float32 rows lose ~1e-5 otherwise
    for (int64_t r = r0 + tid; r < r1; r += nt) acc += (double)at(r);
    acc = group_reduce(
        acc, [](double a, double b) { return a + b; }, whole_block);
    if (tid == 0) {
      if (split)
        sum_part[k * gridDim.y + blockIdx.y] = acc;
      else
        out[k] = (O)acc;
    }
  } else {
    Pick<T> best{T(0), -1};
    for (int64_t r = r0 + tid; r < r1; r += nt) best = better<T, kOp == 1>(best, Pick<T>{at(r), r});
    best = group_reduce(
        best, [](Pick<T> a, Pick<T> b) { return better<T, kOp == 1>(a, b); }, whole_block);
    if (tid == 0) {
      if (split)
        pick_part[k * gridDim.y + blockIdx.y] = best;
      else if constexpr (kArg)
        out[k] = (O)best.i;
      else
        out[k] = (O)best.v;
    }
  }
}

template <class T, class O, int kOp, bool kArg>
__global__ void finish_split(int64_t K, int64_t S, const Pick<T>* pick_part, const double* sum_part,
                             O* out) {
  const int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (k >= K) return;
  if constexpr (kOp == 0) {
    double acc = 0;  // chunk partials added in order
    for (int64_t s = 0; s < S; ++s) acc += sum_part[k * S + s];
    out[k] = (O)acc;
  } else {
    Pick<T> best{T(0), -1};
    for (int64_t s = 0; s < S; ++s) best = better<T, kOp == 1>(best, pick_part[k * S + s]);
    if constexpr (kArg)
      out[k] = (O)best.i;
    else
      out[k] = (O)best.v;
  }
}

// Sums down columns: when the outputs are contiguous (output k reads x[k + red(r)]: the
// bias gradient, a sum over dim 0), a warp reads 32 neighbouring outputs of one row --
// coalesced -- where a warp per output would stride through memory. A block is 32 columns
// x 8 row lanes; the rows are split into gridDim.y chunks. Each thread adds its rows in
// order, then the 8 lanes and the chunks are added in a fixed order: deterministic.
constexpr int kColumnLanes = 8;

template <class T>
__global__ void column_sum_kernel(Plan plan, const T* x, T* out, int64_t chunk, double* part) {
  const int64_t k = blockIdx.x * (int64_t)32 + threadIdx.x;
  const int64_t r0 = blockIdx.y * chunk, r1 = ::min(plan.R, r0 + chunk);
  double acc = 0;  // float64 like every other sum
  if (k < plan.K)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kColumnLanes) {
      int64_t o = r;
      if (!plan.red_flat) plan.red.get(r, &o);
      acc += (double)x[k + o];
    }
  __shared__ double lanes[kColumnLanes][33];
  lanes[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y != 0 || k >= plan.K) return;
  for (int y = 1; y < kColumnLanes; ++y) acc += lanes[y][threadIdx.x];
  if (gridDim.y > 1)
    part[k * gridDim.y + blockIdx.y] = acc;
  else
    out[k] = (T)acc;
}

template <class T>
void column_sum(const Plan& plan, const T* x, T* out) {
  const int64_t bx = (plan.K + 31) / 32;
  // enough blocks to fill the device, chunks of at least 256 rows
  const int64_t S =
      std::max<int64_t>(1, std::min<int64_t>((4 * sm_count() + bx - 1) / bx, plan.R / 256));
  const int64_t chunk = (plan.R + S - 1) / S;
  const dim3 grid((unsigned)bx, (unsigned)S), block(32, kColumnLanes);
  if (S == 1) {
    column_sum_kernel<T><<<grid, block, 0, stream()>>>(plan, x, out, chunk, nullptr);
    check_launch("reduce");
    return;
  }
  DeviceBuffer part(plan.K * S * sizeof(double));
  column_sum_kernel<T><<<grid, block, 0, stream()>>>(plan, x, out, chunk, part.as<double>());
  check_launch("reduce");
  finish_split<T, T, 0, false>
      <<<blocks_for(plan.K), kThreads, 0, stream()>>>(plan.K, S, nullptr, part.as<double>(), out);
  check_launch("reduce");
}

template <class T, class O, int kOp, bool kArg>
void run(const Plan& plan, const T* x, O* out) {
  if (plan.K == 0) return;
  const bool whole_block = plan.R > 1024;
  int64_t S = 1;
  if (whole_block && plan.K < 2 * sm_count())  // few outputs, long rows: split the rows
    S = std::min<int64_t>((plan.R + 65535) / 65536 * 4, (4 * sm_count() + plan.K - 1) / plan.K);
  S = std::max<int64_t>(S, 1);
  const int64_t chunk = (plan.R + S - 1) / S;
  const int64_t per_block = whole_block ? 1 : kThreads / 32;
  dim3 grid((unsigned)((plan.K + per_block - 1) / per_block), (unsigned)S);
  if (S == 1) {
    reduce_kernel<T, O, kOp, kArg>
        <<<grid, kThreads, 0, stream()>>>(plan, x, out, chunk, whole_block, nullptr, nullptr);
    check_launch("reduce");
    return;
  }
  static_assert(sizeof(Pick<T>) >= sizeof(double), "one buffer holds either kind of partial");
  DeviceBuffer part(plan.K * S * sizeof(Pick<T>));
  reduce_kernel<T, O, kOp, kArg><<<grid, kThreads, 0, stream()>>>(
      plan, x, out, chunk, whole_block, part.as<Pick<T>>(), part.as<double>());
  check_launch("reduce");
  finish_split<T, O, kOp, kArg><<<blocks_for(plan.K), kThreads, 0, stream()>>>(
      plan.K, S, part.as<Pick<T>>(), part.as<double>(), out);
  check_launch("reduce");
}

template <class T>
void reduce_typed(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims,
                  const Tensor& out) {
  const int64_t nd = x.dim();
  std::vector<bool> red(nd, false);
  for (int64_t d : dims) red[d] = true;
  Shape ks, kst, rs, rst;
  for (int64_t d = 0; d < nd; ++d) {
    (red[d] ? rs : ks).push_back(x.size(d));
    (red[d] ? rst : kst).push_back(x.stride(d));
  }
  Plan plan;
  plan.kept = make_offsets<1>(ks, {&kst}, "reduce");
  plan.red = make_offsets<1>(rs, {&rst}, "reduce");
  plan.K = numel_of(ks);
  plan.R = numel_of(rs);
  plan.red_flat = plan.red.ndim == 0 || (plan.red.ndim == 1 && plan.red.stride[0][0] == 1);
  const T* px = x.data<T>();
  // contiguous outputs (offset k for output k), at least a warp of them: column sums
  const bool columns = plan.K >= 32 && plan.kept.ndim == 1 && plan.kept.stride[0][0] == 1;
  switch (op) {
    case ReduceOp::Sum:
      if (columns) return column_sum<T>(plan, px, out.data<T>());
      return run<T, T, 0, false>(plan, px, out.data<T>());
    case ReduceOp::Max:
      return run<T, T, 1, false>(plan, px, out.data<T>());
    case ReduceOp::Min:
      return run<T, T, 2, false>(plan, px, out.data<T>());
    case ReduceOp::ArgMax:
      return run<T, int64_t, 1, true>(plan, px, out.data<int64_t>());
    case ReduceOp::ArgMin:
      return run<T, int64_t, 2, true>(plan, px, out.data<int64_t>());
  }
}

// Softmax over contiguous rows of length D (inner == 1): one warp per row when D is
// small, one block per row otherwise. Three sweeps (max, sum, write); the row stays in
// L1/L2 between them.
__device__ __forceinline__ double log_of(double z) { return ::log(z); }

template <class T>
__global__ void softmax_rows(int64_t rows, int64_t D, const T* x, T* out, bool log,
                             bool whole_block) {
  const int per_block = whole_block ? 1 : blockDim.x / 32;
  const int64_t row = (int64_t)blockIdx.x * per_block + (whole_block ? 0 : threadIdx.x / 32);
  const int tid = whole_block ? threadIdx.x : threadIdx.x % 32;
  const int nt = whole_block ? blockDim.x : 32;
  if (row >= rows) return;
  const T* in = x + row * D;
  T* o = out + row * D;
  const T ninf = -INFINITY;
  T m = ninf;
  for (int64_t d = tid; d < D; d += nt) m = in[d] > m ? in[d] : m;
  m = group_reduce(
      m, [](T a, T b) { return a > b ? a : b; }, whole_block);
  __shared__ T bcast[1];
  __shared__ double bcast_z;
  if (whole_block) {
    if (tid == 0) bcast[0] = m;
    __syncthreads();
    m = bcast[0];
  } else {
    m = __shfl_sync(0xffffffffu, m, 0);
  }
  if (m == ninf) m = 0;  // an all -inf row: avoid inf - inf
  double z = 0;          // the normaliser in float64, as on the CPU
  for (int64_t d = tid; d < D; d += nt) {
    const T e = d_exp(in[d] - m);
    if (!log) o[d] = e;
    z += (double)e;
  }
  z = group_reduce(
      z, [](double a, double b) { return a + b; }, whole_block);
  if (whole_block) {
    if (tid == 0) bcast_z = z;
    __syncthreads();
    z = bcast_z;
  } else {
    z = __shfl_sync(0xffffffffu, z, 0);
  }
  if (log) {
    const T lz = (T)log_of(z) + m;
    for (int64_t d = tid; d < D; d += nt) o[d] = in[d] - lz;
  } else {
    const T inv = (T)(1.0 / z);
    for (int64_t d = tid; d < D; d += nt) o[d] *= inv;
  }
}

// Softmax over a middle dim ([outer, D, inner], inner > 1): one thread per (outer, inner).
template <class T>
__global__ void softmax_columns(int64_t outer, int64_t D, int64_t inner, const T* x, T* out,
                                bool log) {
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < outer * inner;
       t += (int64_t)gridDim.x * blockDim.x) {  // grid-stride (the grid is capped)
    const int64_t a = t / inner, b = t % inner;
    const T* in = x + a * D * inner + b;
    T* o = out + a * D * inner + b;
    T m = -INFINITY;
    for (int64_t d = 0; d < D; ++d) m = in[d * inner] > m ? in[d * inner] : m;
    if (m == -INFINITY) m = 0;
    using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;  // the CPU's sum
    Acc z = 0;
    for (int64_t d = 0; d < D; ++d) z += (Acc)d_exp(in[d * inner] - m);
    const T lz = (T)log_of((double)z) + m, inv = (T)(1.0 / (double)z);
    for (int64_t d = 0; d < D; ++d)
      o[d * inner] = log ? in[d * inner] - lz : d_exp(in[d * inner] - m) * inv;
  }
}

template <class T>
void softmax_typed(const Tensor& x_in, int64_t dim, bool log, const Tensor& out) {
  const Tensor x = x_in.contiguous();
  const Split3 s = split_at(x.shape(), dim);
  if (x.numel() == 0) return;
  if (s.inner == 1) {
    const bool whole_block = s.mid > 1024;
    const int64_t per_block = whole_block ? 1 : kThreads / 32;
    const unsigned grid = (unsigned)((s.outer + per_block - 1) / per_block);
    softmax_rows<T><<<grid, kThreads, 0, stream()>>>(s.outer, s.mid, x.data<T>(), out.data<T>(),
                                                     log, whole_block);
  } else {
    softmax_columns<T><<<blocks_for(s.outer * s.inner), kThreads, 0, stream()>>>(
        s.outer, s.mid, s.inner, x.data<T>(), out.data<T>(), log);
  }
  check_launch("softmax");
}

}  // namespace reduction

void CudaBackend::reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims,
                         const Tensor& out) {
  dispatch_float(x.dtype(), "reduce",
                 [&](auto tag) { reduction::reduce_typed<decltype(tag)>(op, x, dims, out); });
}

void CudaBackend::softmax(const Tensor& x, int64_t dim, bool log, const Tensor& out) {
  dispatch_float(x.dtype(), "softmax",
                 [&](auto tag) { reduction::softmax_typed<decltype(tag)>(x, dim, log, out); });
}

}  // namespace ng::cuda

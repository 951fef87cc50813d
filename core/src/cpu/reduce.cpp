// CPU reductions and softmax.
//
// Every reduction becomes one of two shapes: rows (reduce a contiguous run: [K, R] -> [K])
// or columns (reduce the middle of [A, R, B] -> [A, B], vectorized across B). Anything else
// is first permuted and copied into rows. Each output is accumulated in a fixed order, so
// results are bit-identical whatever the thread count.
#include <cmath>
#include <limits>
#include <numeric>

#include "cpu_backend.h"
#include "dispatch.h"
#include "parallel.h"
#include "vec_math.h"

namespace ng::cpu {
namespace {

template <class T>
using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;

// Sum of n contiguous values in double for float input (every partial sum too: lanes of
// float32 partials lose ~1e-6 of a 2000-term row, and the GPU's sums are float64 end to
// end, so both devices give the exact sum rounded once). 32 independent lanes keep the
// adds vectorized and overlapping.
template <class T>
Acc<T> sum_contiguous(const T* x, int64_t n) {
  Acc<T> lane[32] = {};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int j = 0; j < 32; ++j) lane[j] += (Acc<T>)x[i + j];
  Acc<T> total = 0;
  for (int j = 0; j < 32; ++j) total += lane[j];
  for (; i < n; ++i) total += (Acc<T>)x[i];
  return total;
}

// Reduces one contiguous row; for ArgMax/ArgMin returns the index as a double.
template <class T>
double reduce_row(ReduceOp op, const T* x, int64_t n) {
  switch (op) {
    case ReduceOp::Sum:
      return (double)sum_contiguous(x, n);
    case ReduceOp::Max:
    case ReduceOp::Min: {
      T best = x[0];
      const bool is_max = op == ReduceOp::Max;
      for (int64_t i = 1; i < n; ++i) {
        const T v = x[i];
        if (v != v) return (double)v;  // NaN wins, as in PyTorch
        best = is_max ? (v > best ? v : best) : (v < best ? v : best);
      }
      return (double)best;
    }
    case ReduceOp::ArgMax:
    case ReduceOp::ArgMin: {
      int64_t best = 0;
      const bool is_max = op == ReduceOp::ArgMax;
      for (int64_t i = 0; i < n; ++i) {
        const T v = x[i];
        if (v != v) return (double)i;
        if (is_max ? v > x[best] : v < x[best]) best = i;
      }
      return (double)best;
    }
  }
  return 0;
}

template <class T, class O>
void reduce_rows(ReduceOp op, const T* x, int64_t K, int64_t R, O* out) {
  if (K == 1 && op == ReduceOp::Sum && R > 4 * kGrain) {
    // One long sum: fixed-size blocks summed in parallel, then in order (deterministic).
    const int64_t block = 65536, nb = (R + block - 1) / block;
    std::vector<Acc<T>> partial(nb);
    parallel_for(nb, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        partial[i] = sum_contiguous(x + i * block, std::min(block, R - i * block));
    });
    Acc<T> total = 0;
    for (auto p : partial) total += p;
    out[0] = (O)total;
    return;
  }
  parallel_for(K, std::max<int64_t>(1, kGrain / std::max<int64_t>(R, 1)),
               [&](int64_t b, int64_t e) {
                 for (int64_t k = b; k < e; ++k) out[k] = (O)reduce_row(op, x + k * R, R);
               });
}

// out[a, b] = reduce_r x[a, r, b] for contiguous x.
template <class T, class O>
void reduce_columns(ReduceOp op, const T* x, int64_t A, int64_t R, int64_t B, O* out) {
  const int64_t bchunk = 256;
  const int64_t nbc = (B + bchunk - 1) / bchunk;
  parallel_for(A * nbc, std::max<int64_t>(1, kGrain / std::max<int64_t>(R * bchunk, 1)),
               [&](int64_t begin, int64_t end) {
                 std::vector<Acc<T>> acc(bchunk);
                 std::vector<int64_t> arg(bchunk);
                 for (int64_t t = begin; t < end; ++t) {
                   const int64_t a = t / nbc, b0 = (t % nbc) * bchunk,
                                 nb = std::min(bchunk, B - b0);
                   const T* base = x + a * R * B + b0;
                   O* o = out + a * B + b0;
                   if (op == ReduceOp::Sum) {
                     for (int64_t j = 0; j < nb; ++j) acc[j] = 0;
                     for (int64_t r = 0; r < R; ++r)
                       for (int64_t j = 0; j < nb; ++j) acc[j] += base[r * B + j];
                     for (int64_t j = 0; j < nb; ++j) o[j] = (O)acc[j];
                     continue;
                   }
                   const bool want_max = op == ReduceOp::Max || op == ReduceOp::ArgMax;
                   const bool want_arg = op == ReduceOp::ArgMax || op == ReduceOp::ArgMin;
                   for (int64_t j = 0; j < nb; ++j) {
                     acc[j] = base[j];
                     arg[j] = 0;
                   }
                   for (int64_t r = 1; r < R; ++r)
                     for (int64_t j = 0; j < nb; ++j) {
                       const T v = base[r * B + j];
                       const T cur = (T)acc[j];
                       if (cur != cur) continue;  // a NaN already won
                       if (v != v || (want_max ? v > cur : v < cur)) {
                         acc[j] = v;
                         arg[j] = r;
                       }
                     }
                   for (int64_t j = 0; j < nb; ++j) o[j] = want_arg ? (O)arg[j] : (O)acc[j];
                 }
               });
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& x_in, const std::vector<int64_t>& dims,
                        const Tensor& out) {
  dispatch_float(x_in.dtype(), "reduce", [&](auto tag) {
    using T = decltype(tag);
    const int64_t nd = x_in.dim();
    std::vector<bool> red(nd, false);
    for (int64_t d : dims) red[d] = true;
    // Reduced dims of size > 1 forming one consecutive block of a contiguous tensor can be
    // reduced in place; otherwise permute kept dims first and copy into [K, R] rows.
    int64_t first = -1, last = -1;
    bool one_block = true;
    for (int64_t d = 0; d < nd; ++d) {
      if (!red[d] || x_in.size(d) == 1) continue;
      if (first < 0)
        first = d;
      else if (last != d - 1) {
        for (int64_t k = last + 1; k < d; ++k)
          if (x_in.size(k) != 1) one_block = false;
      }
      last = d;
    }
    Tensor x = x_in;
    int64_t A = 1, R = 1, B = 1;
    if (first < 0) {  // nothing of size > 1 to reduce
      A = x.numel();
    } else if (one_block && x.is_contiguous()) {
      for (int64_t d = 0; d < nd; ++d) (d < first ? A : d > last ? B : R) *= x.size(d);
    } else {
      std::vector<int64_t> perm;
      for (int64_t d = 0; d < nd; ++d)
        if (!red[d]) perm.push_back(d);
      for (int64_t d = 0; d < nd; ++d)
        if (red[d]) perm.push_back(d);
      Shape ps, pst;
      for (int64_t d : perm) {
        ps.push_back(x.size(d));
        pst.push_back(x.stride(d));
        (red[d] ? R : A) *= x.size(d);
      }
      Tensor view = make_tensor(x.impl()->storage, ps, pst, x.offset(), x.dtype());
      x = empty(ps, {.dtype = x.dtype()});
      copy(view, x);
    }
    const T* px = x.data<T>();
    const bool arg = op == ReduceOp::ArgMax || op == ReduceOp::ArgMin;
    auto run = [&](auto* o) {
      if (B == 1)
        reduce_rows(op, px, A, R, o);
      else
        reduce_columns(op, px, A, R, B, o);
    };
    if (arg)
      run(out.data<int64_t>());
    else
      run(out.data<T>());
  });
}

void CpuBackend::softmax(const Tensor& x_in, int64_t dim, bool log, const Tensor& out) {
  dispatch_float(x_in.dtype(), "softmax", [&](auto tag) {
    using T = decltype(tag);
    const Tensor x = x_in.contiguous();
    const Split3 s = split_at(x.shape(), dim);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    const int64_t D = s.mid, B = s.inner;
    parallel_for(s.outer * B, std::max<int64_t>(1, kGrain / std::max<int64_t>(D, 1)),
                 [&](int64_t begin, int64_t end) {
                   for (int64_t t = begin; t < end; ++t) {
                     const int64_t a = t / B, b = t % B;
                     const T* in = px + a * D * B + b;
                     T* o = po + a * D * B + b;
                     T m = -std::numeric_limits<T>::infinity();
                     for (int64_t d = 0; d < D; ++d) m = in[d * B] > m ? in[d * B] : m;
                     if (m == -std::numeric_limits<T>::infinity())
                       m = 0;  // all -inf row: avoid inf-inf
                     Acc<T> z = 0;
                     for (int64_t d = 0; d < D; ++d) {
                       const T e = vexp<T>(in[d * B] - m);
                       if (!log) o[d * B] = e;
                       z += e;
                     }
                     if (log) {
                       const T lz = (T)std::log(z) + m;
                       for (int64_t d = 0; d < D; ++d) o[d * B] = in[d * B] - lz;
                     } else {
                       const T inv = (T)(1.0 / z);
                       for (int64_t d = 0; d < D; ++d) o[d * B] *= inv;
                     }
                   }
                 });
  });
}

}  // namespace ng::cpu

// OpenBLAS's sgemm alone on the products of one training step of a GPT (each Linear's
// forward x W^T, input gradient dy W and weight gradient dy^T x, and the LM head's), as the
// step calls them (same transposes), at 1 thread and at all of this process's threads:
// GFLOP/s of the fastest and the median of R back-to-back calls with warm operands. Set
// against bench/fma_peak, it says how near the peak the library gets on these shapes when
// nothing else runs; bench/train_step's GEMM-only floor and the step say what is left of it
// inside a training step.
//   bench/gemm_shapes [--tokens 768] [--embd 128] [--vocab 65] [--reps 30]
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "normgrad/threading.h"

namespace {

struct Product {
  const char* what;
  int m, n, k;
  bool trans_a, trans_b;
};

double seconds_of(const Product& p, const std::vector<float>& a, const std::vector<float>& b,
                  std::vector<float>& c) {
  const auto t0 = std::chrono::steady_clock::now();
  cblas_sgemm(CblasRowMajor, p.trans_a ? CblasTrans : CblasNoTrans,
              p.trans_b ? CblasTrans : CblasNoTrans, p.m, p.n, p.k, 1.0f, a.data(),
              p.trans_a ? p.m : p.k, b.data(), p.trans_b ? p.k : p.n, 0.0f, c.data(), p.n);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  ng::select_blas_core(argv);
  int tokens = 768, embd = 128, vocab = 65, reps = 30;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string f = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (v <= 0) return std::fprintf(stderr, "error: %s needs a positive integer\n", f.c_str()), 2;
    if (f == "--tokens")
      tokens = v;
    else if (f == "--embd")
      embd = v;
    else if (f == "--vocab")
      vocab = v;
    else if (f == "--reps")
      reps = v;
    else
      return std::fprintf(stderr, "error: unknown flag %s\n", f.c_str()), 2;
  }
  const int all = ng::available_cores();
  std::printf("%s\nproducts of one step: tokens %d, n_embd %d, vocab %d; %d calls each\n",
              ng::thread_config().c_str(), tokens, embd, vocab, reps);
  std::printf(
      "| product | m x n x k | 1 thread GFLOP/s (fastest, median) | %d threads GFLOP/s (fastest, "
      "median) |\n|---|---|---|---|\n",
      all);
  std::mt19937 g(1);
  std::normal_distribution<float> d;
  const int C = embd;
  for (auto [in, out] : {std::pair{C, 3 * C}, {C, C}, {C, 4 * C}, {4 * C, C}, {C, vocab}}) {
    const Product ps[] = {{"forward x W^T", tokens, out, in, false, true},
                          {"input grad dy W", tokens, in, out, false, false},
                          {"weight grad dy^T x", out, in, tokens, true, false}};
    for (const Product& p : ps) {
      std::vector<float> a((size_t)p.m * p.k), b((size_t)p.k * p.n), c((size_t)p.m * p.n);
      for (auto& x : a) x = d(g);
      for (auto& x : b) x = d(g);
      std::string cells;
      for (int threads : {1, all}) {
        ng::set_num_threads(threads);
        seconds_of(p, a, b, c);  // warm-up
        std::vector<double> t;
        for (int r = 0; r < reps; ++r) t.push_back(seconds_of(p, a, b, c));
        std::sort(t.begin(), t.end());
        const double flops = 2.0 * p.m * p.n * p.k;
        char cell[64];
        std::snprintf(cell, sizeof cell, " %.1f, %.1f |", flops / t.front() / 1e9,
                      flops / t[t.size() / 2] / 1e9);
        cells += cell;
      }
      std::printf("| %s (%d -> %d) | %d x %d x %d |%s\n", p.what, in, out, p.m, p.n, p.k,
                  cells.c_str());
    }
  }
  return 0;
}

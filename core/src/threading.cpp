#include "normgrad/threading.h"

#include <cblas.h>
#include <omp.h>
#include <unistd.h>
#include <xmmintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cpu/avx512.h"

namespace ng {

namespace {
constexpr unsigned kFtzDaz = 0x8040;  // MXCSR bit 15 flush-to-zero, bit 6 denormals-are-zero
bool g_flush = true;

void apply_flush_here() {
  const unsigned csr = _mm_getcsr();
  _mm_setcsr(g_flush ? (csr | kFtzDaz) : (csr & ~kFtzDaz));
}

void apply_flush_everywhere() {
  apply_flush_here();
#pragma omp parallel num_threads(omp_get_max_threads())
  apply_flush_here();
}

// When the library loads: before any of our kernels runs, and before OpenMP starts its pool
// (threads started later inherit the MXCSR of the thread that starts them).
[[maybe_unused]] const bool g_flush_applied = [] {
  const char* keep = std::getenv("NG_KEEP_DENORMALS");
  g_flush = !(keep && *keep && std::string(keep) != "0");
  apply_flush_everywhere();
  return true;
}();
}  // namespace

void set_flush_denormals(bool on) {
  g_flush = on;
  apply_flush_everywhere();
}

bool flush_denormals() { return (_mm_getcsr() & kFtzDaz) == kFtzDaz; }

void set_num_threads(int n) {
  if (n < 1) n = 1;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);  // same pool when OpenBLAS is the OpenMP build
  apply_flush_everywhere();     // new pool threads start from the creating thread's MXCSR
}

int num_threads() { return omp_get_max_threads(); }

BlasCoreDecision decide_blas_core(const char* ng_blas_core, const char* openblas_coretype) {
  const std::string v = ng_blas_core && *ng_blas_core ? ng_blas_core : "auto";
  const std::string env = openblas_coretype ? openblas_coretype : "";
  if (v == "auto" || v == "keep") {
    if (!env.empty())
      return {"", "OPENBLAS_CORETYPE=" + env +
                      " from the environment, kept (another family may be faster where it is "
                      "known to be correct: NG_BLAS_CORE=<family>)"};
    return {"", "OpenBLAS's own choice"};
  }
  return {v, "NG_BLAS_CORE=" + v + ", forced; checked against a float64 reference"};
}

std::string blas_core_choice() {
  return decide_blas_core(std::getenv("NG_BLAS_CORE"), std::getenv("OPENBLAS_CORETYPE")).reason;
}

std::string blas_probe_error(const std::string& family, const SgemmFn& gemm) {
  // Small and odd sizes (edge tiles of every kernel), both transposes, beta 0 and 1.
  const int shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {17, 3, 33}, {33, 31, 37}, {2, 65, 9}};
  uint64_t state = 0x9e3779b97f4a7c15ull;
  auto next = [&] {  // splitmix64 -> [-1, 1)
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return float((double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0 * 2 - 1);
  };
  for (const auto& sh : shapes)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (float beta : {0.0f, 1.0f}) {
          const int M = sh[0], N = sh[1], K = sh[2];
          std::vector<float> A(M * K), B(K * N), C(M * N);
          for (auto& x : A) x = next();
          for (auto& x : B) x = next();
          for (auto& x : C) x = next();
          std::vector<float> out = C;
          const int lda = ta ? M : K, ldb = tb ? K : N;
          gemm(ta, tb, M, N, K, A.data(), lda, B.data(), ldb, beta, out.data(), N);
          double worst = 0;
          for (int i = 0; i < M; ++i)
            for (int j = 0; j < N; ++j) {
              double ref = beta * (double)C[i * N + j];
              for (int k = 0; k < K; ++k)
                ref += (double)(ta ? A[k * M + i] : A[i * K + k]) *
                       (double)(tb ? B[j * K + k] : B[k * N + j]);
              const double err = std::abs((double)out[i * N + j] - ref);
              if (!(err <= 1e-4 * (K + 1))) worst = std::max(worst, std::isnan(err) ? 1e30 : err);
            }
          if (worst > 0) {
            char msg[256];
            std::snprintf(msg, sizeof msg,
                          "OpenBLAS kernel family %s computes wrong sgemm results here (error %.3g "
                          "on %dx%dx%d, %s%s, beta %g): unset NG_BLAS_CORE to use OpenBLAS's own "
                          "choice",
                          family.c_str(), worst, M, N, K, ta ? "A^T" : "A", tb ? " B^T" : " B",
                          beta);
            return msg;
          }
        }
  return "";
}

namespace {
void cblas_probe_gemm(bool ta, bool tb, int M, int N, int K, const float* A, int lda,
                      const float* B, int ldb, float beta, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
              K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}
}  // namespace

void select_blas_core(char** argv) {
  const BlasCoreDecision d =
      decide_blas_core(std::getenv("NG_BLAS_CORE"), std::getenv("OPENBLAS_CORETYPE"));
  if (d.force.empty()) return;  // the environment's or OpenBLAS's own choice: untouched
  const char* current = std::getenv("OPENBLAS_CORETYPE");
  if (!(current && d.force == current) && !std::getenv("NG_BLAS_CORE_APPLIED")) {
    setenv("OPENBLAS_CORETYPE", d.force.c_str(), 1);
    setenv("NG_BLAS_CORE_APPLIED", "1", 1);  // once: never loop
    execv("/proc/self/exe", argv);           // returns only on failure: run on as we are
  }
  // The forced family is in use from here on: refuse it if it computes wrong results.
  const std::string err = blas_probe_error(d.force, cblas_probe_gemm);
  if (!err.empty()) {
    std::fprintf(stderr, "error: [blas] %s\n", err.c_str());
    std::exit(2);
  }
}

bool avx512_kernels() { return cpu::avx512::enabled(); }
void set_avx512_kernels(bool on) { cpu::avx512::set_enabled(on); }

std::string thread_config() {
  const int par = openblas_get_parallel();
  const char* kind = par == 0 ? "sequential" : par == 1 ? "pthreads" : "OpenMP";
  std::string s = "threads: " + std::to_string(num_threads()) +
                  " (OpenMP); BLAS: " + openblas_get_config() + ", core " +
                  openblas_get_corename() + " (" + blas_core_choice() + "), threading " + kind +
                  ", " + std::to_string(openblas_get_num_threads()) + " threads";
  s +=
      std::string("; our kernels: ") + (avx512_kernels() ? "AVX-512 (GELU, AdamW) + AVX2" : "AVX2");
  s += flush_denormals() ? "; denormals flushed to zero" : "; denormals kept (NG_KEEP_DENORMALS)";
  if (par == 1)
    s += " [warning: pthreads OpenBLAS runs its own pool beside OpenMP and can oversubscribe]";
  return s;
}

}  // namespace ng

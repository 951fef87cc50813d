#include "normgrad/threading.h"

#include <cblas.h>
#include <omp.h>
#include <sched.h>
#include <unistd.h>
#include <xmmintrin.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
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

int available_cores() {
  int n = 0;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
  if (n < 1) n = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int limit = std::atoi(env);  // "4" or "4,2" (nested levels): the first level
    if (limit > 0) n = std::min(n, limit);
  }
  return n;
}

CpuVectorIsa cpu_vector_isa() {
  __builtin_cpu_init();
  CpuVectorIsa isa;
  isa.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  isa.avx512 = isa.avx2_fma && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  isa.avx512_bf16 = isa.avx512 && __builtin_cpu_supports("avx512bf16");
  return isa;
}

std::string blas_family_for(const CpuVectorIsa& isa) {
  if (isa.avx512_bf16) return "Cooperlake";
  if (isa.avx512) return "SkylakeX";
  if (isa.avx2_fma) return "Haswell";
  return "";
}

namespace {
// OpenBLAS's family names compare without case ("SKYLAKEX" in an environment variable).
std::string lowercase(const std::string& s) {
  std::string out;
  for (char ch : s) out += (char)std::tolower((unsigned char)ch);
  return out;
}
}  // namespace

bool blas_family_is_generic(const std::string& family) {
  // OpenBLAS's x86-64 families (openblas_get_corename) whose kernels predate AVX2 + FMA:
  // SSE-era cores and the AVX-only ones. A name not listed (Haswell, Zen, SkylakeX, a newer
  // family) is not second-guessed.
  static const char* const kGeneric[] = {
      "unknown",     "katmai",        "coppermine",   "northwood",   "prescott", "banias",
      "atom",        "core2",         "penryn",       "dunnington",  "nehalem",  "athlon",
      "opteron",     "opteron(sse3)", "opteron_sse3", "barcelona",   "nano",     "bobcat",
      "sandybridge", "bulldozer",     "piledriver",   "steamroller", "excavator"};
  return std::find(std::begin(kGeneric), std::end(kGeneric), lowercase(family)) !=
         std::end(kGeneric);
}

BlasCoreDecision decide_blas_core(const char* ng_blas_core, const char* openblas_coretype,
                                  const char* applied, const std::string& loaded,
                                  const CpuVectorIsa& isa) {
  const std::string v = ng_blas_core && *ng_blas_core ? ng_blas_core : "auto";
  const std::string env = openblas_coretype ? openblas_coretype : "";
  const std::string mark = applied ? applied : "";
  const auto marked = [&](const char* prefix) { return mark.rfind(prefix, 0) == 0; };
  const BlasCoreDecision own{"", "OpenBLAS's own choice"};
  const BlasCoreDecision kept{"", "OPENBLAS_CORETYPE=" + env +
                                      " from the environment, kept (another family may be faster "
                                      "where it is known to be correct: NG_BLAS_CORE=<family>)"};
  if (v == "keep") return env.empty() ? own : kept;
  if (v != "auto")
    return {v, "NG_BLAS_CORE=" + v + ", forced; checked against a float64 reference"};
  const std::string isa_name = isa.avx512 ? "AVX-512" : "AVX2";
  if (marked("auto:") && !env.empty())  // our own re-run with the family below
    return {env,
            "picked from CPUID: OpenBLAS chose " + mark.substr(5) +
                ", a generic family, on a CPU with " + isa_name +
                "; checked against a float64 reference (NG_BLAS_CORE=keep keeps OpenBLAS's choice)",
            true};
  if (marked("fallback:"))
    return {"", "OpenBLAS's own choice: " + mark.substr(9) +
                    ", the family this CPU's instructions match, could not be used (not in "
                    "this OpenBLAS build, or wrong results against the float64 reference)"};
  if (!env.empty()) return kept;
  const std::string want = blas_family_for(isa);
  if (!want.empty() && blas_family_is_generic(loaded))
    return {want, "OpenBLAS chose " + loaded + " on a CPU with " + isa_name + ": " + want, true};
  return own;
}

std::string blas_core_choice() {
  const char* env = std::getenv("OPENBLAS_CORETYPE");
  const BlasCoreDecision d =
      decide_blas_core(std::getenv("NG_BLAS_CORE"), env, std::getenv("NG_BLAS_CORE_APPLIED"),
                       openblas_get_corename(), cpu_vector_isa());
  if (d.automatic && !(env && d.force == env))  // a program that did not call select_blas_core
    return "OpenBLAS's own choice, generic on this CPU: the normgrad command picks " + d.force;
  return d.reason;
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

// The automatic family cannot be used: the variables say so (this process and the ones it
// starts report OpenBLAS's own choice and never retry).
void mark_fallback(const std::string& family) {
  unsetenv("OPENBLAS_CORETYPE");
  setenv("NG_BLAS_CORE_APPLIED", ("fallback:" + family).c_str(), 1);
}
}  // namespace

void select_blas_core(char** argv) {
  const char* applied = std::getenv("NG_BLAS_CORE_APPLIED");
  const std::string loaded = openblas_get_corename();
  const BlasCoreDecision d =
      decide_blas_core(std::getenv("NG_BLAS_CORE"), std::getenv("OPENBLAS_CORETYPE"), applied,
                       loaded, cpu_vector_isa());
  if (d.force.empty()) return;  // the environment's or OpenBLAS's own choice: untouched
  const char* current_env = std::getenv("OPENBLAS_CORETYPE");
  const std::string current = current_env ? current_env : "";
  if (!(current_env && d.force == current) && !applied) {
    setenv("OPENBLAS_CORETYPE", d.force.c_str(), 1);
    // once: never loop; it also tells the re-run (and the processes it starts) why
    setenv("NG_BLAS_CORE_APPLIED", (d.automatic ? "auto:" + loaded : std::string("forced")).c_str(),
           1);
    execv("/proc/self/exe", argv);
    // execv failed: run on with the family loaded, and do not tell child processes otherwise
    if (current_env)
      setenv("OPENBLAS_CORETYPE", current.c_str(), 1);
    else
      unsetenv("OPENBLAS_CORETYPE");
    unsetenv("NG_BLAS_CORE_APPLIED");
    std::fprintf(stderr,
                 "warning: [blas] could not re-run with OPENBLAS_CORETYPE=%s; running with %s\n",
                 d.force.c_str(), loaded.c_str());
    return;
  }
  // The re-run: OpenBLAS must have loaded the family (a build without it keeps another).
  if (lowercase(loaded) != lowercase(d.force)) {
    if (d.automatic) {
      mark_fallback(d.force);
      return;  // what is loaded is OpenBLAS's own choice already
    }
    std::fprintf(stderr,
                 "error: [blas] NG_BLAS_CORE=%s: OpenBLAS loaded %s instead (this OpenBLAS build "
                 "lacks that family?)\n",
                 d.force.c_str(), loaded.c_str());
    std::exit(2);
  }
  // The forced family is in use from here on: refuse it if it computes wrong results.
  const std::string err = blas_probe_error(d.force, cblas_probe_gemm);
  if (err.empty()) return;
  if (d.automatic) {
    std::fprintf(stderr, "warning: [blas] %s; running with OpenBLAS's own choice\n", err.c_str());
    mark_fallback(d.force);
    execv("/proc/self/exe", argv);  // returns only on failure
  }
  std::fprintf(stderr, "error: [blas] %s\n", err.c_str());
  std::exit(2);
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

#include "normgrad/threading.h"

#include <cblas.h>
#include <omp.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "cpu/avx512.h"

namespace ng {

void set_num_threads(int n) {
  if (n < 1) n = 1;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);  // same pool when OpenBLAS is the OpenMP build
}

int num_threads() { return omp_get_max_threads(); }

namespace {

// The family to force, or "" for "leave OPENBLAS_CORETYPE as it is".
std::string wanted_core() {
  const char* setting = std::getenv("NG_BLAS_CORE");
  const std::string v = setting ? setting : "auto";
  if (v == "keep") return "";
  if (v == "auto") return cpu::avx512::cpu_has_avx512() ? "SkylakeX" : "";
  return v;
}

}  // namespace

std::string blas_core_choice() {
  const char* setting = std::getenv("NG_BLAS_CORE");
  const std::string v = setting ? setting : "auto";
  const std::string w = wanted_core();
  if (v == "auto")
    return w.empty() ? "NG_BLAS_CORE=auto: no AVX-512 here, OpenBLAS's own choice"
                     : "NG_BLAS_CORE=auto: AVX-512 found, SkylakeX kernels";
  return "NG_BLAS_CORE=" + v;
}

void select_blas_core(char** argv) {
  const std::string want = wanted_core();
  if (want.empty() || std::getenv("NG_BLAS_CORE_APPLIED")) return;
  const char* current = std::getenv("OPENBLAS_CORETYPE");
  if (current && want == current) return;
  setenv("OPENBLAS_CORETYPE", want.c_str(), 1);
  setenv("NG_BLAS_CORE_APPLIED", "1", 1);  // once: never loop
  execv("/proc/self/exe", argv);           // returns only on failure: run on as we are
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
  if (par == 1)
    s += " [warning: pthreads OpenBLAS runs its own pool beside OpenMP and can oversubscribe]";
  return s;
}

}  // namespace ng

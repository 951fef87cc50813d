#include "normgrad/threading.h"

#include <cblas.h>
#include <omp.h>

#include <string>

namespace ng {

void set_num_threads(int n) {
  if (n < 1) n = 1;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);  // same pool when OpenBLAS is the OpenMP build
}

int num_threads() { return omp_get_max_threads(); }

std::string thread_config() {
  const int par = openblas_get_parallel();
  const char* kind = par == 0 ? "sequential" : par == 1 ? "pthreads" : "OpenMP";
  std::string s = "threads: " + std::to_string(num_threads()) +
                  " (OpenMP); BLAS: " + openblas_get_config() + ", core " +
                  openblas_get_corename() + ", threading " + kind + ", " +
                  std::to_string(openblas_get_num_threads()) + " threads";
  if (par == 1)
    s += " [warning: pthreads OpenBLAS runs its own pool beside OpenMP and can oversubscribe]";
  return s;
}

}  // namespace ng

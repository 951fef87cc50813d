// One thread-count setting for our OpenMP kernels and OpenBLAS (which is built on the
// same OpenMP runtime, so the two share one pool and never oversubscribe the cores).
#pragma once
#include <string>

namespace ng {

void set_num_threads(int n);
int num_threads();
// e.g. "threads: 2 (OpenMP); BLAS: OpenBLAS 0.3.21 ..., core SkylakeX (NG_BLAS_CORE=auto)..."
std::string thread_config();

// OpenBLAS picks its kernel family (OPENBLAS_CORETYPE) once, when it is loaded, i.e.
// before main(). Programs call this first thing in main(); it makes the choice explicit:
//   NG_BLAS_CORE=auto (default): SkylakeX kernels (AVX-512) when the CPU has AVX-512
//       F/BW/DQ/VL, else whatever OPENBLAS_CORETYPE or OpenBLAS's detection gives;
//   NG_BLAS_CORE=keep: leave OPENBLAS_CORETYPE alone;
//   NG_BLAS_CORE=<name> (Haswell, SkylakeX, Cooperlake, Zen, ...): use that family.
// When the wanted family differs from OPENBLAS_CORETYPE, it sets the variable and re-runs
// the program once (execv of /proc/self/exe with the same arguments). Measured on the
// project's Zen 5 VM: SkylakeX runs our GEMMs 1.8-1.9x faster than Haswell (README).
void select_blas_core(char** argv);
// The family select_blas_core would pick here, and why (for messages).
std::string blas_core_choice();

// Our own hottest float32 kernels (GELU, AdamW) have AVX-512 builds, used when the CPU has
// AVX-512 unless NG_NO_AVX512=1 or set_avx512_kernels(false) (tests, A/B timing).
bool avx512_kernels();
void set_avx512_kernels(bool on);

}  // namespace ng

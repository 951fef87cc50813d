// One thread-count setting for our OpenMP kernels and OpenBLAS (which is built on the
// same OpenMP runtime, so the two share one pool and never oversubscribe the cores).
#pragma once
#include <string>

namespace ng {

// Threads for our kernels and OpenBLAS together (never both at once). Also applies the
// denormal setting below to every thread of the pool.
void set_num_threads(int n);
// The threads in use.
int num_threads();
// e.g. "threads: 2 (OpenMP); BLAS: OpenBLAS 0.3.21 ..., core Cooperlake (OpenBLAS's own
// choice), threading OpenMP, 2 threads; our kernels: ..."
std::string thread_config();

// OpenBLAS picks its kernel family (OPENBLAS_CORETYPE) once, when it is loaded, i.e.
// before main(). Some machines pin a family on purpose (older OpenBLAS builds compute wrong
// results with their auto-detected kernels on some processors), so by default normgrad
// never overrides it. Programs call this first thing in main():
//   NG_BLAS_CORE=auto (default; "keep" is the same): OPENBLAS_CORETYPE as the environment
//       sets it, or, when unset, OpenBLAS's own detection;
//   NG_BLAS_CORE=<name> (Haswell, SkylakeX, Cooperlake, Zen, ...): force that family. The
//       program re-runs itself once (execv of /proc/self/exe) with OPENBLAS_CORETYPE set,
//       then checks the family with a few small GEMMs in both transposes against a float64
//       reference (well under 10 ms) and exits with a one-line error naming the family if it
//       computes wrong results. Only force a family known to be correct on the machine.
void select_blas_core(char** argv);
// What is in effect and why (for thread_config and messages).
std::string blas_core_choice();

// The decision behind select_blas_core, as a pure function of the two variables' values
// (null = unset): the family to force ("" = none) and the reason, as printed.
struct BlasCoreDecision {
  std::string force, reason;
};
BlasCoreDecision decide_blas_core(const char* ng_blas_core, const char* openblas_coretype);

// The correctness probe: "" when `gemm` (row-major C = A B + beta C with optional
// transposes, alpha 1) matches a float64 reference on every probe shape, else the one-line
// message naming `family`.
using SgemmFn = void (*)(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda,
                         const float* B, int ldb, float beta, float* C, int ldc);
std::string blas_probe_error(const std::string& family, const SgemmFn& gemm);

// Our own hottest float32 kernels (GELU, AdamW) have AVX-512 builds, used when the CPU has
// AVX-512 unless NG_NO_AVX512=1 or set_avx512_kernels(false) (tests, A/B timing).
bool avx512_kernels();
void set_avx512_kernels(bool on);

// Denormal (subnormal) floats: x86 computes with them in microcode, up to ~100x slower per
// operation, and a saturated network makes many (tanh' and gradients decaying toward zero),
// so its speed would depend on its values. normgrad sets flush-to-zero and
// denormals-are-zero (the MXCSR's FTZ and DAZ bits) on the calling thread and on every
// OpenMP thread (our kernels' and OpenBLAS's) when the library loads and in
// set_num_threads: a result or input smaller than FLT_MIN (1.2e-38) counts as 0. This is
// PyTorch's torch.set_flush_denormal(True). NG_KEEP_DENORMALS=1 in the environment, or
// set_flush_denormals(false), keeps IEEE gradual underflow. Threads a program starts itself
// inherit the setting of the thread that starts them.
void set_flush_denormals(bool on);
// Whether the calling thread flushes denormals (both FTZ and DAZ set).
bool flush_denormals();

}  // namespace ng

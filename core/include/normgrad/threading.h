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
// The cores this process may run on (its CPU affinity mask), at most OMP_NUM_THREADS when
// that is set: the most threads worth starting.
int available_cores();
// e.g. "threads: 2 (OpenMP); BLAS: OpenBLAS 0.3.21 ..., core Cooperlake (OpenBLAS's own
// choice), threading OpenMP, 2 threads; our kernels: ..."
std::string thread_config();

// OpenBLAS picks its kernel family (OPENBLAS_CORETYPE) once, when it is loaded, i.e.
// before main(). Some machines pin a family on purpose (older OpenBLAS builds compute wrong
// results with their auto-detected kernels on some processors), so normgrad never overrides
// a set OPENBLAS_CORETYPE. Programs call this first thing in main():
//   NG_BLAS_CORE=auto (default): OPENBLAS_CORETYPE as the environment sets it; when unset,
//       OpenBLAS's own detection, unless that picked a generic family (SSE-era or AVX-only
//       kernels: Prescott, Nehalem, Sandybridge, ...) on a CPU whose CPUID (with the OS's
//       register support) offers AVX2 + FMA or AVX-512: then the matching family (Haswell,
//       SkylakeX, Cooperlake with AVX512-BF16) is forced as below; if OpenBLAS does not load it
//       (a build without that family) or it fails the probe, the program runs with
//       OpenBLAS's own choice (a warning for the probe) and says so in thread_config;
//   NG_BLAS_CORE=keep: OPENBLAS_CORETYPE or OpenBLAS's own detection, whatever it is;
//   NG_BLAS_CORE=<name> (Haswell, SkylakeX, Cooperlake, Zen, ...): force that family. The
//       program re-runs itself once (execv of /proc/self/exe) with OPENBLAS_CORETYPE set,
//       then checks the family with a few small GEMMs in both transposes against a float64
//       reference (well under 10 ms) and exits with a one-line error naming the family if it
//       computes wrong results. Only force a family known to be correct on the machine.
void select_blas_core(char** argv);
// What is in effect and why (for thread_config and messages).
std::string blas_core_choice();

// The vector instructions the CPU and the OS offer (CPUID and XGETBV, as GCC's
// __builtin_cpu_supports reads them).
struct CpuVectorIsa {
  bool avx2_fma = false;     // AVX2 and FMA3
  bool avx512 = false;       // AVX-512 F, CD, BW, DQ and VL (OpenBLAS's SkylakeX kernels)
  bool avx512_bf16 = false;  // and AVX512-BF16 (its Cooperlake kernels)
};
CpuVectorIsa cpu_vector_isa();
// The OpenBLAS family that matches `isa` ("" without AVX2 + FMA), and whether `family` (a
// name openblas_get_corename() gives) is generic: kernels older than AVX2 (0 for a name we
// do not know, which is left alone).
std::string blas_family_for(const CpuVectorIsa& isa);
bool blas_family_is_generic(const std::string& family);

// The decision behind select_blas_core, as a pure function of its inputs: the two
// variables' values (null = unset), the marker our own re-run leaves
// (NG_BLAS_CORE_APPLIED), the family OpenBLAS loaded and the CPU's instructions. `force`:
// the family to force ("" = none); `reason`: as printed; `automatic`: forced by the CPUID
// rule (a failed probe then falls back instead of stopping).
struct BlasCoreDecision {
  std::string force, reason;
  bool automatic = false;
};
BlasCoreDecision decide_blas_core(const char* ng_blas_core, const char* openblas_coretype,
                                  const char* applied = nullptr, const std::string& loaded = "",
                                  const CpuVectorIsa& isa = {});

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

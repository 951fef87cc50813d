// NG_HD marks a formula written once for the CPU and the GPU: host + device (inlined) under
// nvcc, a forced-inline host function otherwise (so GCC can vectorize the loop around it).
// Such formulas are templates over a math policy M (M::exp, M::tanh, ...): the CPU kernels
// instantiate them with their vectorizable functions (core/src/cpu/cpu_math.h), the CUDA
// kernels with CUDA's (cuda/src/device_math.cuh).
#pragma once

#if defined(__CUDACC__)
#define NG_HD __host__ __device__ __forceinline__
#else
#define NG_HD inline __attribute__((always_inline))
#endif

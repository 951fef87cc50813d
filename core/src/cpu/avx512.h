// AVX-512 builds of the hottest float32 kernels (GELU forward/backward, AdamW), chosen at
// run time when the CPU has AVX-512 F/BW/DQ/VL; everything else, and every CPU without
// it, takes the portable AVX2 code. avx512.cpp is the only file compiled for AVX-512, and
// its kernels inline everything they call (flatten), so no AVX-512 copy of a shared inline
// function can leak into the portable code.
#pragma once
#include <cstdint>

#include "pointwise.h"

namespace ng::cpu::avx512 {

bool cpu_has_avx512();  // AVX-512 F, BW, DQ and VL
bool enabled();         // CPU support, unless turned off with set_enabled(false) / NG_NO_AVX512=1
void set_enabled(bool on);

void gelu_erf(const float* x, float* y, int64_t n);
void gelu_erf_backward(const float* g, const float* x, float* out, int64_t n);
void adam(const AdamConsts<float>& k, float* p, const float* g, float* m, float* v, int64_t n);

}  // namespace ng::cpu::avx512

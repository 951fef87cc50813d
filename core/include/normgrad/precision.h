// Matrix products with bfloat16 inputs (PyTorch's autocast to bf16, for matmuls only).
// Under MatmulPrecision::BF16 every float32 matrix product of the backends (Linear, the LM
// head, matmul, and their backward products) rounds both operands to bfloat16 (8 bits of
// mantissa, round to nearest even) and accumulates in float32; weights, gradients,
// optimizer state, norms, softmax and attention's fused products stay float32. float64
// products are never rounded. Products of two bf16 values are exact in float32, so the
// result equals float32 matmul of the rounded operands: that is how the tests check it.
//
// Under MatmulPrecision::TF32 (PyTorch's allow_tf32 for matmuls) the same float32 products
// run with TF32 operands: 10 bits of mantissa, float32's exponent range, float32
// accumulation. On CUDA that is cuBLAS's TF32 tensor-core math (CUBLAS_TF32_TENSOR_OP_MATH)
// on the float32 tensors. The CPU has no TF32 unit, so it emulates it exactly as it does
// bf16: both operands rounded to 10 mantissa bits (round_to_tf32, nearest even), then sgemm.
// Products of two TF32 values (11-bit significands) are exact in float32, so the CPU result
// is the float32 product of the rounded operands; a CPU run shows the precision's effect on
// training, while its bits differ from a GPU run's (cuBLAS's own summation order and
// operand conversion), as float32 runs' do. It is slower than fp32 on the CPU (one rounded
// copy per operand), as bf16 is.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

namespace ng {

enum class MatmulPrecision { F32, BF16, TF32 };

// Process-wide; the default is F32.
void set_matmul_precision(MatmulPrecision p);
MatmulPrecision matmul_precision();
// "fp32" | "bf16" | "tf32" (as the CLI spells them); parse_matmul_precision throws on
// anything else.
std::string to_string(MatmulPrecision p);
MatmulPrecision parse_matmul_precision(const std::string& name);

// Sets the precision for a scope and restores the previous one at its end.
class MatmulPrecisionScope {
 public:
  explicit MatmulPrecisionScope(MatmulPrecision p) : saved_(matmul_precision()) {
    set_matmul_precision(p);
  }
  ~MatmulPrecisionScope() { set_matmul_precision(saved_); }
  MatmulPrecisionScope(const MatmulPrecisionScope&) = delete;
  MatmulPrecisionScope& operator=(const MatmulPrecisionScope&) = delete;

 private:
  MatmulPrecision saved_;
};

// x rounded to the nearest bfloat16 (ties to even), returned as the float32 of equal value:
// the low 16 bits are zero. Infinities stay; a NaN stays a NaN; values that round past
// bf16's largest finite value become infinity, as in IEEE rounding.
inline float round_to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) {
    u |= 0x00400000u;  // quiet NaN; keep its sign and top payload bits
  } else {
    u += 0x7fffu + ((u >> 16) & 1u);
  }
  u &= 0xffff0000u;
  std::memcpy(&x, &u, 4);
  return x;
}

// x rounded to the nearest TF32 value (10 mantissa bits, ties to even), returned as the
// float32 of equal value: the low 13 bits are zero. Infinities and NaNs as round_to_bf16;
// TF32 has float32's exponent range, so only values within half a TF32 step of FLT_MAX
// round to infinity.
inline float round_to_tf32(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) {
    u |= 0x00400000u;  // quiet NaN; keep its sign and top payload bits
  } else {
    u += 0xfffu + ((u >> 13) & 1u);
  }
  u &= 0xffffe000u;
  std::memcpy(&x, &u, 4);
  return x;
}

}  // namespace ng

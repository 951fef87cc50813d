#include "normgrad/precision.h"

#include <atomic>

#include "normgrad/error.h"

namespace ng {
namespace {
std::atomic<MatmulPrecision> g_precision{MatmulPrecision::F32};
}

void set_matmul_precision(MatmulPrecision p) { g_precision.store(p); }
MatmulPrecision matmul_precision() { return g_precision.load(); }

std::string to_string(MatmulPrecision p) {
  switch (p) {
    case MatmulPrecision::BF16:
      return "bf16";
    case MatmulPrecision::TF32:
      return "tf32";
    case MatmulPrecision::F32:
      break;
  }
  return "fp32";
}

MatmulPrecision parse_matmul_precision(const std::string& name) {
  if (name == "fp32") return MatmulPrecision::F32;
  if (name == "bf16") return MatmulPrecision::BF16;
  if (name == "tf32") return MatmulPrecision::TF32;
  fail("precision", "unknown matmul precision '", name, "' (fp32, tf32 or bf16)");
}

}  // namespace ng

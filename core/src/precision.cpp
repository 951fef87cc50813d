#include "normgrad/precision.h"

#include <atomic>

#include "normgrad/error.h"

namespace ng {
namespace {
std::atomic<MatmulPrecision> g_precision{MatmulPrecision::F32};
}

void set_matmul_precision(MatmulPrecision p) { g_precision.store(p); }
MatmulPrecision matmul_precision() { return g_precision.load(); }

std::string to_string(MatmulPrecision p) { return p == MatmulPrecision::BF16 ? "bf16" : "fp32"; }

MatmulPrecision parse_matmul_precision(const std::string& name) {
  if (name == "fp32") return MatmulPrecision::F32;
  if (name == "bf16") return MatmulPrecision::BF16;
  fail("precision", "unknown matmul precision '", name, "' (fp32 or bf16)");
}

}  // namespace ng

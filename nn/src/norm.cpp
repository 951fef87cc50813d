#include "normgrad/nn/norm.h"

#include <sstream>

#include "normgrad/ops.h"

namespace ng::nn {

namespace {
std::map<std::string, NormFactory>& registry() {
  static std::map<std::string, NormFactory> r;
  return r;
}
}  // namespace

bool register_norm(const std::string& kind, NormFactory factory) {
  registry()[kind] = std::move(factory);
  return true;
}

std::vector<std::string> norm_kinds() {
  std::vector<std::string> k;
  for (auto& [name, f] : registry()) k.push_back(name);
  return k;
}

std::shared_ptr<Norm> make_norm(const std::string& kind, int64_t channels, const NormOptions& o) {
  auto it = registry().find(kind);
  if (it == registry().end()) {
    std::ostringstream known;
    for (auto& k : norm_kinds()) known << " " << k;
    fail("make_norm", "unknown norm kind '", kind, "'; known:", known.str());
  }
  if (channels <= 0) fail("make_norm", "channels must be positive, got ", channels);
  return it->second(channels, o);
}

void Norm::check_input(const Tensor& x) const {
  if (x.dim() < 1 || x.size(-1) != channels_)
    fail(kind_.c_str(), "expects inputs with last dim ", channels_, ", got shape ",
         shape_str(x.shape()));
}

void Norm::make_affine(const NormOptions& o, bool with_bias) {
  if (o.affine) weight = register_parameter("weight", ones({channels_}));
  if (with_bias && o.bias) bias = register_parameter("bias", zeros({channels_}));
}

}  // namespace ng::nn

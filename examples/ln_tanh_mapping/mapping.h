// Why LayerNorm looks like tanh (DyT paper, Fig. 2/4, synthetic version): LayerNorm is
// linear within each token (slope 1/std of that token), but tokens that carry an extreme
// value have a large std and a flat slope; pooled over tokens, the (input, output) points
// trace an S-curve.
#pragma once
#include <vector>

#include "normgrad/normgrad.h"

namespace mapping {

using namespace ng;

struct Data {
  Tensor x, y;  // [tokens, channels] input and LayerNorm output (before the affine part)
};

// tokens x channels of N(0, 1); `spikes` random single elements multiplied by `factor`.
inline Data single_spikes(int64_t tokens, int64_t channels, int64_t spikes, double factor,
                          uint64_t seed) {
  Generator g(seed);
  std::vector<double> v = randn({tokens, channels}, {.dtype = DType::F64}, &g).to_vector();
  for (int64_t s = 0; s < spikes; ++s) v[g.randint(0, tokens * channels)] *= factor;
  const Tensor x = from_vector(v, {tokens, channels}, {.dtype = DType::F64});
  return {x, layer_norm(x, Tensor(), Tensor(), 1e-5)};
}

// A larger set-up where a few channels carry outliers in every token (as in real models).
inline Data outlier_channels(int64_t tokens, int64_t channels, int64_t outlier_channels,
                             double factor, uint64_t seed) {
  Generator g(seed);
  std::vector<double> v = randn({tokens, channels}, {.dtype = DType::F64}, &g).to_vector();
  std::vector<double> scale(channels, 1.0);
  for (int64_t c = 0; c < outlier_channels; ++c)
    scale[g.randint(0, channels)] = factor * g.uniform();
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t c = 0; c < channels; ++c) v[t * channels + c] *= scale[c];
  const Tensor x = from_vector(v, {tokens, channels}, {.dtype = DType::F64});
  return {x, layer_norm(x, Tensor(), Tensor(), 1e-5)};
}

}  // namespace mapping

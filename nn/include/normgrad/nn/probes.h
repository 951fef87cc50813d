// Inspection probes for a GPT: attach, run training steps as usual, and at chosen steps
// get one JSON object describing gradient flow. Probes only observe (forward hooks, tensor
// hooks, their own random generator): the run's numbers are the same with or without them.
//
// Recorded per step:
//   params: gradient norm and update/weight ratio of every parameter
//   blocks: norm of the gradient reaching each block's residual stream (its output)
//   norms:  for every norm layer: input mean / std / 1/std / max|x|, scalar parameters
//           (DyT alpha, DyISRU beta, ...), saturation fractions m > t for t in
//           0.5..3.0 where the kind defines m (NormKind::saturation: DyT's |alpha x|),
//           a fixed-size random sample of (input, output before the
//           affine part) pairs, and the largest singular value of the layer's Jacobian for a
//           few tokens (power iteration with vector-Jacobian products).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "normgrad/nn/gpt.h"
#include "normgrad/random.h"

namespace ng::nn {

struct ProbeOptions {
  int64_t scatter_points = 256;  // (input, output) pairs per norm layer
  int64_t jacobian_tokens = 4;   // tokens whose Jacobian spectrum is estimated
  int64_t power_iters = 20;
  uint64_t seed = 99;
};

// Records gradient-flow measurements of a GPT at chosen steps (see above).
class Probes {
 public:
  Probes(GPT& model, ProbeOptions o = {});
  ~Probes();
  Probes(const Probes&) = delete;
  Probes& operator=(const Probes&) = delete;

  // Arm before the forward pass of a step you want recorded; hooks are idle otherwise.
  void arm();
  // After backward, before clipping and optimizer.step(): gradient norms and a snapshot
  // of the weights (for the update/weight ratio).
  void before_update();
  // After optimizer.step(): the record for this step as one JSON line.
  std::string after_update(int64_t step);

 private:
  struct NormRecord;
  struct BlockRecord;
  GPT& model_;
  ProbeOptions o_;
  Generator gen_;
  bool armed_ = false;
  std::vector<std::pair<Module*, int>> hooks_;
  std::vector<std::unique_ptr<NormRecord>> norms_;
  std::vector<std::unique_ptr<BlockRecord>> blocks_;
  std::vector<std::pair<std::string, Tensor>> before_;
  std::vector<double> grad_norms_;
};

// Largest singular value of the Jacobian of norm.normalize at one token x ([C]): power
// iteration on J^T J where J v comes from differentiating a vector-Jacobian product.
double jacobian_top_singular_value(Norm& norm, const Tensor& x, int64_t iters, Generator& gen);

}  // namespace ng::nn

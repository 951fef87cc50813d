// Inspection probes for a GPT: attach, run training steps as usual, and at chosen steps
// get one JSON object describing gradient flow. Probes only observe (forward hooks, tensor
// hooks, their own random generator): the run's numbers are the same with or without them.
//
// Recorded per step:
//   params: gradient norm and update/weight ratio of every parameter
//   residual_grad: ||dL/dx|| at each block's output x (the residual stream). Raw: in a
//           pre-norm model it scales as 1/(the stream's size), so across norms it compares
//           stream sizes, not gradient flow.
//   residual_rms: RMS(x) of each block's output; relative_grad: ||dL/dx|| * RMS(x), which
//           scaling the stream by k leaves unchanged (tests/test_nn.cpp checks it)
//   norms:  for every norm layer: input mean / std / 1/std / RMS / max|x|, the output's RMS
//           (affine part included: LayerNorm's is ~1 whatever the input), scalar parameters
//           (DyT alpha, DyISRU beta, ...), saturation fractions m > t for t in
//           0.5..3.0 where the kind defines m (NormKind::saturation: DyT's |alpha x|),
//           a fixed-size random sample of (input, output before the affine part) pairs;
//           at a few tokens the Jacobian J of the normalization (before the affine part):
//           jacobian_sigma_max (largest singular value), jacobian_sigma_rel (the same times
//           the token's RMS: scale-free) and jacobian_radial (||J x/|x||| / sigma_max: 0 when
//           the layer removes the radial direction, as LayerNorm and RMSNorm do); and the
//           split of the gradient at the layer's input x, dL/dx = J_layer^T dL/dy + skip:
//           grad_in = ||dL/dx||, grad_norm_path = ||J_layer^T dL/dy|| (the whole layer, affine
//           included), grad_skip_path = ||the rest|| (the residual connection; 0 for ln_f),
//           norm_path_share = norm path / (norm path + skip path).
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
  void split_paths();  // norm path vs skip path, from the armed step's saved tensors
  std::vector<std::pair<std::string, Tensor>> before_;
  std::vector<double> grad_norms_;
};

// The Jacobian J = d normalize(x) / dx of a norm layer at one token x ([C]), applied without
// forming it: J^T u is a vector-Jacobian product, J v the derivative of J^T g in g.
class NormJacobian {
 public:
  NormJacobian(Norm& norm, const Tensor& x);
  Tensor jv(const Tensor& v) const;   // J v, [1, C]
  Tensor jtu(const Tensor& u) const;  // J^T u, [1, C]
  // Largest singular value: power iteration on J^T J from a random start drawn from gen.
  double top_singular_value(int64_t iters, Generator& gen) const;
  // ||J x / ||x|| ||: the gain along the token's own (radial) direction.
  double radial_gain() const;

 private:
  Tensor x_, y_, g_, h_;  // h_ = J^T g_, differentiable in g_
};

// Largest singular value of the Jacobian of norm.normalize at one token x ([C]).
double jacobian_top_singular_value(Norm& norm, const Tensor& x, int64_t iters, Generator& gen);

}  // namespace ng::nn

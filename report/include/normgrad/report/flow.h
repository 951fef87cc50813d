// Gradient flow in a comparison, in measures that compare across norms (nn/probes.h): per
// run, what its last probe record says; per variant, the table of the report's section
// "Gradient flow and the optimizer's hand" with the formula of every column.
//
// Why not the raw gradient: in a pre-norm block y = x + f(norm(x)) the gradient reaching the
// stream x scales as 1 / (the stream's size) (LayerNorm and RMSNorm are scale-invariant), and
// the streams of the norms differ by 10-100x, so a raw ratio compares stream sizes. The
// relative gradient ||dL/dx|| RMS(x), the Jacobian's sigma_max x RMS and the norm/skip split
// are unchanged when the stream is rescaled (tests/test_nn.cpp checks each).
#pragma once
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ngcli {

// One run's last probe record, reduced.
struct RunFlow {
  std::vector<double> relative, raw, stream_rms;  // per block (NaN where not recorded)
  double norm_path_share =
      NAN;                    // mean over the blocks' norms (ln_1, ln_2) of J^T g / (J^T g + skip)
  double sigma_rel = NAN;     // median over norms and tokens of sigma_max(J) x RMS(token)
  double radial = NAN;        // median over norms and tokens of |J x/|x|| / sigma_max
  double update_ratio = NAN;  // median over the blocks' matrices of |dW| / |W| at that step
  int64_t step = -1;
};
RunFlow run_flow(const std::vector<nlohmann::json>& probes);

// Geometric mean over blocks of a[b] / ref[b]: NaN without data, 0 when a has an exact zero.
double block_ratio(const std::vector<double>& a, const std::vector<double>& ref);
// A ratio column's words over seeds: "1.14x layernorm's", "vanished: exactly 0 at some block
// in 3 of 3 runs", "n/a".
std::string ratio_words(const std::vector<double>& ratios, const std::string& ref_spec);

// One variant's row of the flow table.
struct VariantFlow {
  std::string spec;
  std::vector<RunFlow> runs;      // finished runs with probes
  std::vector<double> clipped;    // per run: fraction of steps with gradient norm > clip
  std::vector<double> grad_norm;  // per run: median gradient norm (before clipping)
  double lr = NAN, final_lr = NAN, weight_decay = NAN, grad_clip = NAN;
};
// The markdown table, one row per variant, and the paragraph with every column's formula.
std::string flow_table(const std::vector<VariantFlow>& variants);
std::string flow_formulas();

}  // namespace ngcli

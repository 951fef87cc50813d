// `normgrad convert`: norm surgery on a trained model. The LayerNorm / RMSNorm layers at
// chosen positions are replaced by an element-wise kind (any with a stats init), their
// affine weights carried over, their own parameters set either to the kind's defaults or
// from statistics of the layer's inputs on training batches, chosen so that the new layer's
// slope at 0 equals the old layer's 1/std (DyISRU with scale sqrtc: Stollenwerk's exact
// element-wise counterpart of RMSNorm, beta = (C - 1) mean(x^2)). The report gives the
// validation loss before, right after (no training), and after K fine-tuning steps of the
// norm parameters only and of all parameters, on several seeds, against a control: the
// unconverted model fine-tuned the same way; --per-layer replaces one layer at a time.
#pragma once
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "normgrad/nn/gpt.h"
#include "normgrad/report/conclusions.h"

namespace ngcli {

struct ConvertOptions {
  std::string ckpt;
  std::vector<std::string> to = {"dyt", "dyisru"};  // target kinds
  std::string at = "all";  // all | attn | mlp | final | layer:N (both norms of block N)
  std::vector<std::string> inits = {"default", "stats"};
  std::string scale = "sqrtc";  // the new layers' output scale (NormOptions::scale)
  int64_t steps = 100;          // fine-tuning steps
  // Fine-tunings per model, each on its own batch order (seed = the run's seed + 1 + k): the
  // converted models and the unconverted control are compared by paired difference per seed.
  int seeds = 3;
  double lr = 1e-3;           // AdamW, constant, grad clip 1
  int64_t eval_batches = 40;  // validation batches of the run's batch size
  int64_t stats_batches = 8;  // training batches the input statistics are measured on
  bool per_layer = false;
  std::string data;  // default: the run's corpus
  std::string dir = "surgery";
  bool tensorboard = true;  // DIR/runs/<kind>-<init>-<norms|all>/: one TensorBoard run each
  bool quiet = false;
  bool figures = true;  // draw the report's figures (python3 + matplotlib); false: --figures 0
  // "cpu" or "cuda" (as train's --device): the model, the new layers and every batch live
  // there; the statistics and losses are read back to the host.
  std::string device = "cpu";
};

// Input statistics of one norm layer over many tokens: the mean over tokens of each
// token's mean square (what RMSNorm divides by) and of each token's variance (LayerNorm).
struct InputStats {
  double mean_square = 0, variance = 0;
  int64_t tokens = 0;
};

// The new layer's scalars from the old layer's input statistics (slope at 0 = 1/std, std
// from the old kind's own statistic); `source` is layernorm or rmsnorm. Keys are the
// options set (NormOptions::set), as the target kind's NormKind::stats_init gives them.
std::map<std::string, double> stats_init(const std::string& target, const std::string& source,
                                         const InputStats& s, int64_t channels,
                                         const std::string& scale);

struct SurgeryRow {
  std::string target, init;  // the control: the source kind, init "unconverted"
  double after = NAN;        // right after the surgery (the control: before it)
  // Val loss after fine-tuning, per seed (ConvertOptions::seeds), and their means.
  std::vector<SeedVal> norm_ft, all_ft;
  double after_norm_ft = NAN, after_all_ft = NAN;
  std::vector<double> curve_norm_ft, curve_all_ft;  // the first seed's val loss every steps/5
  std::map<std::string, std::map<std::string, double>> scalars;  // position -> values set
  // Against the control, paired by seed: d = val(this) - val(control) (conclusions.h rules
  // 1-3: better, worse or not resolved by the 95% paired t interval).
  PairedGap vs_control_norm, vs_control_all;
};
// A paired gap to the control in words: "not resolved (+0.0012 [-0.0040, +0.0064], p =
// 0.45)", "better by -0.0210 [...], p = ...", "worse by ...", "one seed: no claim (...)".
std::string versus_control(const PairedGap& g);
struct PerLayerRow {
  std::string target, position, init;
  double after = NAN;  // val loss with only this layer replaced, no training
};
struct ConvertResult {
  std::string source_kind;
  double before = NAN, unigram = NAN;
  std::vector<SurgeryRow> rows;
  SurgeryRow control;  // the unconverted model fine-tuned the same way (with --steps > 0)
  std::vector<PerLayerRow> per_layer;
  std::map<std::string, InputStats> stats;  // position -> statistics
  bool figures = false;
};

ConvertResult convert(const ConvertOptions& options);

// The positions `at` names in a model with n_layer blocks (an error for anything else).
std::vector<std::string> surgery_positions(const ng::nn::GPT& model, const std::string& at);

}  // namespace ngcli

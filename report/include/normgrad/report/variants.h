// Compare variants: a norm kind and a recipe, written kind[:key=value,key,...]
//   dyt                          Zhu et al.'s DyT exactly (alpha0 0.5, scale one)
//   dyt:alpha0=1,scale=sqrtc     Stollenwerk's +-sqrt(C)-bounded form, alpha0 1
//   dyt:embed_scale              the LLaMA recipe's learnable scalar after the embedding
// Keys are the config fields of the model, norm and optim groups (train.h); a bare key is
// `true`. The spec, as written, labels the variant in reports.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "normgrad/train/train.h"

namespace ngcli {

struct Variant {
  std::string spec, kind;
  std::vector<std::pair<std::string, std::string>> settings;
  // Set when some settings came from a recorded search (compare --tune run earlier, kept in
  // docs/recipes.md): the search in words and the keys it chose. The report then counts
  // those keys as searched, not set by hand.
  std::string search;
  std::vector<std::string> searched_keys;
  int64_t searched_at_steps = 0;  // the schedule length the search ran at
};

// Checks the kind and every key and value; errors are one line naming the bad part.
Variant parse_variant(const std::string& spec);
// base with the variant's kind at every position and its settings applied.
TrainConfig apply_variant(const TrainConfig& base, const Variant& v);
// The variant's exact formula per position, every learnable norm parameter with its
// initial value, and the paper each form and default comes from (markdown lines).
std::string describe_variant(const TrainConfig& c);
// What the figures plot for a run of this config (summary.json): the scalars its norms
// record in the probes (each kind's plot_scalars) and the names of its learnable norm
// scalars (for update/weight ratios), each once, in position order.
std::vector<std::string> plot_scalars(const TrainConfig& c);
std::vector<std::string> scalar_parameters(const TrainConfig& c);

}  // namespace ngcli

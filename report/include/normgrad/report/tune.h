// `compare --tune KEY=GRID`: every variant searched over the same grid of settings, on
// held-out seeds that no reported number uses, scored by the whole validation split; each
// variant then runs its reported seeds at its own chosen values. Equal budget by
// construction: a key must change every variant's formulas or optimizer (a DyT knob on a
// LayerNorm variant would give it duplicate runs and a smaller real search, so it is
// refused), and every variant runs every grid point on every held-out seed.
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "normgrad/report/runs.h"
#include "normgrad/report/variants.h"
#include "normgrad/train/train.h"

namespace ngcli {

struct TuneAxis {
  std::string key;
  std::vector<std::string> values;  // as written, e.g. "0.001"
};

// "lr=1e-3,2e-3,4e-3" or a geometric range "lr=1e-3..1.6e-2x2" (start, end, factor > 1;
// the end is included when the factor lands on it within 1e-9). Errors name the bad part.
TuneAxis parse_tune_axis(const std::string& spec);

// The grid's points: every combination, each as key=value settings in axis order.
using TunePoint = std::vector<std::pair<std::string, std::string>>;
std::vector<TunePoint> tune_points(const std::vector<TuneAxis>& axes);
std::string point_label(const TunePoint& p);  // "lr=0.002, warmup=100"

// Refuses a key that leaves some variant's formulas and optimizer unchanged across its grid.
void check_tune_axes(const TrainConfig& base, const std::vector<Variant>& variants,
                     const std::vector<TuneAxis>& axes);

// The variant with the point's settings replacing or added to its own, its spec rewritten
// to name them ("layernorm" at lr=0.004: "layernorm:lr=0.004").
Variant with_point(const Variant& v, const TunePoint& p);

// One variant's search result. A point is stable when every held-out run of it learned.
struct TuneResult {
  std::string spec;
  std::vector<TunePoint> points;
  std::vector<Stats> val;           // per point: whole-split val over the held-out seeds
  std::vector<std::string> labels;  // per point: "1 learning", "1 diverged", ...
  std::vector<bool> stable;
  size_t chosen = 0;  // the stable point with the lowest mean val (else the lowest finite)
  bool any_stable = false;
};

// The seeds a search uses: base.seed + kHeldOutSeedOffset + k (never a reported seed).
constexpr uint64_t kHeldOutSeedOffset = 100000;

// The whole search: every variant x point x held-out seed, run by `run` (compare's job
// pool), runs in DIR/search/<variant>/<point>/seed<N>, scored by their whole-split val
// loss. Each variant in `variants` is replaced by itself at its chosen point.
struct Search {
  std::vector<TuneAxis> axes;
  std::vector<TunePoint> points;
  std::vector<TuneResult> results;  // one per variant, in order
  std::string words;                // the search in words, for reports
  bool interrupted = false;         // a stop signal: results are incomplete, nothing chosen
  int signal = 0;                   // that signal
};
using JobRunner = std::function<JobsResult(std::vector<Job>&)>;
Search run_search(const TrainConfig& base, std::vector<Variant>& variants,
                  const std::vector<TuneAxis>& axes, int seeds, const std::string& dir,
                  double unigram, const JobRunner& run);

}  // namespace ngcli

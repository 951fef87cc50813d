// `compare --tune KEY=GRID`: every variant searched over the same grid of settings, on
// held-out seeds that no reported number uses, scored by the whole validation split; each
// variant then runs its reported seeds at its own chosen values. Equal budget by
// construction: a key must change every variant's formulas or optimizer (a DyT knob on a
// LayerNorm variant would give it duplicate runs and a smaller real search, so it is
// refused), and every variant runs every grid point on every held-out seed.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "runs.h"
#include "train.h"
#include "variants.h"

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

// The variant with the point's settings applied after its own (same spec: reports keep it).
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

}  // namespace ngcli

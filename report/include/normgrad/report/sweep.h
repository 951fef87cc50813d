// `normgrad sweep`: a grid of variants x values of one norm setting (alpha0 by default) x
// widths (x optionally depths), every cell trained with the same data, batches and seeds.
// Resumable: a finished run (or one that diverged) is never rerun, a cut one continues from
// its checkpoint. Writes sweep.csv (one line per run), summary.json, report.md with the best
// value per width and what the numbers say about the trend, and figures (plot_sweep.py).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "normgrad/report/runs.h"
#include "normgrad/report/variants.h"
#include "normgrad/train/train.h"

namespace ngcli {

struct SweepOptions {
  std::vector<Variant> variants;    // empty: dyt:scale=sqrtc
  std::string param = "alpha0";     // any recipe field with numeric values (alpha0, beta0, ...)
  std::vector<std::string> values;  // empty: 0.5 1 2 4 8 16
  std::vector<int64_t> widths;      // empty: 64 128 256
  std::vector<int64_t> layers;      // empty: the base config's n_layer
  int seeds = 2;
  std::string dir = "sweep";
  int jobs = 0;  // parallel processes; 0: one per core
  std::string exe = "/proc/self/exe";
  // Several ranks (mpirun): the runs are dealt out over them; rank 0 writes the report. A
  // killed distributed sweep resumes like a local one (rerun the same command).
  std::shared_ptr<ng::dist::Communicator> comm;
  bool figures = true;  // draw the report's figures (python3 + matplotlib); false: --figures 0
};

// One cell of the grid: every seed of one variant, value, width and depth.
struct SweepCell {
  std::string variant, value;
  int64_t width = 0, layers = 0;
  std::vector<RunOutcome> runs;
  Stats val;           // over the seeds whose runs finished (see finished())
  std::string labels;  // "2 learning", "1 learning, 1 diverged", ...
  bool best = false;   // the lowest mean val loss of its (variant, width, layers) row
};

struct SweepResult {
  std::vector<SweepCell> cells;
  double unigram = NAN;
  int ran = 0, reused = 0;  // runs trained (or continued) now, runs found finished
  bool interrupted = false, figures = false;
  int signal = 0;       // the stop signal when interrupted: the command exits 128 + it
  std::string finding;  // what the best values per width say, one line per variant x depth
};

SweepResult sweep(const TrainConfig& base, const SweepOptions& options);

// "shrinks", "grows", "stays", "no monotone trend" or (under 2 values) "cannot be judged":
// how the best value moves as the width grows (bests in order of increasing width).
std::string trend(const std::vector<double>& best_by_width);

// One width's best cell of a (variant, depth) row and the values tied with it.
struct WidthBest {
  int64_t width = 0;
  std::string value;              // "" when no cell of this width learned
  double val = NAN;               // its mean val loss
  std::vector<std::string> tied;  // values within the seeds' spread of it
};
// The finding for one row, derived from the bests by sweep_finding_rules(): one or two plain
// sentences, e.g. "the best alpha0 shrinks as the width grows: 8 at width 64 (val 2.5770), ...".
std::string best_value_finding(const std::string& param, const std::vector<WidthBest>& by_width);
std::string sweep_finding_rules();

}  // namespace ngcli

// `normgrad compare`: every variant (a norm kind and a recipe, variants.h) trained with the
// same data, batches and seeds, several seeds each, then a report folder: report.md,
// summary.json and PNG figures drawn by plot_report.py. Every run is labelled from its own
// measurements: learning, collapsed to the unigram baseline, under-trained (near it and still
// improving), diverged (step named), or interrupted; a difference smaller than the seeds'
// spread is marked as such.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "normgrad/report/runs.h"
#include "normgrad/report/tune.h"
#include "normgrad/report/variants.h"
#include "normgrad/train/train.h"

namespace ngcli {

struct CompareOptions {
  std::vector<Variant> variants;       // empty: the default list (default_variants())
  int seeds = 3;                       // seed k of every variant is base.seed + k
  std::string dir = "compare-report";  // not "report": the source folder of that name
  int jobs = 0;  // runs in parallel (processes); 0: one per core, each single-threaded
  // The normgrad binary the parallel runs execute (`exe train ...`); jobs = 1 runs in-process.
  std::string exe = "/proc/self/exe";
  // Several ranks (mpirun): the runs are dealt out over them; rank 0 writes the report.
  std::shared_ptr<ng::dist::Communicator> comm;
  // --tune: search every variant over these axes first (tune.h), on tune_seeds held-out
  // seeds; the reported seeds then run at each variant's chosen point.
  std::vector<TuneAxis> tune;
  int tune_seeds = 1;
  // --steps-ladder: the same recipes and seeds trained at each of these schedule lengths
  // (ascending, distinct; the search runs at the first); empty: base.max_steps alone.
  std::vector<int64_t> steps_ladder;
  bool figures = true;  // draw the report's figures (python3 + matplotlib); false: --figures 0
};

struct CompareResult {
  std::vector<RunOutcome> runs;
  double unigram = NAN;  // the val loss of character frequencies alone
  bool figures = false;  // false when python3 / matplotlib are missing
  // Ctrl-C (SIGINT) stopped it: runs cut short or never started are labelled interrupted,
  // the report is still written, and the command exits with 130.
  bool interrupted = false;
  int signal = 0;  // the stop signal (SIGINT, SIGTERM, SIGHUP): the command exits 128 + it
};

// The fair default: each kind with the recipe that trains at this scale (an alpha0 search
// on a seed that is not reported: docs/recipes.md), plus Zhu et al.'s plain DyT.
std::vector<Variant> default_variants();

CompareResult compare(const TrainConfig& base, const CompareOptions& options);
// One seed of each plain kind, in this process (the examples' form).
CompareResult compare(const TrainConfig& base, const std::vector<std::string>& kinds,
                      const std::string& dir);
// Where compare keeps the run of variant `spec` with seed `seed`; a schedule length other
// than the ladder's first (steps > 0) gets its own folder beside it.
std::string run_dir(const std::string& report_dir, const std::string& spec, uint64_t seed,
                    int64_t steps = 0);

}  // namespace ngcli

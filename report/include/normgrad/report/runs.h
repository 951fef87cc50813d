// Training runs for the commands that run many (compare, sweep): a pool of `normgrad train`
// processes or runs in this process, Ctrl-C handling, and each run's outcome read back from
// its own files (metrics, probes, log) with a health label computed from the numbers.
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "normgrad/train/train.h"

namespace ngcli {

struct Job {
  std::string variant;  // what the report calls it
  TrainConfig cfg;      // cfg.resume: continue the run in cfg.out
  // When set, {"code", "message", "config"} is written there as soon as the run finishes or
  // diverges, so a rerun of a killed compare or sweep knows which runs are done.
  std::string outcome_file;
};

struct JobsResult {
  std::vector<int> codes;             // exit codes: 0 done, 3 diverged, 130 interrupted/not run
  std::vector<std::string> messages;  // the run's last line (its log, or train()'s message)
  bool interrupted = false;  // a stop signal: running jobs were stopped, no new one started
  int signal = 0;            // that signal (SIGINT, SIGTERM or SIGHUP)
};

// parallel > 1: child `exe train ...` processes, `parallel` at a time, output in
// OUT/train.log; otherwise one after another in this process. On SIGINT (Ctrl-C), SIGTERM
// or SIGHUP every running run gets that signal, saves a checkpoint and stops; no new run
// starts.
//
// comm with several ranks (mpirun): the jobs are dealt out in a fixed order (job i to rank
// i mod N), each rank runs its own one after another in this process with cores / ranks-on-
// this-host threads, and every rank returns the results of all jobs. Run folders must be on
// a file system all ranks see (one host, or a shared one on a cluster).
JobsResult run_jobs(const std::vector<Job>& jobs, int parallel, bool quiet, const std::string& exe,
                    std::shared_ptr<ng::dist::Communicator> comm = nullptr);

// ---- a rerun of compare or sweep: finished runs kept, cut runs continued ----
// What an earlier compare or sweep left in a job's folder.
struct EarlierRun {
  bool finished = false;  // its outcome.json says it ended (done or diverged): kept as it is
  int code = 130;
  std::string message;
};
// Plans `job` (job.cfg.resume, job.cfg.overwrite, job.outcome_file) from its folder: a
// finished run is kept, a cut one continues from its checkpoint (train --resume: bit for
// bit), anything else starts anew over partial files. A run whose recorded settings
// (outcome.json's, else its checkpoint's) differ from job.cfg is an error naming the folder
// and the first setting that differs, unless `replace` (--overwrite): then it starts anew.
EarlierRun plan_rerun(Job& job, bool replace, const char* command);
// Runs the jobs not finished earlier with `run` (a run_jobs call; also with none, so that
// every MPI rank takes part); every job's code and message, a finished one's as recorded.
JobsResult run_unfinished(const std::vector<Job>& jobs, const std::vector<EarlierRun>& earlier,
                          const std::function<JobsResult(std::vector<Job>&)>& run);

// One run's outcome and its label, computed from its metrics and probes.
struct RunOutcome {
  std::string variant, out;
  uint64_t seed = 0;
  int64_t steps = 0;
  double train_loss = NAN, val_loss = NAN, tokens_per_s = NAN;
  double train_s = NAN, probe_s = NAN, eval_s = NAN;  // time in plain steps, probe steps, evals
  std::string label;     // learning | collapsed | under-trained | diverged | interrupted | failed
  std::string evidence;  // the measurements behind the label
  // val_loss is the whole validation split's (the run's last evaluation) rather than the
  // loss curve's sampled batches (a run cut before its last step has only those).
  bool val_whole_split = false;
  // The optimizer's hand, from metrics.jsonl's global gradient norm of every step (before
  // clipping): the share of steps it exceeded grad_clip (rescaled to it), and its median.
  double clipped_fraction = NAN, median_grad_norm = NAN;
};

// A run whose last evaluation is its result: it learned, collapsed or was under-trained (a
// diverged, failed or cut run's last evaluation is not); means, gaps and searches use these
// runs only.
inline bool finished(const std::string& label) {
  return label == "learning" || label == "collapsed" || label == "under-trained";
}
// "2 learning, 1 diverged": label -> count, in label order.
std::string count_labels(const std::map<std::string, int>& count);

// How much a run's training loss still fell at its end: the mean over the last quarter of
// its recorded steps minus the mean over the quarter before, and that difference's standard
// error (from the two windows' sample sds). n/a (drop NAN) under 8 recorded steps.
struct LateDrop {
  double drop = NAN, se = NAN;  // drop > 0: the loss fell
  int64_t from = 0, to = 0;     // the steps the two windows span
};
// loss: step -> training loss of that step.
LateDrop late_drop(const std::map<int64_t, double>& loss);
// Stopped improving: the late drop is under `margin` nats even at two standard errors
// (drop + 2 se < margin). A curve too short (n/a) or too noisy to show it has not stopped.
bool stopped_improving(const LateDrop& d, double margin = 0.1);
// What the health label sees of a run besides how it ended.
struct RunCurve {
  std::map<int64_t, double> loss;  // step -> training loss
  int64_t warmup = 0, max_steps = 0;
};
// The label of a run from its numbers: diverged / interrupted from how it ended; a final val
// loss within `margin` nats of the unigram baseline (or above it) is *collapsed* when the run
// left its warmup (max_steps > warmup) and its training loss stopped improving
// (stopped_improving with the same margin), *under-trained* otherwise; *learning* below.
std::string health_label(bool diverged, bool interrupted, double val_loss, double unigram,
                         const RunCurve& curve, double margin = 0.1);
// The rule above in words, for the reports.
std::string health_rules();
// A finished job's outcome from its files, exit code and last message.
RunOutcome read_outcome(const Job& job, int code, const std::string& message, double unigram);

// ---- small helpers shared by the reports ----
std::vector<nlohmann::json> read_jsonl(const std::string& path);
std::string slug(const std::string& spec);  // a file-name-safe form
std::string fmt(const char* format, double x);
struct Stats {
  double mean = NAN, sd = NAN;
  int n = 0;
};
Stats stats(const std::vector<double>& v);  // over the finite values; sd is the sample sd
double median(std::vector<double> v);       // over the finite values; NaN without any
std::string pm(const Stats& s, const char* format = "%.4f");  // "mean ± sd" or "n/a"
// The `key=value` items (as TrainConfig::describe() writes them) that every description
// has, in the first one's order: the settings every run of a report actually uses.
std::string common_settings(const std::vector<std::string>& described);
// The keys of the items not in `common` (from common_settings), in first-seen order:
// "n_embd, alpha0, seed".
std::string differing_keys(const std::vector<std::string>& described, const std::string& common);
// Writes a report file atomically.
void write_text(const std::string& path, const std::string& text);
// Runs a figure script with Debian's python3 (the one python3-matplotlib installs into):
// it reads DIR/summary.json, whose run folders are relative to RUNS_DIR ("": DIR), and
// writes its figures and DIR/plot.log; false when python3 or matplotlib is missing or the
// script fails.
bool run_plot_script(const std::string& script, const std::string& dir,
                     const std::string& runs_dir = "");
// A figure script (plot_report.py, ...): in the folder set_script_dir named, else next to
// the running program: beside it (the build tree copies them there), in ../share/normgrad
// (installed), or in ../bin (a test binary in the build tree); "" when none is there.
std::string find_script(const std::string& name);
// Where find_script looks first: for a program that is not the normgrad command (the Python
// package, whose running program is python, ships the scripts in its own folder). "": none.
void set_script_dir(const std::string& dir);

}  // namespace ngcli

// Training runs for the commands that run many (compare, sweep): a pool of `normgrad train`
// processes or runs in this process, Ctrl-C handling, and each run's outcome read back from
// its own files (metrics, probes, log) with a health label computed from the numbers.
#pragma once
#include <cmath>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "normgrad/train/train.h"

namespace ngcli {

struct Job {
  std::string variant;  // what the report calls it
  TrainConfig cfg;      // cfg.resume: continue the run in cfg.out
  // When set, {"code", "message"} is written there as soon as the run finishes or diverges
  // (in-process and distributed runs), so a killed sweep knows which runs are done.
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

// One run's outcome and its label, computed from its metrics and probes.
struct RunOutcome {
  std::string variant, out;
  uint64_t seed = 0;
  int64_t steps = 0;
  double train_loss = NAN, val_loss = NAN, tokens_per_s = NAN;
  double train_s = NAN, probe_s = NAN, eval_s = NAN;  // time in plain steps, probe steps, evals
  std::string label;     // learning | collapsed | diverged | interrupted | failed
  std::string evidence;  // the measurements behind the label
  // val_loss is the whole validation split's (the run's last evaluation) rather than the
  // loss curve's sampled batches (a run cut before its last step has only those).
  bool val_whole_split = false;
};

// A run whose last evaluation is its result: it learned or collapsed (a diverged, failed or
// cut run's last evaluation is not); means, gaps and searches use these runs only.
inline bool finished(const std::string& label) {
  return label == "learning" || label == "collapsed";
}
// "2 learning, 1 diverged": label -> count, in label order.
std::string count_labels(const std::map<std::string, int>& count);
// The label of a run from its numbers: diverged / interrupted from how it ended, collapsed
// when its final val loss is within `margin` nats of the unigram baseline (or above it).
std::string health_label(bool diverged, bool interrupted, double val_loss, double unigram,
                         double margin = 0.1);
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
std::string pm(const Stats& s, const char* format = "%.4f");  // "mean ± sd" or "n/a"
// Writes a report file atomically.
void write_text(const std::string& path, const std::string& text);
// Runs a figure script on a report folder with Debian's python3 (the one
// python3-matplotlib installs into), its output in DIR/plot.log; false when python3 or
// matplotlib is missing or the script fails.
bool run_plot_script(const std::string& script, const std::string& dir);
// Before a report's first run: removes the report files an earlier command left in DIR
// (report.md, summary.json, figures.json, sweep.csv), so a report on disk always describes
// the runs beside it: a command killed mid-way leaves no report rather than an old one
// beside replaced runs (the new files are written atomically at the end).
void retract_report(const std::string& dir);
// A figure script (plot_report.py, ...): in the folder set_script_dir named, else next to
// the running program: beside it (the build tree copies them there), in ../share/normgrad
// (installed), or in ../bin (a test binary in the build tree); "" when none is there.
std::string find_script(const std::string& name);
// Where find_script looks first: for a program that is not the normgrad command (the Python
// package, whose running program is python, ships the scripts in its own folder). "": none.
void set_script_dir(const std::string& dir);

}  // namespace ngcli

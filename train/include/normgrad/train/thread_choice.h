// `--threads 0` (the default): the thread count a CPU run uses is measured for its model, not
// taken from the core count. A tiny model on many cores spends its matrix products in
// OpenMP fork/join and OpenBLAS's hand-offs; a large one wants every core.
//
// The measurement times the matrix products of one training step of this model (each
// Linear's forward, input-gradient and weight-gradient product and the LM head's, at the
// run's batch x block tokens) on scratch buffers at each candidate count, before the first
// step: no weight, random stream or norm state is touched. OpenBLAS's sums are not bitwise
// the same at every thread count (ulp-level), so the choice is kept where it can be: in a
// cache file per machine and model shape (a later run of the same shape uses it without
// timing, so two runs give the same numbers), and in the checkpoint (--resume continues
// at the saved count).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "normgrad/train/config.h"

namespace ngcli {

// The search: candidates from `cores` down (cores, then the powers of two below it: 16, 8,
// 4, 2, 1; 6, 4, 2, 1). One untimed warm-up (first touch of every buffer, the pool's
// start), then `rounds` rounds over all candidates, the order reversed every other round
// (this VM's speed drifts; interleaving spreads a slow phase over every candidate), each
// scored by its fastest measurement. The largest count within kTie (5%) of the fastest wins.
class ThreadChoice {
 public:
  static constexpr double kTie = 0.05;
  explicit ThreadChoice(int cores, int rounds = 5);
  // The thread count to measure next (or the chosen one, once done()).
  int next() const { return current_; }
  // One measurement at next() threads took `seconds`; true when it ended the search.
  bool record(double seconds);
  bool done() const { return done_; }
  // "4 of 16 (fastest of 5, ms: 16: 80.10, 8: 45.20, 4: 30.30, 2: 33.00, 1: 51.00)"
  std::string summary() const;
  const std::vector<int>& candidates() const { return candidates_; }
  // Measurements a full search takes (the warm-up included).
  int measurements() const { return 1 + rounds_ * (int)candidates_.size(); }

 private:
  std::vector<int> candidates_;
  std::vector<double> best_s_;  // per candidate
  int rounds_, current_, cores_;
  int taken_ = -1;  // measurements so far; -1: the warm-up is next
  bool done_ = false;
  int candidate_at(int k) const;  // the candidate of measurement k (0-based, after warm-up)
};

// Restores the thread count it found when it ends (train() and the measurement use it).
class ThreadCountScope {
 public:
  ThreadCountScope();
  ~ThreadCountScope();
  ThreadCountScope(const ThreadCountScope&) = delete;
  ThreadCountScope& operator=(const ThreadCountScope&) = delete;

 private:
  int saved_;
};

// The thread count for a run and how it was found, as printed ("threads: ...").
struct ThreadPick {
  int threads = 1;
  std::string how;
};
// For `run` (threads == 0) with vocabulary `vocab` on the CPU: the saved run's count on
// --resume (`saved_threads` > 0), else the cache's for this machine and shape, else measured
// (and cached). `measure` times the step's products once at the current thread count (tests
// pass their own); empty: the real products.
ThreadPick pick_threads(const TrainConfig& run, int64_t vocab, int saved_threads = 0,
                        const std::function<double()>& measure = {});
// Where the cache lives: $NG_CACHE_DIR, else $XDG_CACHE_HOME/normgrad, else
// $HOME/.cache/normgrad ("" when none is set); the file is threads.json in it.
std::string thread_cache_path();

}  // namespace ngcli

// train(): open the session (session.cpp), then take steps until the schedule's end, a stop
// request or a divergence; after each step the observers (observers.cpp) record it, and
// evaluations and checkpoints happen when due.
#include "normgrad/train/train.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <nlohmann/json.hpp>
#include <vector>

#include "normgrad/normgrad.h"
#include "normgrad/optim.h"
#include "normgrad/train/speed.h"
#include "normgrad/train/thread_choice.h"
#include "observers.h"
#include "session.h"

namespace ngcli {
using json = nlohmann::json;
using namespace ng;

namespace {

// The signals that ask a run to stop: Ctrl-C (SIGINT), a service manager or `kill`
// (SIGTERM), a closed terminal or ssh session (SIGHUP). Each finishes the step, saves a
// checkpoint and ends the run with 128 + the signal as its exit code.
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};
std::atomic<int> g_stop_signal{0};  // the first stop signal received; 0: none
void on_stop_signal(int sig) {
  int none = 0;
  g_stop_signal.compare_exchange_strong(none, sig);
}

// Installs the stop handlers for train()'s lifetime and restores the previous ones however
// it ends (return or exception).
struct StopSignalScope {
  void (*previous[std::size(kStopSignals)])(int);
  StopSignalScope() {
    g_stop_signal = 0;
    for (size_t i = 0; i < std::size(kStopSignals); ++i)
      previous[i] = std::signal(kStopSignals[i], on_stop_signal);
  }
  ~StopSignalScope() {
    for (size_t i = 0; i < std::size(kStopSignals); ++i) std::signal(kStopSignals[i], previous[i]);
  }
};

std::string fmt_loss(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", x);
  return b;
}

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The loop's state between steps: where the schedule ends, the timers, the steps whose
// loss and gradient norm still wait on the device, and the result so far.
class Loop {
 public:
  Loop(Session& s, RunLog& log, int64_t last, const StepCallback& on_step)
      : s_(s), log_(log), last_(last), first_(s.step), t0_(Clock::now()), on_step_(on_step) {
    res_.final_train_loss = res_.final_val_loss = NAN;  // until this segment evaluates
    // On a GPU (one process) a step's loss and gradient norm stay on the device, and the
    // queued steps are read back together (one wait for the device) every log_interval
    // steps and before anything that needs them: evaluations, checkpoints, probes,
    // samples, Ctrl-C, the last step. Reading them every step would make the host wait
    // for the GPU every step. A divergence is then named with its own step, found at the
    // readout; the steps queued after it have run (on NaN weights), but nothing after it
    // is saved. NG_DEFER_READOUT=1 takes this path on the CPU too (the tests check it).
    const char* env = std::getenv("NG_DEFER_READOUT");
    defer_readout_ = s.ranks == 1 && (s.dev != Device::CPU || (env && std::string(env) == "1"));
    // MFU's two sides: the model FLOPs of a step (speed.h), and the peak of every rank's
    // device measured here, under the run's threads and matmul precision.
    flops_per_step_ = train_flops_per_token(s.model.num_parameters(), s.run.n_layer, s.run.n_embd,
                                            s.run.block_size) *
                      tokens_per_step();
    peak_flops_ = measured_peak_flops(s.dev) * (double)s.ranks;
  }
  // One training step and what follows it; false when the run ends here.
  bool step();
  TrainResult finish();

 private:
  struct Queued {
    int64_t step;
    double lr;
    Tensor loss, gnorm;
    double train_s;  // the run's timers and training-step count after the step
    int64_t train_steps;
    double probe_s, eval_s;
    Clock::time_point queued_at;
  };
  struct Readout {
    bool ok;
    double loss, gnorm;  // of the newest queued step
  };

  bool readout_due(int64_t at, bool stopping) const;
  Readout read_queued(bool record_newest);
  double tokens_per_s(int64_t steps, double seconds) const {
    // every micro-batch of a step counts (--grad-accum): the tokens the step learned from
    return seconds > 0 ? (double)steps * tokens_per_step() / seconds : 0.0;
  }
  double tokens_per_step() const {
    return (double)s_.run.batch * (double)s_.run.grad_accum * (double)s_.run.block_size;
  }
  // ms_per_iter and mfu of the training steps so far (the steps tokens/s counts).
  void add_speed(json& m, int64_t steps, double seconds) const {
    m["ms_per_iter"] = steps > 0 ? 1000.0 * seconds / (double)steps : 0.0;
    m["mfu"] = seconds > 0 ? flops_per_step_ * (double)steps / seconds / peak_flops_ : 0.0;
  }
  void diverge(int64_t at, const std::string& what);
  void diverged_loss(int64_t at, double loss, const std::string& when);
  void diverged_grad(int64_t at, double loss, const std::string& when);
  bool after_step(double lr, double gnorm, bool probing, bool stop, Clock::time_point step_t0);

  Session& s_;
  RunLog& log_;
  const int64_t last_, first_;
  const Clock::time_point t0_;
  const StepCallback& on_step_;
  bool defer_readout_ = false;
  double flops_per_step_ = 0, peak_flops_ = 1;
  // tokens/s counts training steps only: steps that record probes (hooks, Jacobians) and
  // the time of evaluations and checkpoints are measured apart.
  double train_s_ = 0, probe_s_ = 0, eval_s_ = 0;
  int64_t train_steps_ = 0;
  double last_loss_ = NAN;
  std::vector<Queued> queued_;
  TrainResult res_;
};

void Loop::diverge(int64_t at, const std::string& what) {
  res_.diverged = true;
  res_.message =
      "diverged at step " + std::to_string(at) + ": " + what + "; checkpoint: " +
      (s_.good_step >= 0 ? s_.ckpt + " from step " + std::to_string(s_.good_step) +
                               " is the last good one (finite weights and loss)"
                         : "none written (the first was due at step " +
                               std::to_string(std::min(s_.run.ckpt_interval, last_)) + ")");
  std::fprintf(stderr, "\n%s\n", res_.message.c_str());
}

void Loop::diverged_loss(int64_t at, double loss, const std::string& when) {
  const std::string bad = first_non_finite(s_.model.named_parameters(), false);
  diverge(at, "loss " + std::to_string(loss) + " in the forward pass" + when +
                  (bad.empty() ? " with finite parameters"
                               : "; first non-finite parameter value: " + bad));
}

void Loop::diverged_grad(int64_t at, double loss, const std::string& when) {
  const std::string bad = first_non_finite(s_.model.named_parameters(), true);
  diverge(at, "loss " + std::to_string(loss) + when +
                  (bad.empty() ? ", the gradient norm overflows float64"
                               : ", first non-finite gradient in " + bad));
}

bool Loop::readout_due(int64_t at, bool stopping) const {
  const TrainConfig& run = s_.run;
  auto every = [&](int64_t n) { return n > 0 && at % n == 0; };
  return stopping || at == last_ || at == run.max_steps || every(run.log_interval) ||
         every(run.eval_interval) || every(run.ckpt_interval) || every(run.sample_interval) ||
         log_.probes_at(at + 1) || queued_.size() >= 1000;
}

// Reads every queued step back, checks it as the per-step path does, and records the
// metrics of each (but the newest when the caller records that one).
Loop::Readout Loop::read_queued(bool record_newest) {
  if (queued_.empty()) return {true, NAN, NAN};
  TensorList parts;
  for (const auto& q : queued_) {
    parts.push_back(q.loss.to(DType::F64).reshape({1}));
    parts.push_back(q.gnorm.to(DType::F64).reshape({1}));
  }
  const std::vector<double> v = cat(parts, 0).to_vector();
  const std::string when = " (read back after step " + std::to_string(queued_.back().step) + ")";
  for (size_t i = 0; i < queued_.size(); ++i) {
    const Queued& q = queued_[i];
    const double l = v[2 * i], g = v[2 * i + 1];
    if (!std::isfinite(l) || !std::isfinite(g)) {
      s_.step = q.step - 1;  // the steps completed before it, as on the per-step path
      if (!std::isfinite(l))
        diverged_loss(q.step, l, when);
      else
        diverged_grad(q.step, l, when);
      queued_.clear();
      return {false, l, g};
    }
    if (i + 1 == queued_.size() && !record_newest) break;
    json m = {{"step", q.step},
              {"loss", l},
              {"lr", q.lr},
              {"grad_norm", g},
              {"tokens_per_s", tokens_per_s(q.train_steps, q.train_s)}};
    add_speed(m, q.train_steps, q.train_s);
    m.update({{"train_s", q.train_s},
              {"probe_s", q.probe_s},
              {"time_eval_s", q.eval_s},
              {"time_s", std::chrono::duration<double>(q.queued_at - t0_).count()}});
    log_.record(m);
    if (on_step_ && s_.lead) on_step_({q.step, l, ""});
  }
  const Readout r{true, v[v.size() - 2], v[v.size() - 1]};
  queued_.clear();
  return r;
}

bool Loop::step() {
  const TrainConfig& run = s_.run;
  const auto step_t0 = Clock::now();
  const double lr =
      optim::warmup_cosine(s_.step, run.lr, run.warmup, run.max_steps, run.final_lr());
  s_.opt.set_lr(lr);
  const bool probing = log_.probes_at(s_.step + 1);
  nn::set_norm_step(s_.model, s_.step);  // scheduled norms (TaperNorm) follow the run
  s_.opt.zero_grad();
  // --grad-accum N: N micro-batches of run.batch sequences, drawn one after another from the
  // batcher (a batch of B draws B offsets in order, so the N micro-batches are the sequences
  // one batch of N x B would hold). Each micro-batch's mean loss is scaled by 1/N before its
  // backward pass, so the summed gradients are those of the mean over all N x B sequences;
  // only the summation order differs from one big batch. `loss` is that mean.
  const int64_t accum = run.grad_accum;
  Tensor loss;
  for (int64_t k = 0; k < accum; ++k) {
    auto [xh, yh] = s_.data.batch(run.batch, false);
    const Tensor x = s_.my_rows(xh).to(s_.dev), y = s_.my_rows(yh).to(s_.dev);
    if (probing && k + 1 == accum) log_.arm_probes();  // probes see the last micro-batch
    Tensor micro = s_.model.loss(x, y);
    if (accum > 1) micro = micro * (1.0 / (double)accum);
    micro.backward();
    loss = k == 0 ? micro.detach() : loss + micro.detach();
  }
  // Once per step, after the last micro-batch: every rank now holds the global gradient.
  s_.averager.average(s_.model.parameters());
  if (probing) log_.probes_before_update(s_.step + 1);
  bool stop = g_stop_signal != 0;
  double gnorm = NAN;
  if (defer_readout_ && !probing) {
    // The loss and the gradient norm stay on the device until the next readout.
    const Tensor gn = optim::grad_norm_tensor(s_.model.parameters());
    optim::clip_grads_to(s_.model.parameters(), run.grad_clip, gn);
    s_.opt.step();
    ++s_.step;
    if (!readout_due(s_.step, stop)) {
      const auto now = Clock::now();
      train_s_ += std::chrono::duration<double>(now - step_t0).count();
      ++train_steps_;
      queued_.push_back(
          {s_.step, lr, loss.detach(), gn, train_s_, train_steps_, probe_s_, eval_s_, now});
      return true;
    }
    // The newest step: read back with the queued ones, recorded below as per step.
    queued_.push_back({s_.step, lr, loss.detach(), gn, 0, 0, 0, 0, step_t0});
    const auto [ok, l, g] = read_queued(false);  // one wait for the device
    if (!ok) return false;
    last_loss_ = l, gnorm = g;
  } else {
    if (!read_queued(true).ok) return false;  // steps still queued come first
    // The global loss, and whether any rank got Ctrl-C (all ranks stop at the same step).
    if (s_.ranks > 1) {
      Tensor agg = from_vector(std::vector<double>{loss.item(), stop ? 1.0 : 0.0}, {2});
      s_.comm->all_reduce_sum(TensorList{agg});
      const auto v = agg.to_vector();
      last_loss_ = v[0] / s_.ranks, stop = v[1] > 0;
    } else {
      last_loss_ = loss.item();
    }
    if (!std::isfinite(last_loss_)) {
      diverged_loss(s_.step + 1, last_loss_, "");
      return false;
    }
    // One pass over the gradients gives the norm and the finiteness check (the norm is
    // non-finite exactly when an element is); checked before clipping, which would spread
    // a NaN to every gradient.
    gnorm = optim::grad_norm(s_.model.parameters());
    if (!std::isfinite(gnorm)) {
      diverged_grad(s_.step + 1, last_loss_, "");
      return false;
    }
    optim::clip_grads_to(s_.model.parameters(), run.grad_clip, gnorm);
    s_.opt.step();
    ++s_.step;
  }
  return after_step(lr, gnorm, probing, stop, step_t0);
}

// The observers of a finished step: probes, timers, evaluations, metrics, progress, sample,
// checkpoint, and a stop request.
bool Loop::after_step(double lr, double gnorm, bool probing, bool stop, Clock::time_point step_t0) {
  const TrainConfig& run = s_.run;
  const int64_t step = s_.step;
  const std::string probes = probing ? log_.probes_after_update(step) : std::string();
  const double step_s = seconds_since(step_t0);
  if (probing) {
    probe_s_ += step_s;
  } else {
    train_s_ += step_s;
    ++train_steps_;
  }
  const double tps = tokens_per_s(train_steps_, train_s_);
  json m = {{"step", step}, {"loss", last_loss_}, {"lr", lr}, {"grad_norm", gnorm}};
  if (step % run.eval_interval == 0 || step == run.max_steps) {
    const auto e0 = Clock::now();
    m["val_loss"] = res_.final_val_loss = eval_loss(s_, true);
    m["train_loss_eval"] = res_.final_train_loss = eval_loss(s_, false);
    if (step == run.max_steps) {  // the run's result: the whole split
      m["val_loss_full"] = res_.final_val_loss = full_val_loss(s_);
      m["val_windows"] = s_.data.val_windows();
    }
    eval_s_ += seconds_since(e0);
  }
  const double secs = seconds_since(t0_);
  m["tokens_per_s"] = tps;  // training steps only
  add_speed(m, train_steps_, train_s_);
  m["train_s"] = train_s_;
  m["probe_s"] = probe_s_;
  m["time_eval_s"] = eval_s_;
  m["time_s"] = secs;
  log_.record(m);
  log_.progress(m, first_, secs);
  log_.sample(step);
  if (on_step_ && s_.lead) on_step_({step, last_loss_, probes});
  res_.tokens_per_s = tps;
  res_.train_seconds = train_s_;
  res_.probe_seconds = probe_s_;
  res_.eval_seconds = eval_s_;
  if (step % run.ckpt_interval == 0 || step == last_ || stop) {
    if (const std::string why = unsaveable(s_); !why.empty()) {
      diverge(step, why + " (not saved)");
      return false;
    }
    save_checkpoint(s_, step);
  }
  if (stop) {
    res_.interrupted = true;
    // another rank's signal stopped this one (MPI): counted as Ctrl-C
    res_.signal = g_stop_signal != 0 ? g_stop_signal.load() : SIGINT;
    res_.message = "interrupted" +
                   (res_.signal == SIGINT ? std::string() : " by " + signal_name(res_.signal)) +
                   ": checkpoint saved at step " + std::to_string(step) + " in " + s_.ckpt;
    std::printf("\n%s\n", res_.message.c_str());
    return false;
  }
  return true;
}

TrainResult Loop::finish() {
  res_.steps = s_.step;
  res_.seconds = seconds_since(t0_);
  if (!res_.diverged && !res_.interrupted && !s_.quiet) {
    const std::string losses =
        std::isfinite(res_.final_val_loss)
            ? "train " + fmt_loss(res_.final_train_loss) + ", val " + fmt_loss(res_.final_val_loss)
            : std::string("no evaluation in this segment");
    std::printf("done: %lld steps in %s, %s, %.0f tokens/s; checkpoint %s\n", (long long)s_.step,
                fmt_duration(res_.seconds).c_str(), losses.c_str(), res_.tokens_per_s,
                s_.ckpt.c_str());
  }
  return res_;
}

}  // namespace

std::string signal_name(int sig) {
  switch (sig) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
  }
  return "signal " + std::to_string(sig);
}

TrainResult train(const TrainConfig& cfg, std::shared_ptr<dist::Communicator> comm,
                  const StepCallback& on_step) {
  // the run's thread count (--threads, or the one measured for --threads 0) is the run's:
  // the caller's (a Python session, compare's next run) comes back when it ends
  const ThreadCountScope caller_threads;
  std::unique_ptr<Session> s = open_session(cfg, std::move(comm));
  // --precision bf16 / tf32: every matrix product of this run (training steps, probes and
  // evaluations) takes bf16- / tf32-rounded operands (tf32: cuBLAS's TF32 tensor-core math
  // on a GPU, the same rounding emulated on the CPU); weights and AdamW state stay float32.
  const MatmulPrecisionScope matmul_precision(parse_matmul_precision(s->run.precision));
  const TrainConfig& run = s->run;
  const int64_t last = run.stop_at > 0 ? std::min(run.stop_at, run.max_steps) : run.max_steps;
  RunLog log(*s, last);
  StopSignalScope stop_signals;
  Loop loop(*s, log, last, on_step);
  while (s->step < last && loop.step()) {
  }
  const TrainResult r = loop.finish();
  log.end(r.diverged, s->step == run.max_steps);
  return r;
}

}  // namespace ngcli

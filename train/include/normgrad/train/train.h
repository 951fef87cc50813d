// The training loop behind `normgrad train`: the public training API that the command, the
// examples, the tests and the Python bindings call.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "normgrad/dist.h"
#include "normgrad/train/config.h"

namespace ngcli {

struct TrainResult {
  int64_t steps = 0;
  double final_train_loss = 0, final_val_loss = 0, seconds = 0;
  // tokens/s of the training steps alone; the time of plain steps, of steps that recorded
  // probes, and of evaluations (all in seconds; seconds is the whole run's wall time)
  double tokens_per_s = 0, train_seconds = 0, probe_seconds = 0, eval_seconds = 0;
  bool diverged = false, interrupted = false;
  // interrupted: the signal that stopped it (SIGINT, SIGTERM or SIGHUP); the command exits
  // with 128 + signal (130 for Ctrl-C)
  int signal = 0;
  std::string message;
};

// One finished step for a caller that watches the run (the Python bindings' on_step): the
// step number, its training loss, and the probe record (the JSON line of probes.jsonl) when
// probes ran at this step, else empty. Not part of TrainConfig: a run's result never depends
// on who watches it.
struct StepInfo {
  int64_t step = 0;
  double loss = 0;
  std::string probes;
};
using StepCallback = std::function<void(const StepInfo&)>;
// "SIGINT", "SIGTERM", "SIGHUP", else "signal N".
std::string signal_name(int sig);

// comm (default: one process): data-parallel training over its ranks (see train.cpp).
// on_step runs on rank 0 after each step is recorded (on a GPU the loss waits on the device,
// so steps read back together reach it together); an exception it throws ends the run.
TrainResult train(const TrainConfig& cfg, std::shared_ptr<ng::dist::Communicator> comm = nullptr,
                  const StepCallback& on_step = {});

}  // namespace ngcli

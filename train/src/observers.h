// What a run writes besides its checkpoint, step by step: metrics.jsonl with the TensorBoard
// scalars, probes.jsonl (every probe record also as TensorBoard scalars, and gradient and
// parameter histograms at probe steps), samples, the run's hyperparameters (TensorBoard's
// hparams plugin), the model graph (its GRAPHS tab), and the console's progress line.
// Rank 0 writes.
#pragma once
#include <cstdint>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "normgrad/nn/probes.h"
#include "normgrad/train/tensorboard.h"
#include "session.h"

namespace ngcli {

std::string fmt_duration(double seconds);  // "42s", "3m07s"

class RunLog {
 public:
  // `last`: the step this segment ends at (TensorBoard flushes there).
  RunLog(Session& s, int64_t last);

  // Whether the step that ends at `step` records probes.
  bool probes_at(int64_t step) const { return probes_ && step % session_.run.probe_interval == 0; }
  bool probing() const { return probes_ != nullptr; }
  // Around a probe step: hooks before the forward pass, the gradients (and their
  // histograms) before the update, the record after it.
  void arm_probes() { probes_->arm(); }
  void probes_before_update(int64_t step);
  std::string probes_after_update(int64_t step);  // returns the record (JSON)

  // One line of metrics.jsonl and the TensorBoard scalars for a finished step.
  void record(const nlohmann::json& m);
  // The console line: every step on a terminal, else every log_interval and at evaluations.
  void progress(const nlohmann::json& m, int64_t first_step, double seconds);
  // Every sample_interval steps: 200 tokens from the model, on its own random stream.
  void sample(int64_t step);
  // The segment ended: a run that reached max_steps or diverged ends its TensorBoard
  // hparams session (an interrupted or --stop-at segment leaves it open for the resume).
  void end(bool diverged, bool complete);

 private:
  void append(std::ofstream& f, const std::string& line, const std::string& path);

  Session& session_;
  int64_t last_;
  bool tty_;
  std::unique_ptr<ng::nn::Probes> probes_;  // probes see rank 0's rows of each batch
  std::ofstream metrics_, probes_log_;
  // A new event file per segment: TensorBoard joins a resumed run's files by step.
  std::unique_ptr<TensorBoardWriter> tb_;
};

}  // namespace ngcli

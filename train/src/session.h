// What a training run holds while it runs (the model, optimizer, data, tokenizer, the ranks
// it spans) and the operations on it that are not a training step: setting it up (new,
// --resume or --init-from), evaluating, and saving a checkpoint. train.cpp runs the steps.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "normgrad/dist.h"
#include "normgrad/normgrad.h"
#include "normgrad/optim.h"
#include "normgrad/train/config.h"
#include "normgrad/train/data.h"
#include "normgrad/train/files.h"
#include "normgrad/train/saved_run.h"
#include "normgrad/train/tokenizer.h"

namespace ngcli {

// Setup's first half: the run's settings, the files it starts from, its tokenizer and data.
struct RunSource {
  TrainConfig run;  // the command line's settings, or the saved run's on --resume
  std::shared_ptr<ng::dist::Communicator> comm, tensor_comm;
  ng::Device dev = ng::Device::CPU;
  std::optional<SavedRun> saved;  // --resume
  std::optional<SavedRun> start;  // --init-from
  Tokenizer tok;
  RunData corpus;
  std::optional<RunData> val_corpus;  // --val-data
  FolderLock lock;                    // the run's folder is this run's (rank 0 holds it)
};

struct Session {
  explicit Session(RunSource& source);  // takes the source's lock and corpus ids

  // First: released last, after everything below (and the RunLog, which goes before the
  // session) has written its last byte.
  FolderLock lock;
  TrainConfig run;
  // Data parallel over comm's ranks: every rank holds the whole model and optimizer, draws
  // the same global batch and computes its own rows of it; gradients are averaged, so every
  // rank takes the same step. Rank 0 ("lead") writes the checkpoint, metrics and logs.
  std::shared_ptr<ng::dist::Communicator> comm, tensor_comm;
  int ranks = 1, rank = 0;
  bool lead = true, quiet = false;
  ng::Device dev = ng::Device::CPU;
  std::string ckpt, metrics_path, probes_path;
  Tokenizer tok;
  std::string fingerprint;      // of the corpus: a resumed run checks it trains on the same text
  std::string val_fingerprint;  // of --val-data's file ("" without one), checked alike
  Batcher data;
  ng::nn::GPT model;
  ng::optim::AdamW opt;
  ng::dist::GradientAverager averager;
  int64_t step = 0;
  int64_t good_step = -1;  // the newest checkpoint known to hold finite weights and loss

  // This rank's rows of a global batch: [rank * B/N, (rank + 1) * B/N).
  ng::Tensor my_rows(const ng::Tensor& t) const;
  // The mean loss over the global batch: the mean of the ranks' means (equal shard sizes).
  double global_mean(double local) const;
};

// A run ready to take its first step: settings checked, tokenizer and data loaded, the model
// new, resumed (weights, optimizer, data and dropout streams) or initialised from
// --init-from, and every rank holding rank 0's weights.
std::unique_ptr<Session> open_session(const TrainConfig& cfg,
                                      std::shared_ptr<ng::dist::Communicator> comm);

// The loss curve's evaluation: eval_iters batches of the val (or train) split at offsets
// drawn by a fixed generator, the same for every seed and step.
double eval_loss(Session& s, bool val);
// The reported val loss: mean cross-entropy over every window of the whole validation split.
double full_val_loss(Session& s);
// Why the model must not be saved now ("" when it may): a non-finite parameter, or a
// non-finite loss on a validation batch.
std::string unsaveable(Session& s);
// The first parameter, from the output back to the input (named_parameters() reversed:
// ln_f, blocks L-1 .. 0 with mlp, ln_2, attn, ln_1 each, then wpe and wte, whose gradient
// also holds the tied LM head's), whose gradient (or value) is not finite, and how many are.
std::string first_non_finite(const ng::nn::NamedTensors& params, bool gradients);
// Writes the checkpoint (rank 0) with everything a bit-exact resume needs.
void save_checkpoint(Session& s, int64_t at);

}  // namespace ngcli

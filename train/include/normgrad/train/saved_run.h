// A checkpoint written by `normgrad train`, read defensively: every metadata field and every
// tensor is checked before the model is built from it, and errors name the file and field.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "normgrad/nn/gpt.h"
#include "normgrad/nn/safetensors.h"
#include "normgrad/train/tokenizer.h"
#include "normgrad/train/train.h"

namespace ngcli {

struct SavedRun {
  std::string path;
  TrainConfig cfg;                  // validated, sizes bounded, fits this machine's memory
  Tokenizer tok;                    // characters, GPT-2 BPE or token ids
  int64_t step = 0;                 // in [0, cfg.max_steps]
  ng::nn::Safetensors file;         // tensors (all finite) and metadata
  bool has_training_state = false;  // step, data_rng, dropout_rng present and valid
};

// `training`: also require what --resume needs (step, both generator states). Any problem
// is one ng::Error: "[checkpoint] PATH: metadata 'config': [config] n_layer ... ".
SavedRun read_saved_run(const std::string& path, bool training);
// The saved model on the host, in eval mode: its config's GPT (no initialisation) with every
// non-"optim." tensor loaded, strictly.
std::unique_ptr<ng::nn::GPT> saved_model(const SavedRun& r);

// The approximate memory (bytes) training this config needs with a vocabulary of `vocab`:
// parameters with gradients and AdamW's two moments, plus the activations of one step.
double estimated_training_bytes(const TrainConfig& c, int64_t vocab);
// An error naming the estimate and the machine's memory when the first exceeds the second.
void check_fits_memory(const TrainConfig& c, int64_t vocab, const std::string& what);

}  // namespace ngcli

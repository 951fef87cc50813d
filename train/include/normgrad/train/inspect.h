// The checkpoint-reading subcommands: eval, sample, grads. Each runs on `device` ("cpu" or
// "cuda", as train's --device): the checkpoint is read on the host and its weights moved
// there, and every batch or prompt is moved to the model's device before it meets them.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "normgrad/nn/gpt.h"
#include "normgrad/random.h"
#include "normgrad/train/tokenizer.h"

namespace ngcli {

// Mean loss of a checkpoint over every full block_size window of `data` (default: the
// validation split of the run's own corpus), in non-overlapping windows; prints and returns it.
double eval_command(const std::string& ckpt, const std::string& data, int64_t max_windows,
                    const std::string& device = "cpu");
// `tokens` tokens sampled from `model` after `prompt` (empty: from <|endoftext|> or token 0),
// drawing from `gen` only; the model is in eval mode meanwhile (no dropout) and restored after.
std::string sample_text(ng::nn::GPT& model, const Tokenizer& tok, const std::string& prompt,
                        int64_t tokens, double temperature, int64_t top_k, ng::Generator& gen);
// Generates `tokens` characters after `prompt` from a checkpoint. The draws are made on the
// host from `seed`, so both devices give the same text up to float rounding of the logits.
std::string sample_command(const std::string& ckpt, const std::string& prompt, int64_t tokens,
                           double temperature, int64_t top_k, uint64_t seed,
                           const std::string& device = "cpu");
// Which batch `grads` differentiates. Default: the batch training would draw next from this
// checkpoint (its saved data and dropout generator states), so the gradient is exactly the
// one training step S+1 computes (before clipping) for a checkpoint at step S. step K: the
// K-th training batch (1-based), replayed from the run's seed (the same gradient as training
// when the checkpoint is at step K-1). seed: an independent batch from that seed instead.
struct GradsOptions {
  std::string data;   // default: the checkpoint's corpus
  int64_t batch = 0;  // 0: the run's batch size
  int64_t step = 0;   // 0: the next step
  std::optional<uint64_t> seed;
  std::string out = "grads.safetensors";
  std::string device = "cpu";  // where the model runs; the file holds host tensors either way
};
// Loss and the gradient of every parameter for one batch: written to `out` as safetensors
// ("loss", "input_ids", "target_ids", "grad.<param name>") and printed as a table of norms.
void grads_command(const std::string& ckpt, const GradsOptions& o);

}  // namespace ngcli

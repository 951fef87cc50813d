// The checkpoint-reading subcommands: eval, sample, grads. Each runs on `device` ("cpu" or
// "cuda", as train's --device): the checkpoint is read on the host and its weights moved
// there, and every batch or prompt is moved to the model's device before it meets them.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "normgrad/nn/gpt.h"
#include "normgrad/random.h"
#include "normgrad/train/tokenizer.h"

namespace ngcli {

// Mean loss of a checkpoint over every full block_size window of `data` (default: the
// validation split of the run's own corpus), in non-overlapping windows; prints and returns it.
double eval_command(const std::string& ckpt, const std::string& data, int64_t max_windows,
                    const std::string& device = "cpu");
// What `sample` draws and how. The logits are divided by the temperature, then only the
// top_k largest are kept (0: all), then only the smallest set of the most likely tokens
// whose probability reaches top_p (1: all): nanoGPT's and Hugging Face's order.
struct SampleOptions {
  std::string prompt;  // "": start from <|endoftext|> or token 0
  int64_t tokens = 200;
  double temperature = 1.0;
  int64_t top_k = 0;
  double top_p = 1.0;
  // Generation ends as soon as the generated text (not the prompt) contains `stop`; the
  // text then ends with it ("": never, all `tokens` are drawn).
  std::string stop;
  int64_t num_samples = 1;  // sample i is drawn from seed + i
  uint64_t seed = 1337;
  // Keys and values of the generated prefix kept (GPT::forward_cached): one token's rows
  // per step until the text reaches block_size, then the cropped window is recomputed.
  bool kv_cache = true;
  std::string device = "cpu";
};
struct Sample {
  std::string text;        // the prompt and what followed it
  int64_t tokens = 0;      // tokens generated (fewer than asked when `stop` came)
  int64_t from_cache = 0;  // of which computed from the KV cache (one row each)
  bool stopped = false;    // `stop` ended it
};
// One sample from `model` after o.prompt (o.seed, o.num_samples and o.device are not read),
// drawing from `gen` only; the model is in eval mode meanwhile (no dropout) and restored after.
Sample sample_text(ng::nn::GPT& model, const Tokenizer& tok, const SampleOptions& o,
                   ng::Generator& gen);
// The weights a token is drawn with, in proportion to its probability (not normalized):
// `logits` scaled, cut to top_k and to top_p as SampleOptions says. Exposed for the tests.
std::vector<double> sampling_weights(std::vector<double> logits, double temperature, int64_t top_k,
                                     double top_p);
// o.num_samples samples from a checkpoint (the draws on the host from seed + i, so both
// devices give the same text up to float rounding of the logits); prints the speed on stderr.
std::vector<Sample> sample_command(const std::string& ckpt, const SampleOptions& o);
// `--stop` as typed: \n, \t, \r and \\ stand for a newline, a tab, a carriage return and a
// backslash (a shell passes them unexpanded); any other backslash is an error.
std::string unescape_stop(const std::string& typed);

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

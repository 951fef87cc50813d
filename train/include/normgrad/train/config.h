// A training run's configuration: the one list of its fields (NG_TRAIN_FIELDS) and what is
// derived from it (flags, checkpoint JSON, checks, recipes, --resume, --init-from), plus the
// device and corpus a run names.
#pragma once
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "normgrad/dist.h"
#include "normgrad/nn/gpt.h"

namespace ngcli {

// The one list of configuration fields. Everything else is derived from it: the struct's
// members and defaults, the command-line flags and their --help, the JSON saved in
// checkpoints (and its type checks on load), the checks of every value, what a resumed run
// may change, the GPT the run builds, and the report's description of a run.
//
// X(group, type, name, default, check, help). Groups:
//   place: where and how to run, not what (a resumed run may change these freely; not saved)
//   run:   the data and the seed       model: the GPT (GPTConfig field of the same name)
//   norm:  NormOptions field of the same name (every position's norm reads what it needs),
//          the list NG_NORM_OPTIONS in normgrad/norm_kind.h. The options a kind declares
//          itself (NormOptionSpec) are TrainConfig::kind_options, handled alike.
//   optim: optimizer and schedule      book: bookkeeping (a resumed run may change these)
// clang-format off
#define NG_TRAIN_FIELDS(X)                                                                       \
  X(place, std::string, out, "out", kAny, "output folder: checkpoint, metrics.jsonl, probes.jsonl") \
  X(place, int, threads, 0, kNonNegative, "threads for our kernels and OpenBLAS (0: the count measured fastest for this model on this machine, kept per model shape)") \
  X(place, std::string, device, "cpu", kDevice, "cpu or cuda")                                   \
  X(place, bool, resume, false, kAny, "continue OUT/ckpt.safetensors with its saved settings")   \
  X(place, bool, overwrite, false, kAny, "a new run replaces the files of an old one in OUT (checkpoint, metrics, probes, TensorBoard events, train.log, outcome.json); without it a new run refuses such a folder") \
  X(place, int64_t, stop_at, 0, kNonNegative, "stop with a checkpoint at this step (schedule unchanged)") \
  X(place, bool, quiet, false, kAny, "no progress output")                                       \
  X(place, bool, tensorboard, true, kAny, "TensorBoard event files in OUT: losses, lr, gradient norm, tokens/s, every probe") \
  X(run, std::string, data, "", kAny, "UTF-8 text file, or a token file (.bin: nanoGPT uint16 or llm.c) (default: the built-in fortunes corpus)") \
  X(run, std::string, val_data, "", kAny, "validation file, text or token file read with the same tokenizer: all of --data trains and this file is the validation split (nanoGPT's train.bin / val.bin) (default: the last 10% of --data)") \
  X(run, std::string, tokenizer, "", kAny, "GPT-2 byte-level BPE: a folder with vocab.json + merges.txt (or tokenizer.json) (default: characters)") \
  X(run, int64_t, vocab_size, 0, kNonNegative, "vocabulary of token-file data without --tokenizer (0: the largest id + 1)") \
  X(run, std::string, init_from, "", kAny, "start from this checkpoint's weights and tokenizer (fine-tuning, e.g. an imported GPT-2)") \
  X(run, uint64_t, seed, 1337, kAny, "seed for init, batches and dropout")                       \
  X(model, int64_t, n_layer, 4, kPositive, "transformer blocks")                                 \
  X(model, int64_t, n_head, 4, kPositive, "attention heads")                                     \
  X(model, int64_t, n_embd, 128, kPositive, "width of the residual stream")                      \
  X(model, int64_t, block_size, 64, kPositive, "context length in tokens")                       \
  X(model, double, dropout, 0.0, kUnit, "dropout probability")                                   \
  X(model, bool, bias, true, kAny, "biases in Linear layers")                                    \
  X(model, std::string, gelu, "exact", kGelu, "the MLP's GELU: exact (erf) or tanh (GPT-2's gelu_new)") \
  X(model, std::string, norm, "layernorm", kNormKind, "norm kind at every position")             \
  X(model, std::string, norm_attn, "", kNormKindOrEmpty, "override for the attention-position norm (ln_1)") \
  X(model, std::string, norm_mlp, "", kNormKindOrEmpty, "override for the MLP-position norm (ln_2)") \
  X(model, std::string, norm_final, "", kNormKindOrEmpty, "override for the final norm (ln_f)")  \
  NG_NORM_OPTIONS(X)                                                                             \
  X(model, std::optional<double>, alpha0_attn, std::nullopt, kPositive, "alpha0 at attention positions (Zhu et al.'s LLM recipe)") \
  X(model, std::optional<double>, alpha0_other, std::nullopt, kPositive, "alpha0 at MLP and final positions (Zhu et al.'s LLM recipe)") \
  X(model, bool, embed_scale, false, kAny, "learnable scalar after the token embedding, init sqrt(n_embd) (Zhu et al.'s LLaMA recipe)") \
  X(optim, int64_t, batch, 12, kPositive, "sequences per micro-batch (per step without --grad-accum)") \
  X(optim, int64_t, grad_accum, 1, kPositive, "micro-batches of --batch sequences per optimizer step, gradients accumulated: the effective batch is batch x grad_accum (nanoGPT's gradient_accumulation_steps)") \
  X(optim, int64_t, max_steps, 600, kPositive, "training steps (the schedule's length)")         \
  X(optim, int64_t, warmup, 50, kNonNegative, "linear warmup steps")                             \
  X(optim, double, lr, 1e-3, kPositive, "peak learning rate (cosine to min_lr)")                 \
  X(optim, std::optional<double>, min_lr, std::nullopt, kNonNegative, "final learning rate (unset: lr / 10, so that every lr decays by the same factor)") \
  X(optim, double, weight_decay, 0.1, kNonNegative, "AdamW decoupled weight decay (matrices only)") \
  X(optim, double, beta1, 0.9, kUnit, "AdamW beta1")                                             \
  X(optim, double, beta2, 0.95, kUnit, "AdamW beta2")                                            \
  X(optim, double, grad_clip, 1.0, kPositive, "clip the global gradient norm")                   \
  X(optim, double, scalar_lr_scale, 1.0, kPositive, "lr multiplier for norm scalars")            \
  X(optim, std::string, precision, "fp32", kPrecision, "matrix products: fp32, tf32 (operands rounded to 10 mantissa bits: TF32 tensor cores on a GPU, emulated on the CPU) or bf16 (operands rounded to bfloat16); float32 accumulation; weights, AdamW state, norms, softmax and attention stay float32") \
  X(book, int64_t, eval_interval, 100, kPositive, "evaluate every N steps")                      \
  X(book, int64_t, eval_iters, 10, kPositive, "batches per evaluation")                          \
  X(book, int64_t, log_interval, 10, kPositive, "print every N steps (non-terminal output)")     \
  X(book, int64_t, ckpt_interval, 200, kPositive, "checkpoint every N steps")                    \
  X(book, int64_t, probe_interval, 0, kNonNegative, "record probes to OUT/probes.jsonl every N steps (0: off)") \
  X(book, int64_t, sample_interval, 0, kNonNegative, "print a 200-token sample every N steps, also to TensorBoard (0: off)")
// clang-format on

// What a field's value must satisfy (checked for flags and for configs read from files).
enum class FieldCheck {
  kAny,
  kPositive,
  kNonNegative,
  kUnit,
  kDevice,
  kNormKind,
  kNormKindOrEmpty,
  kScale,
  kGelu,
  kPrecision
};

struct TrainConfig {
#define NG_DECLARE_FIELD(group, type, name, def, check, help) type name = def;
  NG_TRAIN_FIELDS(NG_DECLARE_FIELD)
#undef NG_DECLARE_FIELD
  // The kinds' own options that were set (norm group): key -> value, keys as in
  // kind_option_keys() (lambda0, lambda0_attn, ...).
  std::map<std::string, double> kind_options;
  // Names of the fields the user set explicitly (flags): on --resume, a set field that
  // differs from the saved run is an error unless its group is place or book.
  std::set<std::string> given;

  // init_weights false: the model's weights are loaded next (nothing drawn, faster)
  ng::nn::GPTConfig gpt(int64_t vocab, bool init_weights = true) const;
  // The reverse: the model and norm fields of a GPTConfig (an imported model), the rest
  // defaults.
  static TrainConfig from_gpt(const ng::nn::GPTConfig& g);
  std::string to_json() const;  // every field but the place group
  // Keys missing in json keep defaults; a wrong-typed value or unknown key is an error.
  static TrainConfig from_json(const std::string& json);
  void validate() const;  // every value against its field's check: "[config] lr must be > 0 ..."
  // "n_layer=4 n_head=4 ... norm=dyt alpha0=0.5 ...": every saved field, for reports.
  std::string describe() const;
  // The cosine's floor: min_lr when set, else lr / 10 (a fraction of each run's own peak, so
  // that variants tuned to different lrs decay by the same factor).
  double final_lr() const { return min_lr ? *min_lr : lr / 10.0; }
  // The command-line flags that reproduce this config with `normgrad train`.
  std::vector<std::string> to_flags() const;
};

// The options kinds declare (ng::NormOptionSpec) as config keys: the option's own name, and
// for per-position ones name_attn, name_mlp, name_final (ln_1, ln_2, ln_f only), in the
// registry's order. Flags (--name, --name-attn, ...), checkpoint JSON, checks, recipes,
// --resume and --init-from treat them as norm-group fields.
struct KindOptionKey {
  std::string key, position;  // position: "" (every position), "attn", "mlp" or "final"
  ng::NormOptionSpec spec;
  std::string help() const;
};
std::vector<KindOptionKey> kind_option_keys();

// --resume: the saved run's settings, with place fields (and given book fields) from the
// command line; a given flag that changes the run itself is an error naming both values.
TrainConfig resumed_config(const TrainConfig& cli, const TrainConfig& saved);
std::string dashed(std::string field_name);
// --init-from: the model and norm settings (all but dropout) of the starting checkpoint, the
// rest from the command line; a given model flag that differs is an error naming both.
TrainConfig init_from_config(const TrainConfig& cli, const TrainConfig& start);
// The fields a recipe (a compare variant) may set: the model, norm and optim groups.
std::vector<std::string> recipe_field_names();
// Sets one of those fields from text, parsed as the field's type and checked; an unknown key
// or a bad value is a one-line error naming it and `context` (the variant spec).
void set_recipe_field(TrainConfig& c, const std::string& key, const std::string& value,
                      const std::string& context);  // n_layer -> n-layer (the flag's spelling)
// Number text as people type it and as the flags and variant specs take it: decimal only
// (a sign where the type has one; a fraction and an exponent for floating types), the whole
// text with nothing around it, finite and in the type's range. "0x10", " 1", "1 ", "nan",
// "-1" or "1e23" for an unsigned integer, 2^64 are refused (false).
template <class T>
bool number_from_text(const std::string& text, T& v) {
  static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>);
  const char* const end = text.data() + text.size();
  T x{};
  std::from_chars_result r{};
  if constexpr (std::is_floating_point_v<T>)
    r = std::from_chars(text.data(), end, x, std::chars_format::general);
  else
    r = std::from_chars(text.data(), end, x, 10);
  if (text.empty() || r.ec != std::errc() || r.ptr != end) return false;
  if constexpr (std::is_floating_point_v<T>)
    if (!std::isfinite(x)) return false;
  v = x;
  return true;
}
// The seeds first, first + 1, ..., first + count - 1 (compare, sweep): an error naming `op`
// and `flags` when the last would pass 2^64 - 1 and wrap to 0.
void check_seed_range(const char* op, uint64_t first, uint64_t count, const std::string& flags);
// The text of a run: the file at `path`, or the built-in corpus when empty.
std::string load_corpus(const std::string& path);
// FNV-1a hash and length of a corpus: a resumed run checks it trains on the same text.
std::string corpus_fingerprint(std::string_view text);

// "cpu" or "cuda"; a clear error when CUDA was not built in or no GPU is usable.
ng::Device parse_device(const std::string& name);
// What the run will use: thread configuration on the CPU, the GPU's name on CUDA.
std::string device_summary(ng::Device d);

}  // namespace ngcli

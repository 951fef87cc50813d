// normgrad: train tiny GPTs with a chosen normalization and look at their gradients.
//   normgrad train --norm dyt --out runs/dyt
//   normgrad eval --ckpt runs/dyt/ckpt.safetensors
//   normgrad sample --ckpt runs/dyt/ckpt.safetensors --tokens 200
//   normgrad grads --ckpt runs/dyt/ckpt.safetensors --out grads.safetensors
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <limits>
#include <map>
#include <sstream>
#include <type_traits>

#include "normgrad/dist.h"
#include "normgrad/error.h"
#include "normgrad/nn/norm.h"
#include "normgrad/report/compare.h"
#include "normgrad/report/convert.h"
#include "normgrad/report/sweep.h"
#include "normgrad/threading.h"
#include "normgrad/train/inspect.h"
#include "normgrad/train/interop.h"
#include "normgrad/train/manifest.h"
#include "normgrad/train/train.h"

using namespace ngcli;

constexpr int64_t kCompareSteps = 400;
// compare's default schedule ladder (when neither --max-steps nor --steps-ladder is given):
// the 400-step point plus one 3x longer, so the report says whether its gaps close.
const std::vector<int64_t> kCompareLadder = {kCompareSteps, 1200};
// sweep's default cell: 2 layers, 300 steps; the default grid (6 alpha0 x 3 widths x 2
// seeds = 36 runs) takes about 8 minutes on 2 cores.
constexpr int64_t kSweepSteps = 300, kSweepLayers = 2;

// Number checks with messages people can read (CLI11's ranges print 1.8e308). Text that
// is not a number says so, rather than that it is out of range.
static CLI::Validator bound(const char* what, bool (*ok)(double)) {
  return CLI::Validator(
      [what, ok](std::string& in) {
        double v = 0;
        if (!number_from_text(in, v)) return "must be a number, got '" + in + "'";
        return ok(v) ? std::string() : std::string("must be ") + what + ", got '" + in + "'";
      },
      what);
}

// The value's own type, before any range check: CLI11 alone turns "-1" for an unsigned flag
// into 2^64 - 1 and clamps 2^64 or 1e23 to it, and reads hex; number_from_text refuses all
// of them (a seed, a count) with the flag and the value named.
template <class T>
static CLI::Validator typed_number() {
  if constexpr (std::is_integral_v<T>) {
    const std::string range = "an integer in [" + std::to_string(std::numeric_limits<T>::min()) +
                              ", " + std::to_string(std::numeric_limits<T>::max()) + "]";
    return CLI::Validator(
        [range](std::string& in) {
          T v{};
          return number_from_text(in, v) ? std::string()
                                         : "must be " + range + ", got '" + in + "'";
        },
        "INT");
  } else {
    return CLI::Validator(
        [](std::string& in) {
          double v = 0;
          return number_from_text(in, v) ? std::string() : "must be a number, got '" + in + "'";
        },
        "NUMBER");
  }
}
static const CLI::Validator kPositive = bound("> 0", [](double v) { return v > 0; });
static const CLI::Validator kNonNegative = bound(">= 0", [](double v) { return v >= 0; });
static const CLI::Validator kUnit = bound("in [0, 1]", [](double v) { return v >= 0 && v <= 1; });

static CLI::Validator validator(FieldCheck check) {
  switch (check) {
    case FieldCheck::kPositive:
      return kPositive;
    case FieldCheck::kNonNegative:
      return kNonNegative;
    case FieldCheck::kUnit:
      return kUnit;
    case FieldCheck::kDevice:
      return CLI::IsMember({"cpu", "cuda"});
    case FieldCheck::kScale:
      return CLI::IsMember({"one", "sqrtc"});
    case FieldCheck::kGelu:
      return CLI::IsMember({"exact", "tanh"});
    case FieldCheck::kPrecision:
      return CLI::IsMember({"fp32", "bf16"});
    case FieldCheck::kNormKind:
      return CLI::IsMember(ng::nn::norm_kinds());
    case FieldCheck::kNormKindOrEmpty: {
      auto kinds = ng::nn::norm_kinds();
      kinds.push_back("");
      return CLI::IsMember(kinds);
    }
    case FieldCheck::kAny:
      break;
  }
  return CLI::Validator();
}

// One flag per config field (train.h's NG_TRAIN_FIELDS), named, typed, checked and
// documented from that list. Flags the user gave are recorded in t.given after parsing.
using GivenFlags = std::vector<std::pair<std::string, CLI::Option*>>;
template <class T>
static CLI::Option* add_field(CLI::App& c, const char* name, T& v, FieldCheck check,
                              const char* help) {
  const std::string flag = "--" + dashed(name);
  CLI::Option* o;
  if constexpr (std::is_same_v<T, bool>)
    o = v ? c.add_option(flag, v, help)->capture_default_str()  // default on: --bias false
          : c.add_flag(flag, v, help);
  else if constexpr (std::is_same_v<T, std::optional<double>>)
    o = c.add_option(flag, v, help);
  else
    o = c.add_option(flag, v, help)->capture_default_str();
  if constexpr (std::is_same_v<T, std::optional<double>>)
    o->check(typed_number<double>());
  else if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>)
    o->check(typed_number<T>());
  if (check != FieldCheck::kAny) o->check(validator(check));
  return o;
}

static GivenFlags add_train_flags(CLI::App& c, TrainConfig& t) {
  GivenFlags given;
#define NG_FLAG(group, type, name, def, check, help) \
  given.push_back({#name, add_field(c, #name, t.name, FieldCheck::check, help)});
  NG_TRAIN_FIELDS(NG_FLAG)
#undef NG_FLAG
  for (const auto& k : kind_option_keys()) {  // the options the kinds declare themselves
    const auto set = [&t, key = k.key](const double& v) { t.kind_options[key] = v; };
    const auto in_range = [k](std::string& in) -> std::string {
      double v = 0;
      if (!number_from_text(in, v)) return "must be a number, got '" + in + "'";
      ng::NormOptionSpec spec = k.spec;
      spec.name = k.key;
      const std::string e = ng::norm_option_range_error(spec, v);
      return e.empty() ? e : e.substr(e.find(' ') + 1);  // "must be > 0, got -1"
    };
    CLI::Option* o = c.add_option_function<double>("--" + dashed(k.key), set, k.help());
    given.push_back({k.key, o->check(CLI::Validator(in_range, "NUMBER"))});
  }
  return given;
}

// For compare and sweep, which place each run themselves (REPORT/runs/...), resume by
// rerunning and set some fields per cell: train's flags for those fields are removed, so
// that --help shows no text of train's that means nothing here and no value is silently
// ignored; --seed is described as the first seed.
// Why a removed flag is not a command's, for its error: (command, --flag) -> reason.
static std::map<std::pair<const CLI::App*, std::string>, std::string>& not_this_commands() {
  static std::map<std::pair<const CLI::App*, std::string>, std::string> why;
  return why;
}

static void adapt_train_flags(CLI::App& cmd, GivenFlags& flags,
                              const std::vector<std::string>& set_per_run,
                              const std::string& runs_are) {
  for (const auto& name : set_per_run) {
    not_this_commands()[{&cmd, "--" + dashed(name)}] =
        name == "n_embd" ? "--widths sets each cell's n_embd" : runs_are;
    const auto it =
        std::find_if(flags.begin(), flags.end(), [&](const auto& f) { return f.first == name; });
    if (it == flags.end()) continue;
    cmd.remove_option(it->second);
    flags.erase(it);
  }
  cmd.get_option("--seed")->description(
      "the first seed: the runs use seed, seed+1, ... (--seeds of them per variant or cell)");
  // Kept, with the meaning it has for a report folder: a rerun continues its own runs, and a
  // run trained with other settings is refused unless this replaces it (plan_rerun).
  cmd.get_option("--overwrite")
      ->description(
          "replace runs in the report folder that were trained with other settings (without "
          "it they are refused; runs with these settings are kept or continued either way)");
}

// Edit distance, for "did you mean".
static size_t distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

// CLI11's message, or for an unknown flag or command: its name and the closest valid one.
static std::string explain_parse_error(const CLI::ParseError& e, const CLI::App& cmd) {
  const std::string what = e.what();
  const size_t colon = what.find("not expected: ");
  if (colon == std::string::npos) return what;
  std::stringstream rest(what.substr(colon + 14));
  std::string word, w;
  while (rest >> w)  // the first unexpected flag, else the first unexpected word
    if (word.empty() || (w.rfind("-", 0) == 0 && word.rfind("-", 0) != 0)) word = w;
  std::vector<std::string> valid;
  if (word.rfind("-", 0) == 0) {
    for (const CLI::Option* o : cmd.get_options())
      for (const auto& n : o->get_lnames()) valid.push_back("--" + n);
  } else {
    for (const CLI::App* sub : cmd.get_subcommands({})) valid.push_back(sub->get_name());
  }
  const std::string flag = word.substr(0, word.find('='));
  if (const auto why = not_this_commands().find({&cmd, flag}); why != not_this_commands().end())
    return flag + " is train's, not " + cmd.get_name() + "'s: " + why->second;
  std::string best;
  size_t best_d = 4;  // suggest only near misses
  for (const auto& v : valid)
    if (const size_t d = distance(word.substr(0, word.find('=')), v); d < best_d)
      best_d = d, best = v;
  std::string msg = (word.rfind("-", 0) == 0 ? "unknown flag " : "unexpected argument ") + word;
  if (!best.empty()) msg += "; did you mean " + best + "?";
  return msg;
}

// --device for the commands that read a checkpoint: the same values, check and help as
// train's (NG_TRAIN_FIELDS' device field), so every command spells it alike.
static void add_device_option(CLI::App& c, std::string& device) {
  c.add_option("--device", device, "cpu or cuda")
      ->check(validator(FieldCheck::kDevice))
      ->capture_default_str();
}

static void record_given(const GivenFlags& flags, TrainConfig& t) {
  for (auto& [name, opt] : flags)
    if (opt->count() > 0) t.given.insert(name);
}

// Under mpirun an error on one rank must end them all: the others would wait in a collective
// forever. A single process just returns the code.
static int end_all_ranks(int code) {
  if (ng::dist::launched_by_mpi() && ng::dist::mpi_built() && ng::dist::world()->size() > 1) {
    std::fflush(stderr);
    ng::dist::world()->abort(code);
  }
  return code;
}

// 128 + the signal that stopped a run (130 for Ctrl-C), as a shell reports a process that
// the signal killed; the run itself saved its checkpoint first.
static int stopped_code(int signal) { return 128 + (signal > 0 ? signal : SIGINT); }

// Every subcommand's flags as parsed into, and the subcommands (one is given). CLI11 binds
// the members by reference: a Commands object stays where it was made.
struct Commands {
  CLI::App *train_cmd = nullptr, *eval_cmd = nullptr, *sample_cmd = nullptr, *grads_cmd = nullptr,
           *compare_cmd = nullptr, *sweep_cmd = nullptr, *convert_cmd = nullptr,
           *import_cmd = nullptr, *export_cmd = nullptr;
  TrainConfig tc, cc, wc;  // train, compare and sweep
  GivenFlags train_flags, compare_flags, sweep_flags;
  std::string ckpt, data, device = "cpu";  // eval, sample, grads
  int64_t windows = 0;
  SampleOptions sample;
  bool no_kv_cache = false;
  GradsOptions go;
  std::string kinds_csv;  // compare
  std::vector<std::string> variant_specs, tune_specs;
  CompareOptions co;
  SweepOptions so;
  std::vector<std::string> sweep_variants;
  ConvertOptions vo;
  std::string hf_dir, import_out = "gpt2-import", export_ckpt;
};

// sample's drawing flags (SampleOptions).
static void add_sample_options(CLI::App& c, SampleOptions& o, bool& no_kv_cache) {
  c.add_option("--prompt", o.prompt,
               "text the sample continues (default: none, the tokenizer's start token)");
  c.add_option("--tokens", o.tokens, "tokens to generate (characters with a char run)")
      ->check(typed_number<int64_t>())
      ->check(kPositive & CLI::Range(1, 1000000))
      ->capture_default_str();
  c.add_option("--temperature", o.temperature,
               "divides the logits before sampling: < 1 sharper, > 1 flatter")
      ->check(kPositive)
      ->capture_default_str();
  c.add_option("--top-k", o.top_k, "keep the k most likely (0: all)")
      ->check(typed_number<int64_t>())
      ->check(kNonNegative);
  c.add_option("--top-p", o.top_p,
               "nucleus sampling: keep the most likely tokens until their probability reaches p "
               "(after --temperature and --top-k; 1: all)")
      ->check(bound("in (0, 1]", [](double v) { return v > 0 && v <= 1; }))
      ->capture_default_str();
  c.add_option("--num-samples", o.num_samples,
               "samples to draw, sample i from seed + i; more than one: each followed by a "
               "line of dashes, as nanoGPT prints them")
      ->check(typed_number<int64_t>())
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  c.add_option("--stop", o.stop,
               "stop once the generated text contains this text, which then ends the sample "
               "(\\n, \\t: newline, tab; GPT-2: '<|endoftext|>')");
  c.add_option("--seed", o.seed, "seed of the sampling draws (same seed, same text)")
      ->check(typed_number<uint64_t>())
      ->capture_default_str();
  c.add_flag("--no-kv-cache", no_kv_cache,
             "recompute the whole context for every token (the same text, slower; by default "
             "keys and values are kept until the text reaches block_size)");
}

// eval, sample and grads: the commands that read a checkpoint.
static void add_checkpoint_commands(CLI::App& app, Commands& c) {
  c.eval_cmd = app.add_subcommand("eval", "loss of a checkpoint on a text file");
  c.eval_cmd->add_option("--ckpt", c.ckpt, "checkpoint (.safetensors)")
      ->required()
      ->check(CLI::ExistingFile);
  c.eval_cmd->add_option("--data", c.data,
                         "text or token file, all of it (default: the run's validation split: its "
                         "--val-data file, or the last 10% of its corpus)");
  c.eval_cmd->add_option("--max-windows", c.windows, "evaluate at most this many windows (0: all)")
      ->check(typed_number<int64_t>());
  add_device_option(*c.eval_cmd, c.device);
  c.sample_cmd = app.add_subcommand("sample", "generate text");
  c.sample_cmd->add_option("--ckpt", c.ckpt, "checkpoint (.safetensors) to sample from")
      ->required()
      ->check(CLI::ExistingFile);
  add_sample_options(*c.sample_cmd, c.sample, c.no_kv_cache);
  add_device_option(*c.sample_cmd, c.device);
  c.grads_cmd = app.add_subcommand(
      "grads",
      "loss and every parameter gradient for one batch; by default the batch of the step after "
      "the checkpoint, so the result is exactly that training step's gradient (before clipping)");
  c.grads_cmd->add_option("--ckpt", c.ckpt)->required()->check(CLI::ExistingFile);
  c.grads_cmd->add_option("--data", c.go.data, "text file (default: the checkpoint's corpus)");
  c.grads_cmd
      ->add_option("--batch", c.go.batch,
                   "sequences (default: the run's sequences per step, batch x grad_accum)")
      ->check(typed_number<int64_t>())
      ->check(kPositive);
  c.grads_cmd
      ->add_option("--step", c.go.step,
                   "the K-th training batch (1-based), replayed from the run's seed (the "
                   "offsets of the K-1 batches before it are drawn: at most 10^8 offsets)")
      ->check(typed_number<int64_t>())
      ->check(kPositive);
  c.grads_cmd->add_option("--seed", c.go.seed, "an independent batch drawn from this seed instead")
      ->check(typed_number<uint64_t>())
      ->excludes("--step");
  c.grads_cmd->add_option("--out", c.go.out)->capture_default_str();
  add_device_option(*c.grads_cmd, c.go.device);
}

// --figures of compare, sweep and convert.
static const char* const kFiguresHelp =
    "draw the report's figures with python3 + matplotlib (0: report.md without them, a few "
    "seconds sooner)";

static void add_compare_command(CLI::App& app, Commands& c) {
  std::string default_list;
  for (const auto& v : default_variants()) default_list += "\n    " + v.spec;
  c.compare_cmd = app.add_subcommand(
      "compare",
      "train every variant (norm kind + recipe) with the same data, batches and seeds, "
      "several seeds each, and write a report with health labels and figures (" +
          std::to_string(kCompareLadder[0]) + " and " + std::to_string(kCompareLadder[1]) +
          " steps unless --max-steps or --steps-ladder is given). Default variants:" +
          default_list);
  c.compare_flags = add_train_flags(*c.compare_cmd, c.cc);
  adapt_train_flags(*c.compare_cmd, c.compare_flags, {"out", "resume", "stop_at"},
                    "compare trains every run in full under --report DIR/runs/");
  c.compare_cmd->add_option("--variant", c.variant_specs,
                            "kind[:key=value,...], repeatable, e.g. dyt:alpha0=1,scale=sqrtc or "
                            "dyt:embed_scale (keys: the model/norm/optim flags' names)");
  c.compare_cmd->add_option("--kinds", c.kinds_csv, "comma-separated plain norm kinds (no recipe)");
  c.compare_cmd->add_option("--seeds", c.co.seeds, "seeds per variant (seed, seed+1, ...)")
      ->check(typed_number<int>())
      ->check(kPositive)
      ->capture_default_str();
  c.compare_cmd
      ->add_option("--jobs", c.co.jobs,
                   "runs in parallel as separate processes (0: one per core this process may use: "
                   "its CPU affinity mask, at most OMP_NUM_THREADS)")
      ->check(typed_number<int>())
      ->check(kNonNegative)
      ->capture_default_str();
  c.compare_cmd->add_option("--report", c.co.dir, "report folder")->capture_default_str();
  c.compare_cmd->add_option("--figures", c.co.figures, kFiguresHelp)->capture_default_str();
  c.compare_cmd->add_option(
      "--tune", c.tune_specs,
      "KEY=v1,v2,... or KEY=start..endxFACTOR, repeatable: search every variant over the same "
      "grid on held-out seeds first (scored by the whole val split), then run the reported "
      "seeds at each variant's best stable point");
  c.compare_cmd->add_option("--tune-seeds", c.co.tune_seeds, "held-out seeds per search point")
      ->check(typed_number<int>())
      ->check(kPositive)
      ->capture_default_str();
  c.compare_cmd
      ->add_option("--steps-ladder", c.co.steps_ladder,
                   "schedule lengths, comma-separated and ascending, e.g. 400,1200: the same "
                   "recipes and seeds trained at each; the report says whether each gap grows "
                   "or closes (--tune searches at the first)")
      ->delimiter(',')
      ->check(typed_number<int64_t>())
      ->check(kPositive)
      ->excludes("--max-steps");
}

static void add_sweep_command(CLI::App& app, Commands& c) {
  c.sweep_cmd = app.add_subcommand(
      "sweep",
      "a grid of variants x values of one norm setting x widths (x depths), every cell "
      "trained with the same data, batches and seeds; resumable (rerun the same command); "
      "report with a heatmap, curves and the best value per width (" +
          std::to_string(kSweepLayers) + " layers, " + std::to_string(kSweepSteps) +
          " steps unless --n-layer / --max-steps are given)");
  c.sweep_flags = add_train_flags(*c.sweep_cmd, c.wc);
  adapt_train_flags(*c.sweep_cmd, c.sweep_flags, {"out", "resume", "stop_at", "n_embd"},
                    "sweep trains every run in full under --report DIR/runs/ and continues cut "
                    "runs when the same command is run again");
  c.sweep_cmd->add_option("--variant", c.sweep_variants,
                          "kind[:key=value,...], repeatable (default: dyt:scale=sqrtc)");
  c.sweep_cmd->add_option("--param", c.so.param, "the swept setting (alpha0, beta0, lambda0, ...)")
      ->capture_default_str();
  c.sweep_cmd
      ->add_option("--values", c.so.values, "its values, comma-separated (default 0.5,1,2,4,8,16)")
      ->delimiter(',');
  c.sweep_cmd->add_option("--widths", c.so.widths, "n_embd values (default 64,128,256)")
      ->delimiter(',')
      ->check(typed_number<int64_t>())
      ->check(CLI::Range(1, 65536));
  c.sweep_cmd->add_option("--layers", c.so.layers, "n_layer values (default: --n-layer)")
      ->delimiter(',')
      ->check(typed_number<int64_t>())
      ->check(CLI::Range(1, 1024));
  c.sweep_cmd->add_option("--seeds", c.so.seeds, "seeds per cell")
      ->check(typed_number<int>())
      ->check(kPositive)
      ->capture_default_str();
  c.sweep_cmd
      ->add_option(
          "--jobs", c.so.jobs,
          "runs in parallel as processes (0: one per core this process may use, as compare)")
      ->check(typed_number<int>())
      ->check(kNonNegative)
      ->capture_default_str();
  c.sweep_cmd->add_option("--report", c.so.dir, "report folder (rerun to resume)")
      ->capture_default_str();
  c.sweep_cmd->add_option("--figures", c.so.figures, kFiguresHelp)->capture_default_str();
}

static void add_convert_command(CLI::App& app, Commands& c) {
  c.convert_cmd = app.add_subcommand(
      "convert",
      "norm surgery: replace a trained model's LayerNorm/RMSNorm layers by element-wise ones "
      "(defaults or statistics-based init), then report the val loss before, right after and "
      "after fine-tuning; --per-layer replaces one layer at a time");
  c.convert_cmd->add_option("--ckpt", c.vo.ckpt, "checkpoint of a layernorm or rmsnorm run")
      ->required()
      ->check(CLI::ExistingFile);
  c.convert_cmd
      ->add_option("--to", c.vo.to, "target kinds, comma-separated (kinds with a stats init)")
      ->delimiter(',')
      ->capture_default_str();
  c.convert_cmd->add_option("--at", c.vo.at, "positions: all, attn, mlp, final or layer:N")
      ->capture_default_str();
  c.convert_cmd->add_option("--init", c.vo.inits, "default and/or stats, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  c.convert_cmd->add_option("--scale", c.vo.scale, "new layers' output scale")
      ->check(CLI::IsMember({"one", "sqrtc"}))
      ->capture_default_str();
  c.convert_cmd->add_option("--steps", c.vo.steps, "fine-tuning steps (0: none)")
      ->check(typed_number<int64_t>())
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  c.convert_cmd
      ->add_option("--seeds", c.vo.seeds,
                   "fine-tunings per model, each on its own batch order; the converted models "
                   "and the unconverted control are compared by paired difference per seed")
      ->check(typed_number<int>())
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  c.convert_cmd->add_option("--lr", c.vo.lr, "fine-tuning AdamW lr (constant)")
      ->check(kPositive)
      ->capture_default_str();
  c.convert_cmd->add_option("--eval-batches", c.vo.eval_batches, "validation batches per loss")
      ->check(typed_number<int64_t>())
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  c.convert_cmd->add_flag("--per-layer", c.vo.per_layer, "also replace one layer at a time");
  c.convert_cmd->add_option("--data", c.vo.data, "text file (default: the run's corpus)");
  c.convert_cmd->add_option("--report", c.vo.dir, "report folder")->capture_default_str();
  c.convert_cmd->add_option("--figures", c.vo.figures, kFiguresHelp)->capture_default_str();
  c.convert_cmd
      ->add_option("--tensorboard", c.vo.tensorboard,
                   "TensorBoard runs of every fine-tuning in REPORT/runs/ (true/false)")
      ->capture_default_str();
  add_device_option(*c.convert_cmd, c.vo.device);
}

// import and export: Hugging Face GPT-2 folders.
static void add_hf_commands(CLI::App& app, Commands& c) {
  c.import_cmd = app.add_subcommand(
      "import",
      "a Hugging Face GPT-2 folder (config.json + model.safetensors, with its vocab.json + "
      "merges.txt) as a normgrad checkpoint OUT/ckpt.safetensors: eval, sample, grads, convert "
      "and train --init-from then work on it");
  c.import_cmd->add_option("--hf", c.hf_dir, "the model folder")->required();
  c.import_cmd->add_option("--out", c.import_out, "output folder")->capture_default_str();
  c.export_cmd = app.add_subcommand(
      "export",
      "a checkpoint's weights (no optimizer state) and tokenizer as a Hugging Face GPT-2 "
      "folder: GPT2LMHeadModel.from_pretrained loads it when every norm is LayerNorm; other "
      "norms keep GPT-2's layout with their own parameters named in config.json, marked so "
      "that transformers refuses them (normgrad import reads them)");
  c.export_cmd->add_option("--ckpt", c.export_ckpt)->required()->check(CLI::ExistingFile);
  c.export_cmd->add_option("--hf", c.hf_dir, "output folder")->required();
}

// --version, `normgrad help [command]` and an unknown command: answered before parsing.
// Returns the exit code, or -1 when none of them applies.
static int answer_before_parsing(CLI::App& app, int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--version") {  // what this build is
#ifdef NG_HAS_CUDA
    const char* cuda = "built (used with --device cuda when a GPU is present)";
#else
    const char* cuda = "not built";
#endif
    std::printf(
        "normgrad %s\nCUDA backend: %s\nMPI: %s\n%s\n", NG_VERSION, cuda,
        ng::dist::mpi_built() ? "built (mpirun -np N normgrad train|compare|sweep)" : "not built",
        ng::thread_config().c_str());
    return 0;
  }
  // `normgrad help [command]`: the same text as --help (people type it as git taught them).
  if (argc >= 2 && std::string(argv[1]) == "help") {
    app.name(argv[0]);  // named as --help names them: "Usage: normgrad sample [OPTIONS]"
    if (argc == 2) return std::printf("%s", app.help().c_str()), 0;
    for (CLI::App* sub : app.get_subcommands({}))
      if (sub->get_name() == argv[2]) return std::printf("%s", sub->help(argv[0]).c_str()), 0;
    std::fprintf(stderr, "error: help: unknown command %s (see: normgrad --help)\n", argv[2]);
    return 2;
  }
  const auto unknown_command = [&]() -> std::string {  // "normgrad trian": name it, suggest
    if (argc < 2 || argv[1][0] == '-') return "";
    std::string best;
    size_t best_d = 4;
    for (const CLI::App* sub : app.get_subcommands({})) {
      if (sub->get_name() == argv[1]) return "";
      if (const size_t d = distance(argv[1], sub->get_name()); d < best_d)
        best_d = d, best = sub->get_name();
    }
    return std::string("unknown command ") + argv[1] +
           (best.empty() ? "" : "; did you mean " + best + "?");
  };
  if (const std::string bad = unknown_command(); !bad.empty()) {
    std::fprintf(stderr, "error: %s (see: normgrad --help)\n", bad.c_str());
    return 2;
  }
  return -1;
}

// The command's work, inside its one error boundary.
static int run_command(Commands& c) {
  try {
    if (*c.train_cmd) {
      TrainResult r = train(c.tc, ng::dist::world());
      return r.diverged ? 3 : r.interrupted ? stopped_code(r.signal) : 0;
    }
    if (*c.compare_cmd) {
      std::stringstream ss(c.kinds_csv);
      for (std::string k; std::getline(ss, k, ',');)
        if (!k.empty()) c.variant_specs.push_back(k);
      for (const auto& s : c.variant_specs) c.co.variants.push_back(parse_variant(s));
      for (const auto& s : c.tune_specs) c.co.tune.push_back(parse_tune_axis(s));
      c.co.comm = ng::dist::world();
      if (const CompareResult r = compare(c.cc, c.co); r.interrupted) return stopped_code(r.signal);
    }
    if (*c.sweep_cmd) {
      for (const auto& s : c.sweep_variants) c.so.variants.push_back(parse_variant(s));
      c.so.comm = ng::dist::world();
      if (const SweepResult r = sweep(c.wc, c.so); r.interrupted) return stopped_code(r.signal);
    }
    if (*c.convert_cmd) convert(c.vo);
    if (*c.import_cmd) import_hf(c.hf_dir, c.import_out);
    if (*c.export_cmd) export_hf(c.export_ckpt, c.hf_dir);
    if (*c.eval_cmd) eval_command(c.ckpt, c.data, c.windows, c.device);
    if (*c.sample_cmd) {
      c.sample.stop = unescape_stop(c.sample.stop);
      c.sample.kv_cache = !c.no_kv_cache;
      c.sample.device = c.device;
      const std::vector<Sample> samples = sample_command(c.ckpt, c.sample);
      for (const Sample& s : samples)  // nanoGPT's separator when there are several
        std::printf("%s\n%s", s.text.c_str(), samples.size() > 1 ? "---------------\n" : "");
    }
    if (*c.grads_cmd) grads_command(c.ckpt, c.go);
  } catch (const ng::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return end_all_ranks(1);
  } catch (const std::exception& e) {  // the one boundary: no path ends in terminate
    std::fprintf(stderr, "error: [normgrad] %s\n", e.what());
    return end_all_ranks(1);
  } catch (...) {
    std::fprintf(stderr, "error: [normgrad] unknown exception\n");
    return end_all_ranks(1);
  }
  return 0;
}

int main(int argc, char** argv) {
  // A write past `ulimit -f` then fails with EFBIG, reported as an error naming the file,
  // instead of SIGXFSZ killing the process without a word (checkpoints are written to a
  // temporary file and renamed: the previous one survives). Inherited by child runs.
  std::signal(SIGXFSZ, SIG_IGN);
  ng::select_blas_core(argv);    // first: may re-run the program with OPENBLAS_CORETYPE set
  set_command_line(argc, argv);  // for the manifest of checkpoints and reports
  CLI::App app{"normgrad: train tiny GPTs with a chosen normalization and inspect gradient flow"};
  app.require_subcommand(1);
  Commands c;
  c.train_cmd = app.add_subcommand("train", "train a GPT");
  c.train_flags = add_train_flags(*c.train_cmd, c.tc);
  add_checkpoint_commands(app, c);
  add_compare_command(app, c);
  add_sweep_command(app, c);
  add_convert_command(app, c);
  add_hf_commands(app, c);
  bool version_flag = false;  // handled before parsing; declared here for --help
  app.add_flag("--version", version_flag,
               std::string("the version and the build's options (CUDA, BLAS, AVX-512)"));
  app.footer(
      "normgrad help [command] prints this or a command's help. Exit codes: 0 done; 1 error "
      "(bad input file, config or I/O, a folder another normgrad process holds: one line on "
      "stderr); 2 bad command line; 3 training diverged (the message names the step, the first "
      "non-finite parameter and the last good checkpoint); 128 + the signal when stopped by "
      "SIGINT (Ctrl-C: 130), SIGTERM (143) or SIGHUP (129): the step finished and its "
      "checkpoint saved.");
  if (const int code = answer_before_parsing(app, argc, argv); code >= 0) return code;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {  // one line, not the whole --help
    const CLI::App* cmd = app.get_subcommands().empty() ? &app : app.get_subcommands().back();
    std::fprintf(stderr, "error: %s (see: normgrad%s --help)\n",
                 explain_parse_error(e, *cmd).c_str(),
                 cmd == &app ? "" : (" " + cmd->get_name()).c_str());
    return 2;
  }
  record_given(c.train_flags, c.tc);
  record_given(c.compare_flags, c.cc);
  record_given(c.sweep_flags, c.wc);
  if (!c.wc.given.count("max_steps")) c.wc.max_steps = kSweepSteps;
  if (!c.wc.given.count("n_layer")) c.wc.n_layer = kSweepLayers;
  // compare's own default lengths: 36 runs (6 variants x 3 seeds x 400 and 1200 steps); their
  // wall time is kept in docs/numbers/compare.txt
  if (!c.cc.given.count("max_steps") && c.co.steps_ladder.empty())
    c.co.steps_ladder = kCompareLadder;
  return run_command(c);
}

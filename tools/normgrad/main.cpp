// normgrad: train tiny GPTs with a chosen normalization and look at their gradients.
//   normgrad train --norm dyt --out runs/dyt
//   normgrad eval --ckpt runs/dyt/ckpt.safetensors
//   normgrad sample --ckpt runs/dyt/ckpt.safetensors --tokens 200
//   normgrad grads --ckpt runs/dyt/ckpt.safetensors --out grads.safetensors
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <sstream>

#include "commands.h"
#include "compare.h"
#include "normgrad/error.h"
#include "normgrad/nn/norm.h"
#include "normgrad/threading.h"
#include "train.h"

using namespace ngcli;

// Number checks with messages people can read (CLI11's ranges print 1.8e308).
static CLI::Validator bound(const char* what, bool (*ok)(double)) {
  return CLI::Validator(
      [what, ok](std::string& in) {
        try {
          size_t used = 0;
          const double v = std::stod(in, &used);
          if (used == in.size() && ok(v)) return std::string();
        } catch (...) {
        }
        return std::string("must be ") + what + ", got '" + in + "'";
      },
      what);
}
static const CLI::Validator kPositive = bound("> 0", [](double v) { return v > 0; });
static const CLI::Validator kNonNegative = bound(">= 0", [](double v) { return v >= 0; });
static const CLI::Validator kUnit = bound("in [0, 1]", [](double v) { return v >= 0 && v <= 1; });

static void add_train_flags(CLI::App& c, TrainConfig& t) {
  c.add_option("--data", t.data, "UTF-8 text file (default: the built-in fortunes corpus)");
  c.add_option("--out", t.out, "output folder: checkpoint, metrics.jsonl")->capture_default_str();
  c.add_option("--seed", t.seed, "seed for init, batches and dropout")->capture_default_str();
  c.add_option("--threads", t.threads, "threads for our kernels and OpenBLAS (0: all cores)");
  c.add_option("--device", t.device, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  c.add_flag("--resume", t.resume, "continue OUT/ckpt.safetensors with its saved settings");
  c.add_option("--stop-at", t.stop_at, "stop with a checkpoint at this step (schedule unchanged)")
      ->check(kNonNegative);
  c.add_flag("--quiet", t.quiet, "no progress output");
  c.add_option("--n-layer", t.n_layer)->check(kPositive)->capture_default_str();
  c.add_option("--n-head", t.n_head)->check(kPositive)->capture_default_str();
  c.add_option("--n-embd", t.n_embd)->check(kPositive)->capture_default_str();
  c.add_option("--block-size", t.block_size)->check(kPositive)->capture_default_str();
  c.add_option("--dropout", t.dropout)->check(kUnit)->capture_default_str();
  c.add_option("--bias", t.bias, "biases in Linear layers")->capture_default_str();
  const auto kinds = CLI::IsMember(ng::nn::norm_kinds());
  c.add_option("--norm", t.norm, "layernorm|rmsnorm|dyt|dyisru|derf|none")
      ->check(kinds)
      ->capture_default_str();
  c.add_option("--norm-attn", t.norm_attn, "override for the attention-position norm (ln_1)")
      ->check(kinds);
  c.add_option("--norm-mlp", t.norm_mlp, "override for the MLP-position norm (ln_2)")->check(kinds);
  c.add_option("--norm-final", t.norm_final, "override for the final norm (ln_f)")->check(kinds);
  c.add_option("--eps", t.eps)->check(kPositive)->capture_default_str();
  c.add_option("--alpha0", t.alpha0, "DyT/Derf initial alpha")
      ->check(kPositive)
      ->capture_default_str();
  c.add_option("--alpha0-attn", t.alpha0_attn, "alpha0 at attention positions (DyT LLM recipe)")
      ->check(kPositive);
  c.add_option("--alpha0-other", t.alpha0_other, "alpha0 at MLP and final positions")
      ->check(kPositive);
  c.add_option("--beta0", t.beta0, "DyISRU initial beta (default 1/alpha0^2)")->check(kPositive);
  c.add_option("--shift0", t.shift0, "Derf initial shift")->capture_default_str();
  c.add_flag("--paper-form", t.paper_form, "element-wise norms bounded by sqrt(C)");
  c.add_flag("--plain-beta", t.plain_beta, "DyISRU beta without the softplus parametrization");
  c.add_flag("--embed-scale", t.embed_scale, "learnable scalar after the token embedding");
  c.add_option("--batch", t.batch)->check(kPositive)->capture_default_str();
  c.add_option("--max-steps", t.max_steps)->check(kPositive)->capture_default_str();
  c.add_option("--warmup", t.warmup)->check(kNonNegative)->capture_default_str();
  c.add_option("--lr", t.lr)->check(kPositive)->capture_default_str();
  c.add_option("--min-lr", t.min_lr)->check(kNonNegative)->capture_default_str();
  c.add_option("--weight-decay", t.weight_decay)->check(kNonNegative)->capture_default_str();
  c.add_option("--beta1", t.beta1)->check(kUnit)->capture_default_str();
  c.add_option("--beta2", t.beta2)->check(kUnit)->capture_default_str();
  c.add_option("--grad-clip", t.grad_clip)->check(kPositive)->capture_default_str();
  c.add_option("--scalar-lr-scale", t.scalar_lr_scale, "lr multiplier for norm scalars")
      ->check(kPositive)
      ->capture_default_str();
  c.add_option("--eval-interval", t.eval_interval)->check(kPositive)->capture_default_str();
  c.add_option("--eval-iters", t.eval_iters)->check(kPositive)->capture_default_str();
  c.add_option("--log-interval", t.log_interval)->check(kPositive)->capture_default_str();
  c.add_option("--ckpt-interval", t.ckpt_interval)->check(kPositive)->capture_default_str();
  c.add_option("--probe-interval", t.probe_interval, "record probes every N steps (0: off)")
      ->check(kNonNegative)
      ->capture_default_str();
}

int main(int argc, char** argv) {
  ng::select_blas_core(argv);  // first: may re-run the program with OPENBLAS_CORETYPE set
  CLI::App app{"normgrad: train tiny GPTs with a chosen normalization and inspect gradient flow"};
  app.require_subcommand(1);
  TrainConfig tc;
  auto* train_cmd = app.add_subcommand("train", "train a GPT");
  add_train_flags(*train_cmd, tc);

  std::string ckpt, data, out = "grads.safetensors", prompt;
  int64_t windows = 0, tokens = 200, top_k = 0, batch = 12;
  double temperature = 1.0;
  uint64_t seed = 1337;
  auto* eval_cmd = app.add_subcommand("eval", "loss of a checkpoint on a text file");
  eval_cmd->add_option("--ckpt", ckpt, "checkpoint (.safetensors)")
      ->required()
      ->check(CLI::ExistingFile);
  eval_cmd->add_option("--data", data, "text file (default: the built-in corpus)");
  eval_cmd->add_option("--max-windows", windows, "evaluate at most this many windows (0: all)");
  auto* sample_cmd = app.add_subcommand("sample", "generate text");
  sample_cmd->add_option("--ckpt", ckpt)->required()->check(CLI::ExistingFile);
  sample_cmd->add_option("--prompt", prompt);
  sample_cmd->add_option("--tokens", tokens)->check(kPositive)->capture_default_str();
  sample_cmd->add_option("--temperature", temperature)->check(kPositive)->capture_default_str();
  sample_cmd->add_option("--top-k", top_k, "keep the k most likely (0: all)")->check(kNonNegative);
  sample_cmd->add_option("--seed", seed)->capture_default_str();
  auto* grads_cmd = app.add_subcommand("grads", "loss and every parameter gradient for one batch");
  grads_cmd->add_option("--ckpt", ckpt)->required()->check(CLI::ExistingFile);
  grads_cmd->add_option("--data", data);
  grads_cmd->add_option("--batch", batch)->check(kPositive)->capture_default_str();
  grads_cmd->add_option("--seed", seed)->capture_default_str();
  grads_cmd->add_option("--out", out)->capture_default_str();

  TrainConfig cc;
  std::string kinds_csv = "layernorm,rmsnorm,dyt,dyisru,none", report = "report";
  auto* compare_cmd = app.add_subcommand("compare", "train once per norm kind and write a report");
  add_train_flags(*compare_cmd, cc);
  compare_cmd->add_option("--kinds", kinds_csv, "comma-separated norm kinds")
      ->capture_default_str();
  compare_cmd->add_option("--report", report, "report folder")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() != 0)
      std::fprintf(stderr, "error: %s\n\n%s", e.what(), app.help().c_str());
    else
      std::printf("%s", app.help(e.get_name() == "--help" ? "" : "").c_str());
    return e.get_exit_code();
  }
  try {
    if (*train_cmd) {
      TrainResult r = train(tc);
      return r.diverged ? 3 : r.interrupted ? 130 : 0;
    }
    if (*compare_cmd) {
      std::vector<std::string> kinds;
      std::stringstream ss(kinds_csv);
      for (std::string k; std::getline(ss, k, ',');) {
        const auto known = ng::nn::norm_kinds();
        if (std::find(known.begin(), known.end(), k) == known.end())
          throw ng::Error("[compare] unknown norm kind '" + k + "' in --kinds");
        kinds.push_back(k);
      }
      compare(cc, kinds, report);
    }
    if (*eval_cmd) eval_command(ckpt, data, windows);
    if (*sample_cmd)
      std::printf("%s\n", sample_command(ckpt, prompt, tokens, temperature, top_k, seed).c_str());
    if (*grads_cmd) grads_command(ckpt, data, batch, seed, out);
  } catch (const ng::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

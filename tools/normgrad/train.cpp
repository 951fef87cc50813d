#include "train.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data.h"
#include "normgrad/nn/probes.h"
#include "normgrad/normgrad.h"
#include "normgrad/optim.h"
#ifdef NG_HAS_CUDA
#include "normgrad/cuda.h"
#endif

namespace ngcli {
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace ng;

namespace {
std::atomic<bool> g_interrupted{false};
void on_sigint(int) { g_interrupted = true; }

std::string fmt_duration(double s) {
  char b[32];
  if (s < 60)
    std::snprintf(b, sizeof b, "%.0fs", s);
  else
    std::snprintf(b, sizeof b, "%dm%02ds", (int)(s / 60), (int)s % 60);
  return b;
}

// Keeps only metric lines with step <= `step` (a resumed run rewrites what follows).
void truncate_metrics(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::vector<std::string> keep;
  for (std::string line; std::getline(in, line);) {
    try {
      if (json::parse(line).value("step", (int64_t)0) <= step) keep.push_back(line);
    } catch (...) {
    }
  }
  in.close();
  std::string all;
  for (auto& l : keep) all += l + "\n";
  nn::write_file_atomic(path, std::vector<uint8_t>(all.begin(), all.end()));
}
}  // namespace

nn::GPTConfig TrainConfig::gpt(int64_t vocab) const {
  nn::GPTConfig g{.vocab = vocab,
                  .n_layer = n_layer,
                  .n_head = n_head,
                  .n_embd = n_embd,
                  .block_size = block_size,
                  .dropout = dropout,
                  .bias = bias,
                  .norm = norm,
                  .norm_attn = norm_attn,
                  .norm_mlp = norm_mlp,
                  .norm_final = norm_final};
  g.norm_options = {.eps = eps,
                    .alpha0 = alpha0,
                    .beta0 = beta0,
                    .shift0 = shift0,
                    .paper_form = paper_form,
                    .softplus_beta = !plain_beta};
  g.alpha0_attn = alpha0_attn;
  g.alpha0_other = alpha0_other;
  g.embed_scale = embed_scale;
  g.seed = seed;
  return g;
}

// clang-format off
#define NG_CONFIG_FIELDS(X)                                                                    \
  X(data) X(out) X(seed) X(threads) X(device)                                                  \
  X(n_layer) X(n_head) X(n_embd) X(block_size) X(dropout) X(bias)                              \
  X(norm) X(norm_attn) X(norm_mlp) X(norm_final) X(eps) X(alpha0) X(shift0)                    \
  X(paper_form) X(plain_beta) X(embed_scale)                                                   \
  X(batch) X(max_steps) X(warmup) X(lr) X(min_lr) X(weight_decay) X(beta1) X(beta2)            \
  X(grad_clip) X(scalar_lr_scale)                                                              \
  X(eval_interval) X(eval_iters) X(log_interval) X(ckpt_interval)
// clang-format on

std::string TrainConfig::to_json() const {
  json j;
#define TO(f) j[#f] = f;
  NG_CONFIG_FIELDS(TO)
#undef TO
  if (beta0) j["beta0"] = *beta0;
  if (alpha0_attn) j["alpha0_attn"] = *alpha0_attn;
  if (alpha0_other) j["alpha0_other"] = *alpha0_other;
  return j.dump();
}

TrainConfig TrainConfig::from_json(const std::string& s) {
  TrainConfig c;
  json j;
  try {
    j = json::parse(s);
  } catch (const std::exception& e) {
    fail("config", "checkpoint config is not valid JSON (", e.what(), ")");
  }
#define FROM(f) \
  if (j.contains(#f)) j.at(#f).get_to(c.f);
  NG_CONFIG_FIELDS(FROM)
#undef FROM
  if (j.contains("beta0")) c.beta0 = j["beta0"].get<double>();
  if (j.contains("alpha0_attn")) c.alpha0_attn = j["alpha0_attn"].get<double>();
  if (j.contains("alpha0_other")) c.alpha0_other = j["alpha0_other"].get<double>();
  return c;
}

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::CPU;
  if (name != "cuda") fail("device", "unknown device '", name, "' (cpu or cuda)");
#ifdef NG_HAS_CUDA
  if (!cuda::is_available())
    fail("device", "--device cuda: no usable GPU here (", cuda::unavailable_reason(), ")");
  return Device::CUDA;
#else
  fail("device",
       "--device cuda: this normgrad was built without the CUDA backend (NG_CUDA=OFF "
       "or no CUDA toolkit at build time)");
#endif
}

std::string device_summary(Device d) {
#ifdef NG_HAS_CUDA
  if (d == Device::CUDA) return "device: cuda, " + cuda::device_description();
#endif
  return thread_config();
}

TrainResult train(const TrainConfig& cfg) {
  const Device dev = parse_device(cfg.device);
  if (cfg.threads > 0) set_num_threads(cfg.threads);
  if (!cfg.quiet) std::printf("%s\n", device_summary(dev).c_str());

  const std::string text = cfg.data.empty() ? load_default_corpus() : load_text(cfg.data);
  fs::create_directories(cfg.out);
  const std::string ckpt = cfg.out + "/ckpt.safetensors", metrics = cfg.out + "/metrics.jsonl",
                    probes_path = cfg.out + "/probes.jsonl";

  CharTokenizer tok = CharTokenizer::from_text(text);
  TrainConfig run = cfg;
  nn::Metadata resumed;
  if (cfg.resume) {
    if (!fs::exists(ckpt)) fail("train", "--resume: no checkpoint at ", ckpt);
    resumed = nn::load_safetensors(ckpt).metadata;
    tok = CharTokenizer::from_vocab_string(resumed.at("vocab"));
    TrainConfig saved = TrainConfig::from_json(resumed.at("config"));
    saved.out = cfg.out;
    saved.quiet = cfg.quiet;
    saved.threads = cfg.threads;
    saved.stop_at = cfg.stop_at;
    saved.device = cfg.device;  // where to run, not what: a run may resume elsewhere
    run = saved;
  }
  Batcher data(tok.encode(text), run.block_size, run.seed + 1);
  nn::GPT model(run.gpt(tok.size()));
  optim::AdamW opt(
      optim::default_groups(model.named_parameters(), run.weight_decay, run.scalar_lr_scale),
      run.lr, {.beta1 = run.beta1, .beta2 = run.beta2});
  model.to(dev);
  int64_t step = 0;
  if (cfg.resume) {
    optim::load_checkpoint(ckpt, model, &opt);
    step = std::stoll(resumed.at("step"));
    data.generator().set_state(resumed.at("data_rng"));
    model.dropout_generator().set_state(resumed.at("dropout_rng"));
    truncate_metrics(metrics, step);
    truncate_metrics(probes_path, step);
    if (!cfg.quiet) std::printf("resumed from %s at step %lld\n", ckpt.c_str(), (long long)step);
  } else {
    std::remove(metrics.c_str());
    std::remove(probes_path.c_str());
  }
  if (!cfg.quiet)
    std::printf(
        "model: %lld parameters, norms %s/%s/%s, vocab %lld, %lld train / %lld val tokens\n",
        (long long)model.num_parameters(), model.blocks()[0]->ln_1->kind().c_str(),
        model.blocks()[0]->ln_2->kind().c_str(), model.ln_f->kind().c_str(), (long long)tok.size(),
        (long long)data.train_tokens(), (long long)data.val_tokens());

  auto save = [&](int64_t at) {
    optim::save_checkpoint(ckpt, model, &opt,
                           {{"config", run.to_json()},
                            {"vocab", tok.vocab_string()},
                            {"step", std::to_string(at)},
                            {"data_rng", data.generator().state()},
                            {"dropout_rng", model.dropout_generator().state()},
                            {"norm", run.norm},
                            {"format", "normgrad-gpt-1"}});
  };
  auto eval_loss = [&](bool val) {  // the same batches every time: comparable across runs
    NoGradGuard no_grad;
    model.eval();
    Generator g(run.seed + (val ? 2 : 3));
    double s = 0;
    for (int64_t i = 0; i < run.eval_iters; ++i) {
      auto [x, y] = data.batch(run.batch, val, &g);
      s += model.loss(x.to(dev), y.to(dev)).item();
    }
    model.train();
    return s / (double)run.eval_iters;
  };

  std::unique_ptr<nn::Probes> probes;
  std::ofstream plog;
  if (run.probe_interval > 0) {
    probes = std::make_unique<nn::Probes>(model);
    plog.open(probes_path, std::ios::app);
  }
  std::ofstream mlog(metrics, std::ios::app);
  auto log = [&](const json& j) {
    mlog << j.dump() << "\n";
    mlog.flush();
  };
  g_interrupted = false;
  auto prev = std::signal(SIGINT, on_sigint);
  const bool tty = isatty(fileno(stdout));
  TrainResult res;
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t first = step;
  double last_loss = NAN;
  const int64_t last = run.stop_at > 0 ? std::min(run.stop_at, run.max_steps) : run.max_steps;
  while (step < last) {
    const double lr = optim::warmup_cosine(step, run.lr, run.warmup, run.max_steps, run.min_lr);
    opt.set_lr(lr);
    auto [xh, yh] = data.batch(run.batch, false);
    const Tensor x = xh.to(dev), y = yh.to(dev);
    const bool probing = probes && (step + 1) % run.probe_interval == 0;
    if (probing) probes->arm();
    Tensor loss = model.loss(x, y);
    opt.zero_grad();
    loss.backward();
    if (probing) probes->before_update();
    const double gnorm = optim::clip_grad_norm(model.parameters(), run.grad_clip);
    last_loss = loss.item();
    if (!std::isfinite(last_loss) || !std::isfinite(gnorm)) {
      std::string where = "(none: the loss itself)";
      for (auto& [n, p] : model.named_parameters())
        if (p.grad().defined() && !std::isfinite(p.grad().norm().item())) {
          where = n;
          break;
        }
      res.diverged = true;
      res.message = "diverged at step " + std::to_string(step) + ": loss " +
                    std::to_string(last_loss) + ", first non-finite gradient in " + where +
                    "; last good checkpoint kept at " + ckpt;
      std::fprintf(stderr, "\n%s\n", res.message.c_str());
      break;
    }
    opt.step();
    ++step;
    if (probing) {
      plog << probes->after_update(step) << "\n";
      plog.flush();
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double tps = (double)(step - first) * run.batch * run.block_size / secs;
    json m = {{"step", step},       {"loss", last_loss},   {"lr", lr},
              {"grad_norm", gnorm}, {"tokens_per_s", tps}, {"time_s", secs}};
    if (step % run.eval_interval == 0 || step == run.max_steps) {
      m["val_loss"] = res.final_val_loss = eval_loss(true);
      m["train_loss_eval"] = res.final_train_loss = eval_loss(false);
    }
    log(m);
    if (!cfg.quiet && (tty || step % run.log_interval == 0 || m.contains("val_loss"))) {
      const double eta = (double)(run.max_steps - step) * secs / (double)(step - first);
      std::printf("%sstep %5lld/%lld | loss %.4f | %6.0f tok/s | ETA %s", tty ? "\r" : "",
                  (long long)step, (long long)run.max_steps, last_loss, tps,
                  fmt_duration(eta).c_str());
      if (m.contains("val_loss")) std::printf(" | val %.4f", m["val_loss"].get<double>());
      std::printf(tty && !m.contains("val_loss") ? "   " : "\n");
      std::fflush(stdout);
    }
    res.tokens_per_s = tps;
    if (step % run.ckpt_interval == 0 || step == last) save(step);
    if (g_interrupted) {
      save(step);
      res.interrupted = true;
      res.message = "interrupted: checkpoint saved at step " + std::to_string(step) + " in " + ckpt;
      std::printf("\n%s\n", res.message.c_str());
      break;
    }
  }
  std::signal(SIGINT, prev);
  res.steps = step;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!res.diverged && !res.interrupted && !cfg.quiet)
    std::printf("done: %lld steps in %s, train %.4f, val %.4f, %.0f tokens/s; checkpoint %s\n",
                (long long)step, fmt_duration(res.seconds).c_str(), res.final_train_loss,
                res.final_val_loss, res.tokens_per_s, ckpt.c_str());
  return res;
}

}  // namespace ngcli

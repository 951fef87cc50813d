// `normgrad train`: the training loop behind the command, usable from tests and examples.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "normgrad/nn/gpt.h"

namespace ngcli {

struct TrainConfig {
  // data and run
  std::string data;  // empty: the built-in fortunes corpus
  std::string out = "out";
  uint64_t seed = 1337;
  int threads = 0;  // 0: all cores
  std::string device = "cpu";
  bool resume = false;  // continue OUT/ckpt.safetensors with the settings saved in it
  int64_t stop_at = 0;  // stop (with a checkpoint) at this step; the schedule stays max_steps
  bool quiet = false;
  // model
  int64_t n_layer = 4, n_head = 4, n_embd = 128, block_size = 64;
  double dropout = 0.0;
  bool bias = true;
  std::string norm = "layernorm", norm_attn, norm_mlp, norm_final;
  double eps = 1e-5, alpha0 = 0.5, shift0 = 0.0;
  std::optional<double> beta0, alpha0_attn, alpha0_other;
  bool paper_form = false, plain_beta = false, embed_scale = false;
  // optimization
  int64_t batch = 12, max_steps = 600, warmup = 50;
  double lr = 1e-3, min_lr = 1e-4, weight_decay = 0.1, beta1 = 0.9, beta2 = 0.95;
  double grad_clip = 1.0, scalar_lr_scale = 1.0;
  // bookkeeping
  int64_t eval_interval = 100, eval_iters = 10, log_interval = 10, ckpt_interval = 200;
  int64_t probe_interval = 0;  // record probes to OUT/probes.jsonl every N steps (0: off)

  ng::nn::GPTConfig gpt(int64_t vocab) const;
  std::string to_json() const;
  static TrainConfig from_json(const std::string& json);  // keys missing in json keep defaults
};

struct TrainResult {
  int64_t steps = 0;
  double final_train_loss = 0, final_val_loss = 0, tokens_per_s = 0, seconds = 0;
  bool diverged = false, interrupted = false;
  std::string message;
};

TrainResult train(const TrainConfig& cfg);

// "cpu" or "cuda"; a clear error when CUDA was not built in or no GPU is usable.
ng::Device parse_device(const std::string& name);
// What the run will use: thread configuration on the CPU, the GPU's name on CUDA.
std::string device_summary(ng::Device d);

}  // namespace ngcli

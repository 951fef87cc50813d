// Gradient flow across depth: a deeper, narrow GPT (12 layers, n_embd 64) trained briefly
// with each norm kind (same seed and batches). Plots the gradient reaching each block's
// residual stream at several points in training and each norm layer's Jacobian top singular
// value; prints which kinds keep the gradient within a factor of 10 across depth.
//   build/release/examples/gradient_flow_depth [--steps N] [--report DIR]
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "compare.h"

int main(int argc, char** argv) {
  int64_t steps = 150;
  std::string dir = "gradient_flow_depth";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--steps"))
      steps = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--report"))
      dir = argv[i + 1];
  }
  ngcli::TrainConfig c;
  c.n_layer = 12, c.n_head = 4, c.n_embd = 64, c.batch = 8;
  c.max_steps = steps, c.warmup = steps / 5, c.eval_interval = steps, c.eval_iters = 4;
  c.probe_interval = std::max<int64_t>(1, steps / 6);
  c.paper_form = true, c.alpha0 = 1.0, c.quiet = true;  // the element-wise norms' trainable form
  try {
    ngcli::compare(c, {"layernorm", "rmsnorm", "dyt", "dyisru", "none"}, dir);
  } catch (const ng::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  const auto summary = nlohmann::json::parse(std::ifstream(dir + "/summary.json"));
  std::printf("%-10s %10s %22s   %s\n", "norm", "val loss", "first/last block grad",
              "across 12 blocks");
  for (const auto& e : summary) {
    const auto& q = e["residual_grad_first_over_last"];
    std::printf("%-10s %10.4f %22s   %s\n", e["norm"].get<std::string>().c_str(),
                e["val_loss"].get<double>(),
                q.is_null() ? "n/a" : std::to_string(q.get<double>()).c_str(),
                e["gradient_flow"].get<std::string>().c_str());
  }
  std::printf("figures: %s/grad_flow.png, %s/jacobian.png\n", dir.c_str(), dir.c_str());
  return 0;
}

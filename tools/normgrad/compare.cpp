#include "compare.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "normgrad/error.h"
#include "normgrad/nn/safetensors.h"

#ifndef NG_PLOT_SCRIPT
#define NG_PLOT_SCRIPT "tools/normgrad/plot_report.py"
#endif

namespace ngcli {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

json last_line(const std::string& path) {
  std::ifstream f(path);
  std::string line, last;
  while (std::getline(f, line))
    if (!line.empty()) last = line;
  return last.empty() ? json() : json::parse(last);
}

// Where gradients vanish or explode: residual-stream gradient of the first block over the
// last, from the final probe record.
std::string gradient_verdict(const json& probe, double& ratio) {
  ratio = NAN;
  if (probe.is_null() || probe["residual_grad"].empty()) return "no probe data";
  const auto& r = probe["residual_grad"];
  if (r.front().is_null() || r.back().is_null()) return "no probe data";
  const double first = r.front().get<double>(), last = r.back().get<double>();
  ratio = first / last;
  if (first == 0 && last == 0) return "vanished: no gradient reaches the residual stream";
  if (last == 0) return "vanishes at the last block";
  if (!std::isfinite(ratio)) return "non-finite gradients";
  if (ratio > 10) return "grows " + std::to_string((int)ratio) + "x towards the input";
  if (ratio < 0.1) return "shrinks " + std::to_string((int)(1 / ratio)) + "x towards the input";
  return "within 10x across depth";
}

}  // namespace

CompareResult compare(const TrainConfig& base, const std::vector<std::string>& kinds,
                      const std::string& dir) {
  if (kinds.empty()) ng::fail("compare", "no norm kinds given");
  fs::create_directories(dir);
  CompareResult res;
  json summary = json::array();
  for (const auto& k : kinds) {
    TrainConfig c = base;
    c.norm = k;
    c.out = dir + "/" + k;
    if (c.probe_interval <= 0) c.probe_interval = std::max<int64_t>(1, c.max_steps / 20);
    if (!c.quiet) std::printf("\n== %s ==\n", k.c_str());
    TrainResult r = train(c);
    res.kinds.push_back(k);
    res.runs.push_back(r);
    double ratio;
    const std::string verdict = gradient_verdict(last_line(c.out + "/probes.jsonl"), ratio);
    summary.push_back(
        {{"norm", k},
         {"steps", r.steps},
         {"train_loss", r.final_train_loss},
         {"val_loss", r.final_val_loss},
         {"tokens_per_s", r.tokens_per_s},
         {"seconds", r.seconds},
         {"diverged", r.diverged},
         {"message", r.message},
         {"residual_grad_first_over_last", std::isfinite(ratio) ? json(ratio) : json()},
         {"gradient_flow", verdict}});
  }
  const std::string s = summary.dump(2);
  ng::nn::write_file_atomic(dir + "/summary.json", std::vector<uint8_t>(s.begin(), s.end()));

  // Debian's interpreter is the one python3-matplotlib installs into.
  const std::string py = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const std::string cmd = py + " " + NG_PLOT_SCRIPT + " " + dir + " > " + dir + "/plot.log 2>&1";
  res.figures = std::system((py + " -c 'import matplotlib' > /dev/null 2>&1").c_str()) == 0 &&
                std::system(cmd.c_str()) == 0;

  std::ostringstream md;
  md << "# normgrad compare\n\n"
     << "Same model, seed, data and batches for every norm: " << base.n_layer << " layers, "
     << base.n_head << " heads, n_embd " << base.n_embd << ", block " << base.block_size
     << ", batch " << base.batch << ", " << base.max_steps << " steps of AdamW (lr " << base.lr
     << ", warmup " << base.warmup << ", cosine to " << base.min_lr << "), seed " << base.seed
     << ".\n\n| norm | train loss | val loss | tokens/s | stability | gradient to the residual "
        "stream, first block / last block |\n|---|---|---|---|---|---|\n";
  for (const auto& e : summary) {
    char row[512];
    const json& q = e["residual_grad_first_over_last"];
    std::snprintf(row, sizeof row, "| %s | %.4f | %.4f | %.0f | %s | %s (%s) |\n",
                  e["norm"].get<std::string>().c_str(), e["train_loss"].get<double>(),
                  e["val_loss"].get<double>(), e["tokens_per_s"].get<double>(),
                  e["diverged"].get<bool>() ? "diverged" : "stable",
                  q.is_null() ? "n/a" : std::to_string(q.get<double>()).substr(0, 6).c_str(),
                  e["gradient_flow"].get<std::string>().c_str());
    md << row;
  }
  if (res.figures) {
    md << "\n## Figures\n\n";
    for (const char* f :
         {"loss_curves", "grad_flow", "alpha_vs_inv_std", "saturation", "scatter", "jacobian"})
      if (fs::exists(dir + "/" + f + ".png")) md << "![" << f << "](" << f << ".png)\n\n";
  } else {
    md << "\n(Figures skipped: python3 with matplotlib is needed; see plot.log.)\n";
  }
  const std::string text = md.str();
  ng::nn::write_file_atomic(dir + "/report.md", std::vector<uint8_t>(text.begin(), text.end()));
  if (!base.quiet)
    std::printf("\nreport: %s/report.md%s\n", dir.c_str(), res.figures ? " (with figures)" : "");
  return res;
}

}  // namespace ngcli

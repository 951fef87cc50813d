// Saturation (Verma 2026): the fraction of DyT pre-activations with |alpha x| above a
// threshold, over training, in a data-starved regime (a 30k-character slice of the corpus)
// and a larger one (the whole corpus), next to DyT's and LayerNorm's validation loss in each.
//   build/release/examples/saturation [--steps N] [--report DIR]
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../common/example_io.h"
#include "normgrad/report/compare.h"
#include "normgrad/train/data.h"

int main(int argc, char** argv) {
  int64_t steps = 300;
  std::string dir = "saturation";
  example::parse_steps_report(argc, argv, steps, dir);
  try {
    const std::string corpus = ngcli::load_default_corpus();
    std::filesystem::create_directories(dir);
    const std::string tiny = dir + "/tiny_slice.txt";
    std::ofstream(tiny) << corpus.substr(0, 30000);
    std::printf("%-8s %-10s %10s %16s %16s\n", "regime", "norm", "val loss", "sat |ax|>2 end",
                "sat |ax|>1 end");
    for (const auto& [regime, data] :
         {std::pair<std::string, std::string>{"tiny", tiny}, {"full", ""}}) {
      ngcli::TrainConfig c;
      c.data = data;
      c.max_steps = steps, c.eval_interval = steps,
      c.probe_interval = std::max<int64_t>(1, steps / 20);
      c.scale = "sqrtc", c.alpha0 = 1.0, c.quiet = true;
      c.overwrite = true;  // a rerun with other --steps replaces the example's runs
      ngcli::compare(c, {"layernorm", "dyt"}, dir + "/" + regime);
      const auto summary =
          nlohmann::json::parse(std::ifstream(dir + "/" + regime + "/summary.json"));
      for (const auto& e : summary["variants"]) {
        const std::string k = e["spec"];
        std::string s2 = "-", s1 = "-";
        if (k == "dyt") {
          std::ifstream f(ngcli::run_dir(dir + "/" + regime, "dyt", c.seed) + "/probes.jsonl");
          std::string line, lastl;
          while (std::getline(f, line)) lastl = line;
          const auto p = nlohmann::json::parse(lastl);
          double a2 = 0, a1 = 0;
          for (auto& n : p["norms"])
            a2 += n["saturation"]["2.0"].get<double>(), a1 += n["saturation"]["1.0"].get<double>();
          s2 = std::to_string(a2 / p["norms"].size()).substr(0, 6);
          s1 = std::to_string(a1 / p["norms"].size()).substr(0, 6);
        }
        std::printf("%-8s %-10s %10.4f %16s %16s\n", regime.c_str(), k.c_str(),
                    e["val_loss_mean"].get<double>(), s2.c_str(), s1.c_str());
      }
    }
    std::printf(
        "figures: %s/tiny/saturation.png, %s/full/saturation.png (and loss curves beside them)\n",
        dir.c_str(), dir.c_str());
  } catch (const ng::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

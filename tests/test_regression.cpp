// Numerics guard for the speed work: 50 training steps of the default `normgrad train`
// configuration (4 layers, 4 heads, n_embd 128, block 64, batch 12, AdamW, warm-up +
// cosine, clipping) must reproduce the losses recorded by the build before any kernel
// fusion or BLAS change, to 1e-5 relative. Regenerate the reference only on purpose:
//   NG_WRITE_LOSS_REFERENCE=1 normgrad_tests --test-suite=regression
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "helpers.h"
#include "normgrad/train/train.h"

using namespace ngt;

namespace {

// ~24k characters of pseudo-words over a 40-symbol alphabet, the same on every machine.
std::string regression_corpus() {
  const std::string path = "regression_corpus.txt";
  Generator g(2024);
  const std::string letters = "etaoinshrdlucmfwypvbgkqjxz";
  std::ofstream f(path);
  for (int w = 0; w < 4000; ++w) {
    const int len = 1 + (int)(g.uniform() * 8);
    for (int i = 0; i < len; ++i) f << letters[(size_t)(g.uniform() * g.uniform() * 26)];
    const double u = g.uniform();
    f << (u < 0.08 ? ".\n" : u < 0.15 ? ", " : u < 0.17 ? "? " : " ");
  }
  return path;
}

}  // namespace

TEST_SUITE("regression") {
  TEST_CASE("default config: 50 training losses match the pre-optimisation build to 1e-5") {
    ngcli::TrainConfig c;  // the command's defaults
    c.data = regression_corpus();
    c.out = "regression_run";
    c.quiet = true;
    c.overwrite = true;  // the folder of the suite's previous run
    // the sanitizer build compares the first 10 (memory errors show early)
    const size_t n = kSanitized ? 10 : 50;
    c.max_steps = (int64_t)n;
    c.eval_interval = 1000;
    c.ckpt_interval = 1000;
    ngcli::train(c);
    std::vector<double> losses;
    std::ifstream m(c.out + "/metrics.jsonl");
    for (std::string line; std::getline(m, line);)
      losses.push_back(nlohmann::json::parse(line)["loss"].get<double>());
    REQUIRE(losses.size() == n);
    const std::string ref = std::string(NG_TEST_DIR) + "/data/default_config_losses_50.txt";
    if (std::getenv("NG_WRITE_LOSS_REFERENCE") && n == 50) {
      std::ofstream out(ref);
      out.precision(9);
      for (double l : losses) out << l << "\n";
      MESSAGE("wrote " << ref);
    }
    std::ifstream in(ref);
    std::vector<double> want;
    for (double v; in >> v;) want.push_back(v);
    REQUIRE(want.size() == 50);
    double worst = 0;
    for (size_t i = 0; i < n; ++i)
      worst = std::max(worst, std::fabs(losses[i] - want[i]) / want[i]);
    MESSAGE("first loss " << losses[0] << ", last " << losses[n - 1]
                          << ", worst relative difference " << worst << " over " << n << " steps");
    CHECK(worst <= 1e-5);
    std::filesystem::remove_all(c.out);
    std::filesystem::remove(c.data);
  }
}

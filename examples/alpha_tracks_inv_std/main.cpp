// DyT paper, Fig. 8: during training each DyT layer's alpha moves with the 1/std of its
// input, and across layers the final alpha correlates with 1/std. Trains a small GPT with
// DyT (paper form: sqrt(C) tanh(alpha x), alpha0 = 1; the folded form with GPT-2's 0.02
// init saturates and stops learning, see the README) and plots alpha and 1/std per layer.
//   build/release/examples/alpha_tracks_inv_std [--steps N] [--report DIR]
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../common/example_io.h"
#include "normgrad/report/compare.h"

int main(int argc, char** argv) {
  int64_t steps = 400;
  std::string dir = "alpha_tracks_inv_std";
  example::parse_steps_report(argc, argv, steps, dir);
  ngcli::TrainConfig c;
  c.max_steps = steps, c.eval_interval = steps, c.probe_interval = std::max<int64_t>(1, steps / 40);
  c.scale = "sqrtc", c.alpha0 = 1.0, c.quiet = true;
  c.overwrite = true;  // a rerun with other --steps replaces the example's runs
  try {
    ngcli::compare(c, {"dyt"}, dir);
  } catch (const ng::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  std::ifstream f(ngcli::run_dir(dir, "dyt", c.seed) + "/probes.jsonl");
  std::vector<nlohmann::json> recs;
  for (std::string l; std::getline(f, l);) recs.push_back(nlohmann::json::parse(l));
  auto pearson = [](const std::vector<double>& a, const std::vector<double>& b) {
    const double n = (double)a.size();
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < a.size(); ++i) ma += a[i] / n, mb += b[i] / n;
    for (size_t i = 0; i < a.size(); ++i)
      sab += (a[i] - ma) * (b[i] - mb), saa += (a[i] - ma) * (a[i] - ma),
          sbb += (b[i] - mb) * (b[i] - mb);
    return sab / std::sqrt(saa * sbb);
  };
  std::printf("%-24s %10s %10s %28s\n", "DyT layer", "alpha", "1/std",
              "r(alpha, 1/std) over training");
  std::vector<double> fa, fi;
  const auto& last = recs.back()["norms"];
  for (size_t k = 0; k < last.size(); ++k) {
    std::vector<double> a, s;
    for (auto& r : recs) a.push_back(r["norms"][k]["alpha"]), s.push_back(r["norms"][k]["inv_std"]);
    fa.push_back(a.back());
    fi.push_back(s.back());
    std::printf("%-24s %10.4f %10.4f %28.3f\n", last[k]["name"].get<std::string>().c_str(),
                a.back(), s.back(), pearson(a, s));
  }
  std::printf("across layers at the end: Pearson r(final alpha, final 1/std) = %.3f\n",
              pearson(fa, fi));
  std::printf("figure: %s/alpha_vs_inv_std.png (and the rest of the report in %s)\n", dir.c_str(),
              dir.c_str());
  return 0;
}

// Why Zhu et al.'s plain DyT stays at the unigram level in this tiny GPT while the
// sqrt(C)-scaled form learns, and two interventions that test the explanation.
//
// The explanation, from the probes of the default runs: the final norm ln_f feeds the LM head
// (tied to the embedding, GPT-2's 0.02 init). Plain DyT's output y = weight tanh(alpha x) +
// bias is bounded by |weight| = 1 per channel, far below what confident logits need, while
// LayerNorm's output has unit RMS at any input size and the sqrt(C) form's bound is sqrt(C).
// The loss then drives the last block's output up until alpha x saturates at ln_f
// (tanh' = 0 in float32 beyond |alpha x| ~ 9): from then on no gradient reaches any block, and
// only ln_f's bias and the embedding learn, which is the unigram distribution.
//
// So it predicts, by one rule: a model stays at the unigram level exactly when its final norm
// is plain DyT, whatever the other positions hold and whatever DyT's slope at 0. This
// example trains six models (same seeds, data and lr) and says, from their val loss, whether
// each came out as predicted:
//   plain DyT everywhere (Zhu et al.'s defaults)           -> unigram
//   DyT sqrt(C), alpha0 = 2 everywhere (the report's)      -> learns
//   DyT sqrt(C), alpha0 = 0.5 / sqrt(C): plain's slope at 0 -> learns (the bound, not the slope)
//   plain DyT, alpha0 = 2 sqrt(C): sqrt(C)'s slope at 0    -> unigram (idem)
//   plain DyT at ln_1 / ln_2, LayerNorm at ln_f           -> learns (intervention A)
//   LayerNorm at ln_1 / ln_2, plain DyT at ln_f           -> unigram (intervention B)
//   build/release/examples/dyt_collapse [--steps N] [--report DIR]
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../common/example_io.h"
#include "normgrad/report/compare.h"

using json = nlohmann::json;

namespace {

struct Case {
  std::string spec, what;
  bool predicted_unigram;
};

std::vector<json> read_probes(const std::string& path) {
  std::vector<json> out;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);)
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t steps = 300;
  std::string dir = "dyt_collapse";
  example::parse_steps_report(argc, argv, steps, dir);
  const double sqrt_c = std::sqrt(128.0);
  const std::vector<Case> cases = {
      {"dyt", "plain DyT everywhere (Zhu et al.'s defaults, alpha0 0.5)", true},
      {"dyt:scale=sqrtc,alpha0=2", "DyT sqrt(C), alpha0 2 everywhere (the report's)", false},
      {"dyt:scale=sqrtc,alpha0=" + std::to_string(0.5 / sqrt_c).substr(0, 6),
       "DyT sqrt(C) with plain DyT's slope at 0", false},
      {"dyt:alpha0=" + std::to_string(2 * sqrt_c).substr(0, 6),
       "plain DyT with DyT sqrt(C)'s slope at 0", true},
      {"dyt:norm_final=layernorm", "A: plain DyT, LayerNorm at ln_f", false},
      {"layernorm:norm_final=dyt", "B: LayerNorm, plain DyT at ln_f", true}};
  ngcli::TrainConfig c;
  c.lr = 1e-3;  // DyT sqrt(C)'s searched lr; plain DyT stays at the unigram level at every lr
  c.max_steps = steps, c.eval_interval = steps, c.probe_interval = std::max<int64_t>(1, steps / 30);
  c.quiet = true;
  c.overwrite = true;  // a rerun with other --steps replaces the example's runs
  // jobs 1: the runs train in this process (a pool would re-execute this binary)
  ngcli::CompareOptions o{.seeds = 2, .dir = dir, .jobs = 1};
  for (const auto& k : cases) o.variants.push_back(ngcli::parse_variant(k.spec));
  ngcli::CompareResult res;
  try {
    res = ngcli::compare(c, o);
  } catch (const ng::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  const json summary = json::parse(std::ifstream(dir + "/summary.json"));
  std::printf("lr %g, %lld steps, seeds %llu..%llu; unigram baseline %.4f. Rule: a model 'stays "
              "at the unigram level' when its mean val loss is within 0.1 nats of it.\n\n",
              c.lr, (long long)steps, (unsigned long long)c.seed,
              (unsigned long long)c.seed + 1, res.unigram);
  std::printf("%-28s %9s %9s %9s %9s %6s  %-9s %-9s %s\n", "variant", "lnf out", "lnf in",
              "lnf sat", "no grad", "val", "predicted", "measured", "as predicted");
  std::printf("%-28s %9s %9s %9s %9s %6s\n", "", "RMS, 1st", "RMS, end", "|ax|>2", "from", "loss");
  int as_predicted = 0;
  json fig = json::object();
  for (size_t i = 0; i < cases.size(); ++i) {
    const json& v = summary["variants"][i];
    const auto probes = read_probes(ngcli::run_dir(dir, cases[i].spec, c.seed) + "/probes.jsonl");
    if (probes.empty()) continue;
    const json &first = probes.front()["norms"].back(), &last = probes.back()["norms"].back();
    // the first probed step from which no gradient reaches any block (relative gradient 0)
    std::string dead = "never";
    json steps_j = json::array(), sat_j = json::array(), rel_j = json::array(),
         rms_j = json::array();
    for (const auto& p : probes) {
      double rel_sum = 0;
      for (const auto& g : p["relative_grad"]) rel_sum += g.is_number() ? g.get<double>() : 0;
      if (rel_sum == 0 && dead == "never") dead = std::to_string(p["step"].get<int64_t>());
      if (rel_sum > 0) dead = "never";  // it came back
      const json& lnf = p["norms"].back();
      steps_j.push_back(p["step"]);
      sat_j.push_back(lnf.contains("saturation") ? lnf["saturation"]["2.0"] : json());
      rel_j.push_back(p["relative_grad"][0]);
      rms_j.push_back(lnf["rms"]);
    }
    const std::string sat =
        last.contains("saturation") ? std::to_string(last["saturation"]["2.0"].get<double>()).substr(0, 5) : "-";
    const double val = v["val_loss_mean"].get<double>();
    const bool unigram = val > res.unigram - 0.1;
    as_predicted += unigram == cases[i].predicted_unigram;
    std::printf("%-28s %9.3g %9.3g %9s %9s %6.3f  %-9s %-9s %s\n", cases[i].spec.c_str(),
                first["output_rms"].get<double>(), last["rms"].get<double>(), sat.c_str(),
                dead.c_str(), val, cases[i].predicted_unigram ? "unigram" : "learns",
                unigram ? "unigram" : "learns",
                unigram == cases[i].predicted_unigram ? "yes" : "NO");
    fig[cases[i].spec] = {{"what", cases[i].what},
                          {"steps", steps_j},
                          {"lnf_saturation", sat_j},
                          {"relative_grad_block0", rel_j},
                          {"lnf_input_rms", rms_j}};
  }
  std::printf("\n%d of %zu as predicted. Columns (seed %llu): ln_f's output RMS at the first "
              "probe (LayerNorm: ~1), ln_f's input RMS (the last block's output) at the end, the "
              "share of ln_f inputs with |alpha x| > 2 at the end, the first probed step from "
              "which no gradient reaches any block, mean val loss over both seeds.\n",
              as_predicted, cases.size(), (unsigned long long)c.seed);
  std::ofstream(dir + "/collapse.json") << fig.dump();
  const bool drawn = example::draw("collapse", dir + "/collapse.json", dir + "/collapse.png");
  std::printf("figure: %s/collapse.png%s\n", dir.c_str(), drawn ? "" : " (skipped: no matplotlib)");
  return as_predicted == (int)cases.size() ? 0 : 2;
}

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
// So it predicts, by one rule: with Zhu et al.'s plain DyT (alpha0 0.5) at ln_f a model stays
// at the unigram level, whatever the other positions hold; with an unbounded final norm
// (LayerNorm) or DyT bounded by sqrt(C) it learns, even at plain DyT's slope at 0. This
// example trains the cases below (same seeds, data and lr) and says, from each run's val loss,
// whether they came out as predicted:
//   plain DyT everywhere (Zhu et al.'s defaults)           -> unigram
//   DyT sqrt(C), alpha0 = 2 everywhere (the report's)      -> learns
//   DyT sqrt(C), alpha0 = 0.5 / sqrt(C): plain's slope at 0 -> learns (the bound, not the slope)
//   plain DyT at ln_1 / ln_2, LayerNorm at ln_f           -> learns (intervention A)
//   LayerNorm at ln_1 / ln_2, plain DyT at ln_f           -> unigram (intervention B)
// and one case the rule leaves open, reported as measured: plain DyT with alpha0 = 2 sqrt(C)
// (the sqrt(C) form's slope at 0, so ln_f starts near its bound, as LayerNorm's unit RMS).
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

std::string number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

enum class Outcome { kUnigram, kLearns, kOpen };  // kOpen: the rule predicts nothing

struct Case {
  std::string spec, what;
  Outcome predicted;
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
      {"dyt", "plain DyT everywhere (Zhu et al.'s defaults, alpha0 0.5)", Outcome::kUnigram},
      {"dyt:scale=sqrtc,alpha0=2", "DyT sqrt(C), alpha0 2 everywhere (the report's)",
       Outcome::kLearns},
      {"dyt:scale=sqrtc,alpha0=" + number(0.5 / sqrt_c), "DyT sqrt(C) with plain DyT's slope at 0",
       Outcome::kLearns},
      {"dyt:norm_final=layernorm", "A: plain DyT, LayerNorm at ln_f", Outcome::kLearns},
      {"layernorm:norm_final=dyt", "B: LayerNorm, plain DyT at ln_f", Outcome::kUnigram},
      {"dyt:alpha0=" + number(2 * sqrt_c), "plain DyT with DyT sqrt(C)'s slope at 0 (open)",
       Outcome::kOpen}};
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
  std::printf(
      "lr %g, %lld steps, seeds %llu..%llu; unigram baseline %.4f. Rule: a model 'stays "
      "at the unigram level' when its mean val loss is within 0.1 nats of it.\n\n",
      c.lr, (long long)steps, (unsigned long long)c.seed, (unsigned long long)c.seed + 1,
      res.unigram);
  std::printf("%-28s %9s %9s %9s %9s %6s  %-9s %-14s %s\n", "variant", "lnf out", "lnf in",
              "lnf sat", "no grad", "val", "predicted", "measured", "as predicted");
  std::printf("%-28s %9s %9s %9s %9s %6s\n", "", "RMS, 1st", "RMS, end", "|ax|>2", "from", "loss");
  int as_predicted = 0, predicted = 0;
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
      bool none = !p["relative_grad"].empty();  // every block's gradient exactly 0
      for (const auto& g : p["relative_grad"]) none &= g.is_number() && g.get<double>() == 0;
      if (none && dead == "never") dead = std::to_string(p["step"].get<int64_t>());
      if (!none) dead = "never";  // it came back
      const json& lnf = p["norms"].back();
      steps_j.push_back(p["step"]);
      sat_j.push_back(lnf.contains("saturation") ? lnf["saturation"]["2.0"] : json());
      rel_j.push_back(p["relative_grad"][0]);
      rms_j.push_back(lnf["rms"]);
    }
    const std::string sat =
        last.contains("saturation")
            ? std::to_string(last["saturation"]["2.0"].get<double>()).substr(0, 5)
            : "-";
    const double val = v["val_loss_mean"].is_number() ? v["val_loss_mean"].get<double>() : NAN;
    // per run: learned when its val loss is more than 0.1 below the unigram baseline (a run
    // that never finished did not)
    int learned = 0, n = 0;
    for (const auto& r : v["runs"]) {
      ++n;
      learned += r["val_loss"].is_number() && r["val_loss"].get<double>() < res.unigram - 0.1;
    }
    const Outcome measured = learned == n   ? Outcome::kLearns
                             : learned == 0 ? Outcome::kUnigram
                                            : Outcome::kOpen;
    const std::string measured_words =
        measured == Outcome::kLearns ? "learns"
        : measured == Outcome::kUnigram
            ? "unigram"
            : "mixed: " + std::to_string(learned) + " of " + std::to_string(n);
    const bool has_prediction = cases[i].predicted != Outcome::kOpen;
    predicted += has_prediction;
    as_predicted += has_prediction && measured == cases[i].predicted;
    std::printf("%-28s %9.3g %9.3g %9s %9s %6.3f  %-9s %-14s %s\n", cases[i].spec.c_str(),
                first["output_rms"].get<double>(), last["rms"].get<double>(), sat.c_str(),
                dead.c_str(), val,
                !has_prediction                           ? "open"
                : cases[i].predicted == Outcome::kUnigram ? "unigram"
                                                          : "learns",
                measured_words.c_str(),
                !has_prediction                  ? "-"
                : measured == cases[i].predicted ? "yes"
                                                 : "NO");
    fig[cases[i].spec] = {{"what", cases[i].what},
                          {"steps", steps_j},
                          {"lnf_saturation", sat_j},
                          {"relative_grad_block0", rel_j},
                          {"lnf_input_rms", rms_j}};
  }
  std::printf(
      "\n%d of %d predicted cases as predicted. Columns (seed %llu): ln_f's output RMS "
      "at the first probe (LayerNorm: ~1), ln_f's input RMS (the last block's output) at "
      "the end, the share of ln_f inputs with |alpha x| > 2 at the end, the first probed "
      "step from which no gradient reaches any block; val loss: mean over both seeds; "
      "measured: per run, learned = val loss more than 0.1 below the baseline.\n",
      as_predicted, predicted, (unsigned long long)c.seed);
  std::ofstream(dir + "/collapse.json") << fig.dump();
  const bool drawn = example::draw("collapse", dir + "/collapse.json", dir + "/collapse.png");
  std::printf("figure: %s/collapse.png%s\n", dir.c_str(), drawn ? "" : " (skipped: no matplotlib)");
  return as_predicted == predicted ? 0 : 2;
}

#include "normgrad/report/flow.h"

#include <algorithm>
#include <sstream>

#include "normgrad/report/runs.h"

namespace ngcli {

using json = nlohmann::json;

namespace {

std::vector<double> numbers(const json& a) {
  std::vector<double> out;
  if (a.is_array())
    for (const auto& x : a) out.push_back(x.is_number() ? x.get<double>() : NAN);
  return out;
}

// Over the blocks: 0 when one value is exactly 0 (a vanished gradient counts, as 0), NaN
// when one is missing or negative.
double geometric_mean(const std::vector<double>& v) {
  if (v.empty()) return NAN;
  double log_sum = 0;
  for (double x : v) {
    if (!std::isfinite(x) || x < 0) return NAN;
    if (x == 0) return 0.0;
    log_sum += std::log(x);
  }
  return std::exp(log_sum / (double)v.size());
}

bool block_matrix(const std::string& name) {
  return name.find(".h.") != std::string::npos &&
         (name.find("c_attn.weight") != std::string::npos ||
          name.find("c_proj.weight") != std::string::npos ||
          name.find("c_fc.weight") != std::string::npos);
}

// mean ± sd over runs of one number, "n/a" without any
std::string over_runs(const std::vector<double>& v, const char* f) { return pm(stats(v), f); }

}  // namespace

RunFlow run_flow(const std::vector<json>& probes) {
  RunFlow f;
  if (probes.empty()) return f;
  const json& last = probes.back();
  f.step = last.value("step", (int64_t)-1);
  f.raw = numbers(last.value("residual_grad", json()));
  f.relative = numbers(last.value("relative_grad", json()));
  f.stream_rms = numbers(last.value("residual_rms", json()));
  std::vector<double> share, sigma, radial, update;
  for (const auto& n : last.value("norms", json::array())) {
    if (n.value("name", "").find(".h.") != std::string::npos && n.contains("norm_path_share") &&
        n["norm_path_share"].is_number())
      share.push_back(n["norm_path_share"].get<double>());
    for (double s : numbers(n.value("jacobian_sigma_rel", json()))) sigma.push_back(s);
    for (double r : numbers(n.value("jacobian_radial", json()))) radial.push_back(r);
  }
  for (const auto& p : last.value("params", json::array()))
    if (block_matrix(p.value("name", "")) && p.contains("update_ratio") &&
        p["update_ratio"].is_number())  // null: written from a non-finite value
      update.push_back(p["update_ratio"].get<double>());
  f.norm_path_share = stats(share).mean;
  f.sigma_rel = median(sigma);
  f.radial = median(radial);
  f.update_ratio = median(update);
  return f;
}

double block_ratio(const std::vector<double>& a, const std::vector<double>& ref) {
  if (a.empty() || a.size() != ref.size()) return NAN;
  double log_sum = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(ref[i]) || ref[i] <= 0) return NAN;
    if (a[i] <= 0) return 0.0;
    log_sum += std::log(a[i] / ref[i]);
  }
  return std::exp(log_sum / (double)a.size());
}

std::string ratio_words(const std::vector<double>& ratios, const std::string& ref_spec) {
  const int zeros = (int)std::count(ratios.begin(), ratios.end(), 0.0);
  std::vector<double> logs;
  for (double q : ratios)
    if (std::isfinite(q) && q > 0) logs.push_back(std::log(q));
  if (zeros > 0) {
    std::string g = "vanished: exactly 0 at some block in " + std::to_string(zeros) + " of " +
                    std::to_string(ratios.size()) + " runs";
    if (!logs.empty())
      g += ", " + fmt("%.1e", std::exp(stats(logs).mean)) + "x " + ref_spec + "'s in the others";
    return g;
  }
  if (logs.empty()) return "n/a";
  const double g = std::exp(stats(logs).mean);
  return (g < 1e-3 ? "vanished: " : "") + fmt(g < 0.01 ? "%.1e" : "%.2f", g) + "x " + ref_spec +
         "'s";
}

std::string flow_table(const std::vector<VariantFlow>& variants) {
  std::ostringstream md;
  md << "| variant | stream RMS | relative gradient | norm-path share | Jacobian sigma_max x "
        "RMS | radial share | update/weight | clipped steps | gradient norm (median) | lr: "
        "peak -> floor |\n|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& v : variants) {
    std::vector<double> rms, rel, share, sigma, radial, update;
    for (const RunFlow& f : v.runs) {
      rms.push_back(geometric_mean(f.stream_rms));
      rel.push_back(geometric_mean(f.relative));  // 0 when some block got exactly none
      share.push_back(f.norm_path_share);
      sigma.push_back(f.sigma_rel);
      radial.push_back(f.radial);
      update.push_back(f.update_ratio);
    }
    std::vector<double> clipped_pct;
    for (double c : v.clipped) clipped_pct.push_back(100 * c);
    md << "| `" << v.spec << "` | " << over_runs(rms, "%.3g") << " | " << over_runs(rel, "%.3g")
       << " | " << over_runs(share, "%.2f") << " | " << over_runs(sigma, "%.3g") << " | "
       << over_runs(radial, "%.2f") << " | " << over_runs(update, "%.2e") << " | "
       << over_runs(clipped_pct, "%.0f%%") << " | " << over_runs(v.grad_norm, "%.3g") << " | "
       << fmt("%g", v.lr) << " -> " << fmt("%g", v.final_lr) << " |\n";
  }
  return md.str();
}

std::string flow_formulas() {
  return "Each column is mean ± sd over the seeds of one number per run, from the run's last "
         "probe record (nn/include/normgrad/nn/probes.h) or its metrics. Per block b with "
         "output x_b (the residual stream, all B x T x C elements) and g_b = dL/dx_b: *stream "
         "RMS* = geometric mean over blocks of RMS(x_b); *relative gradient* = geometric mean "
         "over blocks of ||g_b|| RMS(x_b) (0 for a run where some block got exactly none), which "
         "rescaling the stream by k leaves unchanged "
         "while ||g_b|| moves by 1/k (tests/test_nn.cpp) — the raw ||g_b|| in the table above is "
         "the stream's size as much as the gradient's; *norm-path share* = mean over the "
         "blocks' norms (ln_1, ln_2) of ||J^T dL/dy|| / (||J^T dL/dy|| + ||skip||), where the "
         "gradient at the norm's input is J^T dL/dy (through the layer, affine part included) "
         "plus the skip path's (the residual connection); *Jacobian sigma_max x RMS*: the "
         "largest singular value of d normalize(x_t) / d x_t (before the affine part) times "
         "RMS(x_t), median over norms and 4 sampled tokens t (RMSNorm: exactly 1; LayerNorm: 1 "
         "when the token has mean 0); *radial share* = ||J x_t / |x_t| || / sigma_max, median: "
         "0 where the layer removes the radial direction (LayerNorm, RMSNorm), near 1 for DyT "
         "in its linear range; *update/weight* = ||W_after - W_before|| / ||W_after|| of the "
         "blocks' weight matrices at the probed step, median: Adam's effective step; *clipped "
         "steps* = the share of training steps whose global gradient norm (before clipping, "
         "metrics.jsonl) exceeded the clip threshold, so that its gradient was rescaled to it "
         "before AdamW saw it; "
         "*gradient norm* = the median of that norm over the steps; *lr* = the peak and the "
         "cosine's floor (min_lr, by default lr/10 of each variant's own lr).";
}

}  // namespace ngcli

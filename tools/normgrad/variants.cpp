#include "variants.h"

#include <cmath>
#include <sstream>

#include "normgrad/error.h"
#include "normgrad/nn/norm.h"

namespace ngcli {

Variant parse_variant(const std::string& spec) {
  Variant v{spec, spec, {}};
  const size_t colon = spec.find(':');
  if (colon != std::string::npos) v.kind = spec.substr(0, colon);
  const auto kinds = ng::nn::norm_kinds();
  if (std::find(kinds.begin(), kinds.end(), v.kind) == kinds.end()) {
    std::string known;
    for (auto& k : kinds) known += " " + k;
    ng::fail("variant", "'", spec, "': unknown norm kind '", v.kind, "' (known:", known, ")");
  }
  if (colon != std::string::npos) {
    const std::string rest = spec.substr(colon + 1);
    for (size_t start = 0; start <= rest.size();) {
      const size_t comma = std::min(rest.find(',', start), rest.size());
      const std::string item = rest.substr(start, comma - start);
      start = comma + 1;
      if (item.empty()) ng::fail("variant", "'", spec, "': empty setting (stray comma?)");
      const size_t eq = item.find('=');
      const std::string key = item.substr(0, eq);
      const std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
      if (key == "norm") ng::fail("variant", "'", spec, "': the kind comes before ':'");
      v.settings.push_back({key, value});
    }
  }
  apply_variant(TrainConfig{}, v);  // every key and value checked now, not mid-compare
  return v;
}

TrainConfig apply_variant(const TrainConfig& base, const Variant& v) {
  TrainConfig c = base;
  c.norm = v.kind;
  c.norm_attn = c.norm_mlp = c.norm_final = "";
  for (const auto& [key, value] : v.settings) set_recipe_field(c, key, value, "'" + v.spec + "'");
  return c;
}

namespace {

// Where each kind and default comes from.
std::string source_of(const std::string& kind) {
  if (kind == "layernorm") return "Ba et al., 2016";
  if (kind == "rmsnorm") return "Zhang & Sennrich, 2019";
  if (kind == "dyt") return "Zhu et al., CVPR 2025";
  if (kind == "dyisru") return "Stollenwerk, EACL 2026";
  if (kind == "derf") return "erf analogue of DyT";
  if (kind == "bhyt") return "Byun et al., ICML 2026";
  if (kind == "tapernorm") return "Kanavalau et al., 2026";
  return "no normalization";
}

std::string num(double x) {
  std::ostringstream o;
  o << x;
  return o.str();
}

std::string position_line(const TrainConfig& c, const std::string& kind, const char* where,
                          const std::optional<double>& alpha0_here) {
  const ng::NormKind& k = ng::norm_kind(kind);
  const int64_t C = c.n_embd;
  std::ostringstream o;
  o << "  - " << where << ": `" << kind << "` (" << source_of(kind) << "): `" << k.formula << "`";
  ng::NormOptions opts = c.gpt(2).norm_options;
  if (alpha0_here) opts.alpha0 = *alpha0_here;
  std::vector<std::string> inits;
  for (const auto& s : k.scalar_params(opts)) {
    if (!s.learnable) continue;
    std::string init = s.name + " = " + num(s.init);
    if (s.name == "alpha" && alpha0_here)
      init += " (per-position alpha0, Zhu et al.'s LLM recipe)";
    else if (s.name == "alpha" && opts.alpha0 == 0.5)
      init += " (Zhu et al.'s default)";
    if (s.name == "beta_raw")
      init += " (beta = softplus(beta_raw) = " +
              num(opts.beta0.value_or(1 / (opts.alpha0 * opts.alpha0))) +
              (opts.beta0 ? "" : " = 1/alpha0^2, DyT's slope at 0 (Stollenwerk)") + ")";
    if (s.name == "beta" && !opts.beta0) init += " (= 1/alpha0^2, DyT's slope at 0)";
    inits.push_back(init);
  }
  if (k.has_weight && opts.affine) inits.push_back("weight = 1 (per channel)");
  if (k.has_bias && opts.bias) inits.push_back("bias = 0 (per channel)");
  if (kind == "dyt" || kind == "dyisru" || kind == "derf")
    inits.push_back(
        opts.scale == "sqrtc"
            ? "pf = sqrt(C) = " + num(std::sqrt((double)C)) +
                  " (scale=sqrtc: bounded by sqrt(C) like RMSNorm's output, Stollenwerk)"
            : std::string("pf = 1 (scale=one: Zhu et al.'s layer)"));
  if (kind == "layernorm" || kind == "rmsnorm" || kind == "tapernorm")
    inits.push_back("eps = " + num(opts.eps));
  if (kind == "tapernorm")
    inits.push_back("gate 1 until step " + std::to_string(opts.taper_start) +
                    ", cosine to 0 over " + std::to_string(opts.taper_steps) + " steps");
  if (!inits.empty()) {
    o << "; ";
    for (size_t i = 0; i < inits.size(); ++i) o << (i ? ", " : "") << inits[i];
  }
  return o.str() + "\n";
}

}  // namespace

std::string describe_variant(const TrainConfig& c) {
  std::string out;
  const auto at = [&](const std::string& k) { return k.empty() ? c.norm : k; };
  const std::string l1 =
      position_line(c, at(c.norm_attn), "ln_1 (before attention)", c.alpha0_attn);
  const std::string l2 = position_line(c, at(c.norm_mlp), "ln_2 (before the MLP)", c.alpha0_other);
  const std::string lf = position_line(c, at(c.norm_final), "ln_f (final)", c.alpha0_other);
  const auto body = [](const std::string& line) { return line.substr(line.find(": `")); };
  if (body(l1) == body(l2) && body(l2) == body(lf))  // one line when every position agrees
    out += "  - every position (ln_1, ln_2, ln_f)" + body(l1);
  else
    out += l1 + l2 + lf;
  if (c.embed_scale)
    out += "  - a learnable scalar after the token embedding, initialised to sqrt(n_embd) = " +
           num(std::sqrt((double)c.n_embd)) + " (Zhu et al.'s LLaMA recipe)\n";
  return out;
}

}  // namespace ngcli

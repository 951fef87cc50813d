#include "normgrad/report/variants.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "normgrad/error.h"
#include "normgrad/nn/norm.h"

namespace ngcli {

Variant parse_variant(const std::string& spec) {
  Variant v{spec, spec, {}};
  const size_t colon = spec.find(':');
  if (colon != std::string::npos) v.kind = spec.substr(0, colon);
  if (!ng::has_norm_kind(v.kind))
    ng::fail("variant", "'", spec, "': ", ng::unknown_norm_kind(v.kind));
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
      for (const auto& [seen, before] : v.settings)  // the later one would silently win
        if (seen == key)
          ng::fail("variant", "'", spec, "': key '", key, "' is given twice (", before, " and ",
                   value, ")");
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

std::string num(double x) {
  std::ostringstream o;
  o << x;
  return o.str();
}

std::string position_line(const TrainConfig& c, const std::string& kind, const char* where,
                          const std::optional<double>& alpha0_here,
                          const std::map<std::string, double>& options_here) {
  const ng::NormKind& k = ng::norm_kind(kind);
  const int64_t C = c.n_embd;
  std::ostringstream o;
  o << "  - " << where << ": `" << kind << "` (" << k.source << "): `" << k.formula << "`";
  ng::NormOptions opts = c.gpt(2).norm_options;
  if (alpha0_here) opts.alpha0 = *alpha0_here;
  for (const auto& [name, v] : options_here) opts.set(name, v);
  std::vector<std::string> inits = k.describe_init(C, opts);
  for (auto& init : inits)  // the DyT LLM recipe's alpha0 at this position
    if (alpha0_here && init.rfind("alpha = ", 0) == 0)
      init = "alpha = " + num(*alpha0_here) + " (per-position alpha0, Zhu et al.'s LLM recipe)";
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
  const ng::nn::GPTConfig g = c.gpt(2);
  const std::string l1 =
      position_line(c, at(c.norm_attn), "ln_1 (before attention)", c.alpha0_attn, g.attn_options);
  const std::string l2 =
      position_line(c, at(c.norm_mlp), "ln_2 (before the MLP)", c.alpha0_other, g.mlp_options);
  const std::string lf =
      position_line(c, at(c.norm_final), "ln_f (final)", c.alpha0_other, g.final_options);
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

namespace {
std::vector<std::string> position_kinds(const TrainConfig& c) {
  std::vector<std::string> out;
  for (const std::string* k : {&c.norm_attn, &c.norm_mlp, &c.norm_final})
    out.push_back(k->empty() ? c.norm : *k);
  return out;
}
void add_once(std::vector<std::string>& v, const std::string& x) {
  if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}
}  // namespace

std::vector<std::string> plot_scalars(const TrainConfig& c) {
  std::vector<std::string> out;
  for (const auto& kind : position_kinds(c))
    for (const auto& n : ng::norm_kind(kind).plot_scalars) add_once(out, n);
  return out;
}

std::vector<std::string> scalar_parameters(const TrainConfig& c) {
  std::vector<std::string> out;
  const ng::NormOptions o = c.gpt(2).norm_options;
  for (const auto& kind : position_kinds(c))
    for (const auto& s : ng::norm_kind(kind).scalar_params(o))
      if (s.learnable && !s.per_channel) add_once(out, s.name);
  return out;
}

}  // namespace ngcli

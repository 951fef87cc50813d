#include "tune.h"

#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

#include "normgrad/error.h"

namespace ngcli {
namespace {

double parse_number(const std::string& text, const std::string& spec) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v))
    ng::fail("compare --tune", "'", spec, "': '", text, "' is not a number");
  return v;
}

std::string shortest(double v) {
  std::ostringstream o;
  o.precision(6);
  o << v;
  return o.str();
}

}  // namespace

TuneAxis parse_tune_axis(const std::string& spec) {
  const size_t eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
    ng::fail("compare --tune", "'", spec, "': expected KEY=v1,v2,... or KEY=start..endxFACTOR");
  TuneAxis a{spec.substr(0, eq), {}};
  const std::string grid = spec.substr(eq + 1);
  const size_t dots = grid.find("..");
  if (dots != std::string::npos) {
    const size_t x = grid.rfind('x');
    if (x == std::string::npos || x < dots)
      ng::fail("compare --tune", "'", spec, "': a range needs a factor, e.g. 1e-3..1.6e-2x2");
    const double lo = parse_number(grid.substr(0, dots), spec),
                 hi = parse_number(grid.substr(dots + 2, x - dots - 2), spec),
                 f = parse_number(grid.substr(x + 1), spec);
    if (!(lo > 0 && hi >= lo && f > 1))
      ng::fail("compare --tune", "'", spec, "': need 0 < start <= end and factor > 1");
    for (double v = lo; v <= hi * (1 + 1e-9); v *= f) {
      a.values.push_back(shortest(v));
      if (a.values.size() > 64) ng::fail("compare --tune", "'", spec, "': more than 64 values");
    }
  } else {
    std::stringstream ss(grid);
    for (std::string v; std::getline(ss, v, ',');) {
      if (v.empty()) ng::fail("compare --tune", "'", spec, "': empty value (stray comma?)");
      a.values.push_back(v);
    }
  }
  std::set<std::string> seen(a.values.begin(), a.values.end());
  if (seen.size() != a.values.size())
    ng::fail("compare --tune", "'", spec, "': a value is listed twice");
  TrainConfig probe;
  for (const auto& v : a.values) set_recipe_field(probe, a.key, v, "--tune '" + spec + "'");
  return a;
}

std::vector<TunePoint> tune_points(const std::vector<TuneAxis>& axes) {
  std::vector<TunePoint> points{{}};
  for (const TuneAxis& a : axes) {
    std::vector<TunePoint> next;
    for (const TunePoint& p : points)
      for (const auto& v : a.values) {
        TunePoint q = p;
        q.push_back({a.key, v});
        next.push_back(q);
      }
    points = next;
  }
  return points;
}

std::string point_label(const TunePoint& p) {
  std::string out;
  for (const auto& [k, v] : p) out += (out.empty() ? "" : ", ") + k + "=" + v;
  return out;
}

Variant with_point(const Variant& v, const TunePoint& p) {
  Variant out = v;
  for (const auto& kv : p) out.settings.push_back(kv);
  return out;
}

void check_tune_axes(const TrainConfig& base, const std::vector<Variant>& variants,
                     const std::vector<TuneAxis>& axes) {
  std::set<std::string> keys;
  for (const TuneAxis& a : axes) {
    if (!keys.insert(a.key).second) ng::fail("compare --tune", "key '", a.key, "' given twice");
    if (a.key == "seed" || a.key == "max_steps" || a.key == "norm" || a.key == "norm_attn" ||
        a.key == "norm_mlp" || a.key == "norm_final")
      ng::fail("compare --tune", "'", a.key,
               "' is not a hyper-parameter to search (seeds are held out by construction, the "
               "schedule length is the experiment's axis, the kind is the variant)");
    // A key that changes some variants' formulas or initial values (describe_variant) but
    // not others' is one kind's knob: those others would run duplicates of one setting.
    // Keys that change no description (lr, warmup, dropout, ...) act on every run.
    std::vector<std::string> moved, fixed;
    for (const Variant& v : variants) {
      std::set<std::string> seen;
      for (const auto& value : a.values) {
        TrainConfig c = apply_variant(base, v);
        set_recipe_field(c, a.key, value, "--tune");
        seen.insert(describe_variant(c));
      }
      (seen.size() == a.values.size() ? moved : fixed).push_back("`" + v.spec + "`");
    }
    if (!moved.empty() && !fixed.empty()) {
      std::string m, f;
      for (const auto& s : moved) m += (m.empty() ? "" : ", ") + s;
      for (const auto& s : fixed) f += (f.empty() ? "" : ", ") + s;
      ng::fail("compare --tune", "'", a.key, "' changes the formulas or initial values of ", m,
               " but not of ", f,
               " at every value: those would run duplicates, so the variants would not get the "
               "same search. Tune that knob in a compare of the variants that use it.");
    }
  }
}

}  // namespace ngcli

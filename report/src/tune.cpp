#include "normgrad/report/tune.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
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
  for (const auto& kv : p) {
    auto same = std::find_if(out.settings.begin(), out.settings.end(),
                             [&](const auto& s) { return s.first == kv.first; });
    if (same != out.settings.end())
      same->second = kv.second;
    else
      out.settings.push_back(kv);
  }
  // the name says what runs: a report never labels a variant with a value it did not use
  out.spec = out.kind;
  for (size_t i = 0; i < out.settings.size(); ++i) {
    const auto& [key, value] = out.settings[i];
    out.spec += (i == 0 ? ":" : ",") + key + (value.empty() ? "" : "=" + value);
  }
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

Search run_search(const TrainConfig& base, std::vector<Variant>& variants,
                  const std::vector<TuneAxis>& axes, int seeds, const std::string& dir,
                  double unigram, const JobRunner& run) {
  if (seeds < 1) ng::fail("compare", "--tune-seeds must be >= 1, got ", seeds);
  check_tune_axes(base, variants, axes);
  check_seed_range("compare", base.seed + kHeldOutSeedOffset, (uint64_t)seeds,
                   "--seed " + std::to_string(base.seed) + " --tune-seeds " +
                       std::to_string(seeds) + " (held out at seed + " +
                       std::to_string(kHeldOutSeedOffset) + ")");
  // A searched key the spec also sets would name a value the search's runs did not use (the
  // rows, folders and the chosen variant's name): the search owns it.
  for (auto& v : variants) {
    std::erase_if(v.settings, [&](const auto& kv) {
      return std::any_of(axes.begin(), axes.end(),
                         [&](const TuneAxis& a) { return a.key == kv.first; });
    });
    v = with_point(v, {});  // the spec rebuilt from what is left
  }
  Search s{axes, tune_points(axes)};
  std::vector<Job> jobs;
  for (const auto& v : variants)
    for (const TunePoint& p : s.points)
      for (int k = 0; k < seeds; ++k) {
        TrainConfig c = apply_variant(base, with_point(v, p));
        c.seed = base.seed + kHeldOutSeedOffset + (uint64_t)k;
        c.out = dir + "/search/" + slug(v.spec) + "/" + slug(point_label(p)) + "/seed" +
                std::to_string(c.seed);
        c.stop_at = 0;         // resume and overwrite: compare's runner plans them (plan_rerun)
        c.probe_interval = 0;  // scored by val loss alone
        jobs.push_back({v.spec, c});
      }
  for (const TuneAxis& a : axes) {
    std::string vals;
    for (const auto& x : a.values) vals += (vals.empty() ? "" : ", ") + x;
    s.words += (s.words.empty() ? "" : " x ") + a.key + " in {" + vals + "}";
  }
  const uint64_t first = base.seed + kHeldOutSeedOffset;
  s.words += ": " + std::to_string(s.points.size()) + " points x " + std::to_string(seeds) +
             " held-out seed" + (seeds > 1 ? "s" : "") + " (" + std::to_string(first) +
             (seeds > 1 ? ".." + std::to_string(first + seeds - 1) : "") + ") per variant, " +
             std::to_string(base.max_steps) + " steps, scored by the whole validation split";
  if (!base.quiet)
    std::printf("compare --tune: %zu variants x %zu points x %d held-out seeds = %zu runs\n",
                variants.size(), s.points.size(), seeds, jobs.size());
  const JobsResult ran = run(jobs);
  if (ran.interrupted) {
    s.interrupted = true;
    s.signal = ran.signal;
    return s;
  }
  size_t i = 0;
  for (auto& v : variants) {
    TuneResult t{v.spec, s.points};
    for (size_t p = 0; p < s.points.size(); ++p) {
      std::vector<double> vals;
      std::map<std::string, int> count;
      for (int k = 0; k < seeds; ++k, ++i) {
        const RunOutcome r = read_outcome(jobs[i], ran.codes[i], ran.messages[i], unigram);
        ++count[r.label];
        if (finished(r.label)) vals.push_back(r.val_loss);
      }
      t.val.push_back(stats(vals));
      t.labels.push_back(count_labels(count));
      t.stable.push_back(count["learning"] == seeds);
    }
    // the stable point with the lowest mean val; without one, the lowest finite
    double best_val = INFINITY;
    for (int pass = 0; pass < 2 && !std::isfinite(best_val); ++pass)
      for (size_t p = 0; p < s.points.size(); ++p)
        if ((pass == 1 || t.stable[p]) && std::isfinite(t.val[p].mean) && t.val[p].mean < best_val)
          best_val = t.val[p].mean, t.chosen = p, t.any_stable = pass == 0;
    s.results.push_back(t);
    v = with_point(v, s.points[t.chosen]);
  }
  return s;
}

}  // namespace ngcli

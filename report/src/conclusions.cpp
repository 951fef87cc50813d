#include "normgrad/report/conclusions.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

namespace ngcli {

PairedGap paired_gap(const std::vector<SeedVal>& variant, const std::vector<SeedVal>& best,
                     bool is_best) {
  PairedGap g;
  if (is_best) {
    g.verdict = "best";
    return g;
  }
  std::map<uint64_t, double> by_seed;
  for (const SeedVal& b : best) by_seed[b.seed] = b.val;
  std::vector<double> d;
  for (const SeedVal& v : variant)
    if (by_seed.count(v.seed)) d.push_back(v.val - by_seed[v.seed]);
  g.d = stats(d);
  g.ci = paired_t(g.d);
  if (g.d.n == 0)
    g.verdict = "not comparable";
  else if (g.d.n == 1)
    g.verdict = "one seed";
  else if (!g.ci.resolved())
    g.verdict = "not resolved";
  else
    g.verdict = g.ci.lo > 0 ? "worse" : "better";
  return g;
}

std::string conclusion_rules() {
  return "Rules behind this section (report/include/normgrad/report/conclusions.h): gaps are "
         "paired by seed, d = val(variant) - val(best) over the seeds where both runs finished, "
         "reported as mean d with its 95% paired t interval, mean ± t(n-1) sd/sqrt(n), and the "
         "two-sided p of mean d = 0 (at 3 seeds t(2) = 4.303). An interval that contains 0 is "
         "*not resolved*: these seeds cannot tell the two apart, which is not evidence that "
         "they are equal. Otherwise the variant is *worse* (interval above 0) or *better* "
         "(below 0) by mean d. One paired seed gives no interval and no claim. Beside each "
         "table: the smallest gap its seeds resolve (the median half-width of its intervals). "
         "Variants with runs that did not learn are named. The ranking is called a comparison "
         "of each norm at its best only when every variant's hyper-parameters came from the "
         "same search. With one schedule length nothing is said about longer training; with "
         "several, each variant's paired gap to the best of the longest schedule is taken at "
         "the shortest and the longest, c = d(long) - d(short) per seed, with its 95% paired t "
         "interval: an interval of c that contains 0 is *not resolved*; otherwise, when the "
         "gap is resolved at both lengths with opposite signs, the order *reverses*; else the "
         "gap *closes* when |mean d(long)| < |mean d(short)| and *grows* otherwise.";
}

std::string gap_with_interval(const Stats& d, const TInterval& ci) {
  if (d.n == 0) return "n/a";
  if (d.n == 1) return fmt("%+.4f", d.mean) + ", one seed";
  return fmt("%+.4f", d.mean) + " " + interval_words(ci);
}

std::string resolvable_gap_words(const std::vector<VariantSummary>& variants) {
  std::vector<double> half;
  int n = 0;
  for (const auto& v : variants)
    if (std::isfinite(v.gap.ci.half)) half.push_back(v.gap.ci.half), n = std::max(n, v.gap.d.n);
  if (half.empty()) return "No variant has two paired seeds: no gap can be resolved.";
  const double median_half = median(half);
  return "Smallest gap these seeds resolve: " + fmt("%.4f", median_half) +
         " nats (the median over this table's paired gaps of the 95% interval's half-width, "
         "t(n-1) sd/sqrt(n), at up to " +
         std::to_string(n) +
         " paired seeds); a gap smaller than its own half-width is not resolved.";
}

namespace {

std::string code(const std::string& s) { return "`" + s + "`"; }

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i)
    out += (i == 0 ? "" : i + 1 == items.size() ? " and " : ", ") + items[i];
  return out;
}

// Rules 1-3 in words for one length: the best and every other variant by verdict.
std::string ranking(const LengthSummary& l, const std::string& at) {
  const auto& v = l.variants;
  std::ostringstream o;
  const Stats b = stats([&] {
    std::vector<double> x;
    for (const SeedVal& s : v[l.best].finished) x.push_back(s.val);
    return x;
  }());
  o << at << "Lowest mean val loss (whole validation split): " << code(v[l.best].spec) << ", "
    << pm(b) << " over " << b.n << (b.n == 1 ? " seed" : " seeds") << ".";
  std::vector<std::string> same, worse, better, single, none;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i == l.best) continue;
    const PairedGap& g = v[i].gap;
    const std::string gap = gap_with_interval(g.d, g.ci);
    if (g.verdict == "not resolved")
      same.push_back(code(v[i].spec) + " (" + gap + ")");
    else if (g.verdict == "worse")
      worse.push_back(code(v[i].spec) + " by " + gap);
    else if (g.verdict == "better")
      better.push_back(code(v[i].spec) + " by " + gap);
    else if (g.verdict == "one seed")
      single.push_back(code(v[i].spec) + " (" + gap + ")");
    else
      none.push_back(code(v[i].spec));
  }
  if (!worse.empty()) o << " Worse (95% paired interval above 0; nats): " << join(worse) << ".";
  if (!better.empty())
    o << " Better on the paired seeds (95% interval below 0; nats): " << join(better) << ".";
  if (!same.empty())
    o << " Not resolved from it (the 95% paired interval contains 0; not evidence of no "
         "difference): "
      << join(same) << ".";
  if (!single.empty()) o << " One paired seed only, no claim: " << join(single) << ".";
  if (!none.empty()) o << " Not comparable (no seed where both finished): " << join(none) << ".";
  o << "\n\n";
  std::vector<std::string> unhealthy;
  for (const auto& s : v)
    if (s.not_learning > 0) unhealthy.push_back(code(s.spec) + " (" + s.labels + ")");
  if (!unhealthy.empty())
    o << "Runs that did not learn"
      << (at.empty() ? "" : " at " + std::to_string(l.steps) + " steps") << ": " << join(unhealthy)
      << "; their section below gives each run's evidence.\n\n";
  return o.str();
}

std::string gap_words(const Stats& d) { return d.n == 0 ? "n/a" : fmt("%+.4f", d.mean); }

// Rule 6 over the shortest and the longest length.
std::string schedule(const std::vector<LengthSummary>& lengths, const TuningNote& tuning) {
  std::ostringstream o;
  const LengthSummary &s = lengths.front(), &l = lengths.back();
  if (l.best >= l.variants.size() || l.variants[l.best].finished.empty())
    return "Schedule lengths: no variant finished at " + std::to_string(l.steps) +
           " steps, so no gap is compared across lengths.\n";
  std::vector<std::string> steps;
  for (const auto& x : lengths) steps.push_back(std::to_string(x.steps));
  o << "Schedule lengths " << join(steps)
    << " steps, the same recipes and seeds at each (warmup and final lr unchanged, the cosine "
       "stretched)";
  if (tuning.searched_at_steps > 0)
    o << "; the recipes were searched at " << tuning.searched_at_steps << " steps";
  o << ". Each gap to " << code(l.variants[l.best].spec) << " (lowest mean val loss at " << l.steps
    << " steps), paired by seed, from " << s.steps << " to " << l.steps << " steps:";
  std::vector<std::string> closes, grows, reverses, same, no_claim;
  for (size_t i = 0; i < l.variants.size(); ++i) {
    if (i == l.best) continue;
    const GapTrend t = gap_trend(s.variants[i].finished, s.variants[l.best].finished,
                                 l.variants[i].finished, l.variants[l.best].finished);
    const std::string item = code(l.variants[i].spec) + " " + gap_words(t.short_gap) + " -> " +
                             gap_words(t.long_gap) + " (change " +
                             gap_with_interval(t.change, t.change_ci) + ")";
    if (t.verdict == "closes")
      closes.push_back(item);
    else if (t.verdict == "grows")
      grows.push_back(item);
    else if (t.verdict == "reverses")
      reverses.push_back(item);
    else if (t.verdict == "not resolved")
      same.push_back(item);
    else
      no_claim.push_back(code(l.variants[i].spec) + " (" + t.verdict + ")");
  }
  if (!closes.empty()) o << " the gap closes for " << join(closes) << ";";
  if (!grows.empty()) o << " the gap grows for " << join(grows) << ";";
  if (!reverses.empty())
    o << " the order reverses (a gap resolved at both lengths, of opposite sign) for "
      << join(reverses) << ";";
  if (!same.empty())
    o << " the change is not resolved (its 95% paired interval contains 0) for " << join(same)
      << ";";
  if (!no_claim.empty()) o << " no claim for " << join(no_claim) << ";";
  std::string text = o.str();
  text.back() = '.';
  return text + "\n";
}

}  // namespace

GapTrend gap_trend(const std::vector<SeedVal>& variant_short, const std::vector<SeedVal>& ref_short,
                   const std::vector<SeedVal>& variant_long, const std::vector<SeedVal>& ref_long) {
  auto by_seed = [](const std::vector<SeedVal>& x) {
    std::map<uint64_t, double> m;
    for (const SeedVal& s : x) m[s.seed] = s.val;
    return m;
  };
  const auto vs = by_seed(variant_short), rs = by_seed(ref_short), vl = by_seed(variant_long),
             rl = by_seed(ref_long);
  std::vector<double> ds, dl, c;
  for (const auto& [seed, v] : vs)
    if (rs.count(seed) && vl.count(seed) && rl.count(seed)) {
      ds.push_back(v - rs.at(seed));
      dl.push_back(vl.at(seed) - rl.at(seed));
      c.push_back(dl.back() - ds.back());
    }
  GapTrend t{stats(ds), stats(dl), stats(c)};
  t.short_ci = paired_t(t.short_gap), t.long_ci = paired_t(t.long_gap);
  t.change_ci = paired_t(t.change);
  if (t.change.n == 0)
    t.verdict = "not comparable";
  else if (t.change.n == 1)
    t.verdict = "one seed";
  else if (!t.change_ci.resolved())
    t.verdict = "not resolved";
  else if (t.short_gap.mean * t.long_gap.mean < 0 && t.short_ci.resolved() && t.long_ci.resolved())
    t.verdict = "reverses";  // ahead at one length, behind at the other, both resolved
  else
    t.verdict = std::fabs(t.long_gap.mean) < std::fabs(t.short_gap.mean) ? "closes" : "grows";
  return t;
}

std::string what_this_shows(const std::vector<LengthSummary>& lengths, const TuningNote& tuning) {
  std::ostringstream o;
  bool any = false;
  for (const auto& l : lengths)
    any |=
        !l.variants.empty() && l.best < l.variants.size() && !l.variants[l.best].finished.empty();
  if (!any) {
    o << "No variant finished a run: nothing to compare.\n";
    return o.str();
  }
  const bool several = lengths.size() > 1;
  for (const auto& l : lengths) {
    const std::string at = several ? "**At " + std::to_string(l.steps) + " steps.** " : "";
    if (l.variants.empty() || l.best >= l.variants.size() || l.variants[l.best].finished.empty())
      o << at << "No variant finished a run.\n\n";
    else
      o << ranking(l, at);
  }
  if (tuning.searched) {
    o << "Every variant was searched with the same budget (" << tuning.search
      << "), so the ranking compares each variant at its best within that search";
    if (several && tuning.searched_at_steps > 0)
      o << " at " << tuning.searched_at_steps
        << " steps; the other lengths run the same values, which were not searched for them";
    o << ".";
    if (!tuning.by_hand.empty())
      o << " Set per variant outside the search (by hand): " << tuning.by_hand << ".";
  } else {
    o << "Not tuned equally: ";
    if (!tuning.shared.empty()) o << "every variant shares " << tuning.shared;
    if (!tuning.by_hand.empty())
      o << (tuning.shared.empty() ? "" : "; ") << "set per variant by hand: " << tuning.by_hand;
    o << ". The ranking compares these recipes, not each norm at its best (`compare --tune` "
         "searches every variant with the same budget).";
  }
  o << "\n\n";
  if (several)
    o << schedule(lengths, tuning);
  else
    o << "One schedule length (" << lengths.front().steps
      << " steps): whether these gaps grow or close with longer training is not measured here "
         "(`compare --steps-ladder` runs several).\n";
  return o.str();
}

std::string what_this_shows(const std::vector<VariantSummary>& v, size_t best,
                            const TuningNote& tuning, int64_t steps) {
  return what_this_shows(std::vector<LengthSummary>{{steps, v, best}}, tuning);
}

}  // namespace ngcli

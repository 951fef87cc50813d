#include "normgrad/report/conclusions.h"

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
  if (g.d.n == 0)
    g.verdict = "not comparable";
  else if (g.d.n == 1)
    g.verdict = "one seed";
  else if (std::fabs(g.d.mean) <= g.d.sd)
    g.verdict = "no difference";
  else
    g.verdict = "worse";
  return g;
}

std::string conclusion_rules() {
  return "Rules behind this section (report/include/normgrad/report/conclusions.h): gaps are "
         "paired by seed, "
         "d = val(variant) - val(best) over the seeds where both runs finished, reported as "
         "mean ± sample sd of d; a gap with |mean| <= sd is *no difference* (it is inside the "
         "paired spread; this is a description, not a significance test); one paired seed "
         "gives no spread and no claim; otherwise the variant is *worse* by the mean gap. "
         "Variants with runs that did not learn are named. The ranking is called a comparison "
         "of each norm at its best only when every variant's hyper-parameters came from the "
         "same search. With one schedule length nothing is said about longer training; with "
         "several, each variant's paired gap to the best of the longest schedule is taken at "
         "the shortest and the longest, c = d(long) - d(short) per seed: |mean c| <= sd c is "
         "*unchanged*; otherwise, when the gap is beyond its paired spread at both lengths "
         "with opposite signs, the order *reverses*; else the gap *closes* when |mean d(long)| "
         "< |mean d(short)| and *grows* otherwise.";
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
  std::vector<std::string> same, worse, single, none;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i == l.best) continue;
    const PairedGap& g = v[i].gap;
    const std::string gap = fmt("%+.4f", g.d.mean) + (g.d.n > 1 ? " ± " + fmt("%.4f", g.d.sd) : "");
    if (g.verdict == "no difference")
      same.push_back(code(v[i].spec) + " (" + gap + ")");
    else if (g.verdict == "worse")
      worse.push_back(code(v[i].spec) + " by " + gap);
    else if (g.verdict == "one seed")
      single.push_back(code(v[i].spec) + " (" + gap + ")");
    else
      none.push_back(code(v[i].spec));
  }
  if (!same.empty())
    o << " No difference from it (paired gap inside its spread): " << join(same) << ".";
  if (!worse.empty()) o << " Worse (paired gap beyond its spread): " << join(worse) << " nats.";
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

std::string gap_words(const Stats& d) {
  return fmt("%+.4f", d.mean) + (d.n > 1 ? " ± " + fmt("%.4f", d.sd) : "");
}

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
                             gap_words(t.long_gap) + " (change " + gap_words(t.change) + ")";
    if (t.verdict == "closes")
      closes.push_back(item);
    else if (t.verdict == "grows")
      grows.push_back(item);
    else if (t.verdict == "reverses")
      reverses.push_back(item);
    else if (t.verdict == "unchanged")
      same.push_back(item);
    else
      no_claim.push_back(code(l.variants[i].spec) + " (" + t.verdict + ")");
  }
  if (!closes.empty()) o << " the gap closes for " << join(closes) << ";";
  if (!grows.empty()) o << " the gap grows for " << join(grows) << ";";
  if (!reverses.empty())
    o << " the order reverses (a gap beyond its spread at both lengths, of opposite sign) for "
      << join(reverses) << ";";
  if (!same.empty())
    o << " unchanged (the change is inside its paired spread) for " << join(same) << ";";
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
  if (t.change.n == 0)
    t.verdict = "not comparable";
  else if (t.change.n == 1)
    t.verdict = "one seed";
  else if (std::fabs(t.change.mean) <= t.change.sd)
    t.verdict = "unchanged";
  else if (t.short_gap.mean * t.long_gap.mean < 0 && std::fabs(t.short_gap.mean) > t.short_gap.sd &&
           std::fabs(t.long_gap.mean) > t.long_gap.sd)
    t.verdict = "reverses";  // ahead at one length, behind at the other, both beyond the spread
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

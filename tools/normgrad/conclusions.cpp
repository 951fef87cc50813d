#include "conclusions.h"

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
  return "Rules behind this section (tools/normgrad/conclusions.h): gaps are paired by seed, "
         "d = val(variant) - val(best) over the seeds where both runs finished, reported as "
         "mean ± sample sd of d; a gap with |mean| <= sd is *no difference* (it is inside the "
         "paired spread; this is a description, not a significance test); one paired seed "
         "gives no spread and no claim; otherwise the variant is *worse* by the mean gap. "
         "Variants with runs that did not learn are named. The ranking is called a comparison "
         "of each norm at its best only when every variant's hyper-parameters came from the "
         "same search; a single schedule length says nothing about longer training.";
}

namespace {

std::string code(const std::string& s) { return "`" + s + "`"; }

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i)
    out += (i == 0 ? "" : i + 1 == items.size() ? " and " : ", ") + items[i];
  return out;
}

}  // namespace

std::string what_this_shows(const std::vector<VariantSummary>& v, size_t best,
                            const TuningNote& tuning, int64_t steps) {
  std::ostringstream o;
  if (v.empty() || best >= v.size() || v[best].finished.empty()) {
    o << "No variant finished a run: nothing to compare.\n";
    return o.str();
  }
  const Stats b = stats([&] {
    std::vector<double> x;
    for (const SeedVal& s : v[best].finished) x.push_back(s.val);
    return x;
  }());
  o << "Lowest mean val loss (whole validation split): " << code(v[best].spec) << ", " << pm(b)
    << " over " << b.n << (b.n == 1 ? " seed" : " seeds") << ".";
  std::vector<std::string> same, worse, single, none;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i == best) continue;
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
    o << "Runs that did not learn: " << join(unhealthy)
      << "; their section below gives each run's evidence.\n\n";
  if (tuning.searched) {
    o << "Every variant was searched with the same budget (" << tuning.search
      << "), so the ranking compares each variant at its best within that search.";
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
  o << "\n\nOne schedule length (" << steps
    << " steps): whether these gaps grow or close with longer training is not measured here.\n";
  return o.str();
}

}  // namespace ngcli

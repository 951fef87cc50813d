// What a comparison shows, derived from its numbers by written rules, so that no sentence
// of a report can outlive the data it interprets.
//
// The rules (conclusion_rules() prints them into each report):
//  1. Gaps are paired: for every seed on which both runs finished (learning, under-trained or
//     collapsed),
//     d = val(variant) - val(best); the gap is mean(d), with the sample sd of d, the 95%
//     paired t interval mean(d) -+ t(n-1) sd/sqrt(n) and the two-sided p of mean(d) = 0.
//  2. An interval that contains 0 is "not resolved": these seeds cannot tell the two apart
//     (which is not "no difference"). One paired seed has no interval: no claim. No paired
//     seed: not comparable.
//  3. Otherwise the variant is "worse" (interval above 0) or "better" (below 0) by mean d.
//     The best has the lowest mean val loss, so "better" appears only when the paired seeds
//     differ from the means' seeds. Beside each table: the smallest gap its seeds resolve,
//     the median over its variants of the interval's half-width.
//  4. A variant with a run that collapsed, was under-trained, diverged or failed is named with
//     its counts.
//  5. Tuning: the ranking compares each norm at its best only if every variant's
//     hyper-parameters came from the same search; otherwise the text says which settings
//     were shared or set by hand.
//  6. Schedule: with one length, whether a gap grows or closes with longer training is
//     stated as not measured. With several (the same recipes and seeds at each), every
//     variant's paired gap to the best of the longest schedule is taken at the shortest and
//     the longest length; per seed, c = d(long) - d(short), with its 95% paired t interval.
//     An interval of c that contains 0: the change is "not resolved" (rule 2 on the change);
//     otherwise, when the gap is resolved (rule 2) at both lengths with opposite signs, the
//     order "reverses"; else it "closes" when |mean d(long)| < |mean d(short)|, and "grows"
//     otherwise. One paired seed: no claim.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "normgrad/report/paired_t.h"
#include "normgrad/report/runs.h"

namespace ngcli {

struct SeedVal {
  uint64_t seed = 0;
  double val = 0;  // whole-split val loss of a finished run
};

struct PairedGap {
  Stats d;              // of val(variant) - val(best) over the paired seeds
  TInterval ci;         // d's 95% paired t interval and p
  std::string verdict;  // best | worse | better | not resolved | one seed | not comparable
};

// Rule 1-3 for one variant against the best (both: finished runs only).
PairedGap paired_gap(const std::vector<SeedVal>& variant, const std::vector<SeedVal>& best,
                     bool is_best);

struct VariantSummary {
  std::string spec;
  std::vector<SeedVal> finished;
  int runs = 0, not_learning = 0;  // not_learning: any label but learning
  std::string labels;              // "2 learning, 1 collapsed"
  PairedGap gap;
};

// How the variants' hyper-parameters were chosen, for rule 5.
struct TuningNote {
  bool searched = false;          // every variant's values came from one search (compare --tune)
  std::string search;             // the search, in words, when searched
  std::string shared;             // the settings every variant shares, e.g. "lr 0.001"
  std::string by_hand;            // per-variant overrides not from a search ("" when none)
  int64_t searched_at_steps = 0;  // the schedule length of the search (0: not stated)
};

// One schedule length's comparison: each variant's finished runs and its gap to `best`.
struct LengthSummary {
  int64_t steps = 0;
  std::vector<VariantSummary> variants;
  size_t best = 0;
};

// Rule 6 for one variant: its paired gap to a reference at a short and a long schedule.
struct GapTrend {
  Stats short_gap, long_gap;               // d = val(variant) - val(reference), per seed
  Stats change;                            // per seed: d(long) - d(short)
  TInterval short_ci, long_ci, change_ci;  // 95% paired t intervals
  // closes | grows | reverses | not resolved | one seed | not comparable
  std::string verdict;
};
GapTrend gap_trend(const std::vector<SeedVal>& variant_short, const std::vector<SeedVal>& ref_short,
                   const std::vector<SeedVal>& variant_long, const std::vector<SeedVal>& ref_long);

// The interpretation, as markdown paragraphs (rules 1-6), over one or several schedule
// lengths (ascending; every length has the same variants in the same order).
std::string what_this_shows(const std::vector<LengthSummary>& lengths, const TuningNote& tuning);
// One length.
std::string what_this_shows(const std::vector<VariantSummary>& variants, size_t best,
                            const TuningNote& tuning, int64_t steps);
std::string conclusion_rules();
// "+0.0120 [+0.0050, +0.0190], p = 0.010": a gap with its interval (or "+0.0120, one seed").
std::string gap_with_interval(const Stats& d, const TInterval& ci);
// Rule 3's line beside a table: the smallest gap the seeds resolve (the median half-width).
std::string resolvable_gap_words(const std::vector<VariantSummary>& variants);

}  // namespace ngcli

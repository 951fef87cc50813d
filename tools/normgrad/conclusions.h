// What a comparison shows, derived from its numbers by written rules, so that no sentence
// of a report can outlive the data it interprets.
//
// The rules (conclusion_rules() prints them into each report):
//  1. Gaps are paired: for every seed on which both runs finished (learning or collapsed),
//     d = val(variant) - val(best); the gap is mean(d) +- the sample sd of d.
//  2. A gap inside its paired spread (|mean d| <= sd d) is "no difference". One paired
//     seed has no spread: no claim. No paired seed: not comparable.
//  3. Otherwise the variant is "worse by mean d" (the best has the lowest mean val loss).
//  4. A variant with a run that collapsed, diverged or failed is named with its counts.
//  5. Tuning: the ranking compares each norm at its best only if every variant's
//     hyper-parameters came from the same search; otherwise the text says which settings
//     were shared or set by hand.
//  6. Schedule: with one length, whether a gap grows or closes with longer training is
//     stated as not measured; with several, each gap is compared across lengths by rule 2.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runs.h"

namespace ngcli {

struct SeedVal {
  uint64_t seed = 0;
  double val = 0;  // whole-split val loss of a finished run
};

struct PairedGap {
  Stats d;              // of val(variant) - val(best) over the paired seeds
  std::string verdict;  // best | no difference | worse | one seed | not comparable
};

// Rule 1-3 for one variant against the best (both: finished runs only).
PairedGap paired_gap(const std::vector<SeedVal>& variant, const std::vector<SeedVal>& best,
                     bool is_best);

struct VariantSummary {
  std::string spec;
  std::vector<SeedVal> finished;
  int runs = 0, not_learning = 0;  // not_learning: collapsed, diverged, failed or interrupted
  std::string labels;              // "2 learning, 1 collapsed"
  PairedGap gap;
};

// How the variants' hyper-parameters were chosen, for rule 5.
struct TuningNote {
  bool searched = false;  // every variant's values came from one search (compare --tune)
  std::string search;     // the search, in words, when searched
  std::string shared;     // the settings every variant shares, e.g. "lr 0.001"
  std::string by_hand;    // per-variant overrides not from a search ("" when none)
};

// The interpretation, as markdown paragraphs (rules 1-6); `steps` is the schedule length.
std::string what_this_shows(const std::vector<VariantSummary>& variants, size_t best,
                            const TuningNote& tuning, int64_t steps);
std::string conclusion_rules();

}  // namespace ngcli

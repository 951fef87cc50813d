#include "compare.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "conclusions.h"
#include "data.h"
#include "files.h"
#include "normgrad/error.h"
#include "normgrad/nn/safetensors.h"
#include "runs.h"
#include "saved_run.h"
#include "tokenizer.h"

namespace ngcli {
namespace fs = std::filesystem;
using json = nlohmann::json;

std::vector<Variant> default_variants() {
  // alpha0 of the two sqrt(C)-scaled recipes: the best of {0.25, 0.5, 1, 2, 4} in a search
  // on seed 9001, which no report uses; DyISRU's beta0 follows as 1/alpha0^2. Each
  // variant's lr: its best stable point of `compare --tune lr=1e-3..8e-3x2 --tune-seeds 1`
  // (held-out seed 101337, whole-split val; docs/recipes.md has both searches). Plain `dyt`
  // is Zhu et al.'s layer and defaults, kept for what it shows (it collapses at every lr).
  const std::string search =
      "lr in {0.001, 0.002, 0.004, 0.008} on held-out seed 101337, scored by the whole "
      "validation split: `normgrad compare --tune lr=1e-3..8e-3x2 --tune-seeds 1`, kept in "
      "docs/recipes.md";
  auto searched = [&](const std::string& spec) {
    Variant v = parse_variant(spec);
    v.search = search;
    v.searched_keys = {"lr"};
    v.searched_at_steps = 400;
    return v;
  };
  return {searched("layernorm:lr=0.008"), searched("rmsnorm:lr=0.004"),
          searched("dyt:scale=sqrtc,alpha0=2,lr=0.001"),
          searched("dyisru:scale=sqrtc,alpha0=2,lr=0.001"), searched("dyt:lr=0.008")};
}

namespace {

// Geometric mean over blocks of this run's residual-stream gradient over the reference
// run's at the same block (last probe record each); NaN without data, 0 with exact zeros.
double residual_ratio(const std::vector<json>& probes, const std::vector<json>& ref) {
  if (probes.empty() || ref.empty()) return NAN;
  const json &a = probes.back()["residual_grad"], &b = ref.back()["residual_grad"];
  if (a.size() != b.size() || a.empty()) return NAN;
  double log_sum = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_number() || !b[i].is_number() || b[i].get<double>() <= 0) return NAN;
    if (a[i].get<double>() <= 0) return 0.0;
    log_sum += std::log(a[i].get<double>() / b[i].get<double>());
  }
  return std::exp(log_sum / (double)a.size());
}

// The settings of `describe()` form ("key=value key=value") without the keys in `drop`.
std::string without_keys(const std::string& described, const std::set<std::string>& drop) {
  std::istringstream in(described);
  std::string out;
  for (std::string item; in >> item;)
    if (!drop.count(item.substr(0, item.find('=')))) out += (out.empty() ? "" : " ") + item;
  return out;
}

// The optimizer and schedule a run used, in words ("400 and 1200" steps with a ladder).
std::string schedule_of(const TrainConfig& c, const std::string& steps = "") {
  std::ostringstream o;
  o << (steps.empty() ? std::to_string(c.max_steps) : steps) << " steps of AdamW, lr " << c.lr
    << ", warmup " << c.warmup << ", cosine to " << c.min_lr << ", weight decay " << c.weight_decay;
  return o.str();
}

// One variant's row of a length's table.
struct Row {
  std::string spec, labels, grad;
  Stats val, train, tps;
};

// One schedule length: its runs (indices into CompareResult::runs, per variant), the table
// rows and the rules' inputs.
struct LengthResult {
  int64_t steps = 0;
  std::map<std::string, std::vector<size_t>> by_variant;
  std::vector<Row> rows;
  LengthSummary summary;
};

std::string count_labels(const std::map<std::string, int>& count) {
  std::string out;
  for (auto& [label, n] : count) out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + label;
  return out;
}

// The gradient column: this variant's residual-stream gradient over the reference's.
std::string gradient_words(const std::vector<double>& ratios, const std::string& ref_spec) {
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

// Per variant: mean +- sd over seeds, labels, gradient against the reference, the best
// variant and every variant's paired gap to it (conclusions.h).
void summarize(LengthResult& l, const std::vector<Variant>& variants, const std::string& ref_spec,
               const std::vector<RunOutcome>& runs,
               const std::map<size_t, std::vector<json>>& probes) {
  l.summary.steps = l.steps;
  for (const auto& v : variants) {
    Row row{v.spec};
    VariantSummary s{v.spec};
    std::map<std::string, int> count;
    std::vector<double> val, tr, tps, ratios;
    for (size_t i : l.by_variant[v.spec]) {
      const RunOutcome& r = runs[i];
      ++count[r.label];
      ++s.runs;
      s.not_learning += r.label != "learning";
      // means over runs that finished: a diverged or cut run's last evaluation is not its result
      if (r.label == "learning" || r.label == "collapsed") {
        val.push_back(r.val_loss), tr.push_back(r.train_loss), tps.push_back(r.tokens_per_s);
        if (std::isfinite(r.val_loss)) s.finished.push_back({r.seed, r.val_loss});
      }
      for (size_t k : l.by_variant[ref_spec])  // the reference run of the same seed
        if (runs[k].seed == r.seed) ratios.push_back(residual_ratio(probes.at(i), probes.at(k)));
    }
    row.labels = s.labels = count_labels(count);
    row.val = stats(val), row.train = stats(tr), row.tps = stats(tps);
    row.grad = v.spec == ref_spec ? "reference" : gradient_words(ratios, ref_spec);
    l.rows.push_back(row);
    l.summary.variants.push_back(s);
  }
  size_t& best = l.summary.best;
  for (size_t i = 1; i < l.rows.size(); ++i)
    if (std::isfinite(l.rows[i].val.mean) &&
        (!std::isfinite(l.rows[best].val.mean) || l.rows[i].val.mean < l.rows[best].val.mean))
      best = i;
  auto& sv = l.summary.variants;
  for (size_t i = 0; i < sv.size(); ++i)
    sv[i].gap = paired_gap(sv[i].finished, sv[best].finished, i == best);
}

std::string vs_best(const PairedGap& g) {
  if (g.verdict == "best" || g.verdict == "not comparable") return g.verdict;
  return fmt("%+.4f", g.d.mean) + (g.d.n > 1 ? " ± " + fmt("%.4f", g.d.sd) : "") + " (" +
         g.verdict + ")";
}

json gap_json(const Stats& d) {
  return {{"mean", std::isfinite(d.mean) ? json(d.mean) : json()},
          {"sd", std::isfinite(d.sd) ? json(d.sd) : json()},
          {"seeds", d.n}};
}

// Rule 5's inputs: what the specs set themselves, which search (if any) is behind them, and
// the optimizer settings every variant shares.
TuningNote tuning_note(const TrainConfig& base, const std::vector<Variant>& as_given,
                       const Search& search, const std::set<std::string>& overridden) {
  TuningNote tuning;
  for (const auto& v : as_given) {
    std::string keys;
    for (const auto& kv : v.settings)
      if (std::find(v.searched_keys.begin(), v.searched_keys.end(), kv.first) ==
          v.searched_keys.end())
        keys += (keys.empty() ? "" : ", ") + kv.first;
    if (!keys.empty())
      tuning.by_hand += (tuning.by_hand.empty() ? "" : "; ") + keys + " in `" + v.spec + "`";
  }
  // A recorded search counts when every variant carries the same one (default_variants()).
  bool recorded = !as_given.empty() && !as_given.front().search.empty();
  for (const auto& v : as_given) recorded &= v.search == as_given.front().search;
  if (recorded) {
    tuning.searched = true;
    tuning.search = as_given.front().search;
    tuning.searched_at_steps = as_given.front().searched_at_steps;
  }
  if (!search.results.empty()) {
    tuning.searched = true;
    tuning.search = search.words;
    tuning.searched_at_steps = base.max_steps;
  }
  const std::set<std::string> optim_keys = {"lr", "warmup", "min_lr", "weight_decay", "max_steps"};
  std::istringstream in(base.describe());
  for (std::string kv; in >> kv;) {
    const std::string k = kv.substr(0, kv.find('='));
    if (optim_keys.count(k) && !overridden.count(k))
      tuning.shared += (tuning.shared.empty() ? "" : ", ") + kv;
  }
  return tuning;
}

std::string search_table(const Search& search) {
  std::ostringstream md;
  md << "## The search behind each variant's settings (`--tune`)\n\n"
     << search.words
     << ". Runs in `search/`; no reported number uses these seeds. A point is *stable* when "
        "every held-out run of it learned; each variant runs its reported seeds at its "
        "stable point with the lowest mean val loss (**bold**), or at its lowest finite one "
        "when none is stable (said in its row).\n\n"
     << "| variant |";
  for (const TunePoint& p : search.points) md << " " << point_label(p) << " |";
  md << " stable at |\n|---|";
  for (size_t p = 0; p <= search.points.size(); ++p) md << "---|";
  md << "\n";
  for (const TuneResult& t : search.results) {
    md << "| `" << t.spec << "` |";
    std::string stable;
    for (size_t p = 0; p < search.points.size(); ++p) {
      const std::string cell = pm(t.val[p]) + " (" + t.labels[p] + ")";
      md << " " << (p == t.chosen ? "**" + cell + "**" : cell) << " |";
      if (t.stable[p]) stable += (stable.empty() ? "" : ", ") + point_label(search.points[p]);
    }
    md << " " << (stable.empty() ? "none: chose the lowest finite point" : stable) << " |\n";
  }
  md << "\n";
  return md.str();
}

}  // namespace

std::string run_dir(const std::string& report_dir, const std::string& spec, uint64_t seed,
                    int64_t steps) {
  return report_dir + "/runs/" + slug(spec) + "/seed" + std::to_string(seed) +
         (steps > 0 ? "-" + std::to_string(steps) + "steps" : "");
}

CompareResult compare(const TrainConfig& base, const std::vector<std::string>& kinds,
                      const std::string& dir) {
  CompareOptions o{.seeds = 1, .dir = dir, .jobs = 1};
  for (const auto& k : kinds) o.variants.push_back(parse_variant(k));
  if (o.variants.empty()) ng::fail("compare", "no norm kinds given");
  return compare(base, o);
}

namespace {

// The schedule lengths: the ladder (checked) or base.max_steps alone.
std::vector<int64_t> schedule_lengths(const TrainConfig& base, const CompareOptions& opt,
                                      const std::vector<Variant>& variants) {
  if (opt.steps_ladder.empty()) return {base.max_steps};
  for (size_t i = 0; i < opt.steps_ladder.size(); ++i) {
    if (opt.steps_ladder[i] < 1)
      ng::fail("compare", "--steps-ladder: lengths must be >= 1, got ", opt.steps_ladder[i]);
    if (i > 0 && opt.steps_ladder[i] <= opt.steps_ladder[i - 1])
      ng::fail("compare", "--steps-ladder: lengths must be ascending and distinct, got ",
               opt.steps_ladder[i - 1], " then ", opt.steps_ladder[i]);
  }
  for (const auto& v : variants)
    for (const auto& kv : v.settings)
      if (kv.first == "max_steps")
        ng::fail("compare", "variant `", v.spec,
                 "` sets max_steps, but --steps-ladder sets every run's length");
  return opt.steps_ladder;
}

// The report's markdown table of one length.
std::string length_table(const LengthResult& l, const std::string& ref_spec) {
  std::ostringstream md;
  md << "| variant | runs | val loss | train loss | vs best | tokens/s (training steps) | "
        "gradient reaching the residual stream vs "
     << ref_spec << " |\n|---|---|---|---|---|---|---|\n";
  for (size_t i = 0; i < l.rows.size(); ++i) {
    const Row& r = l.rows[i];
    md << "| `" << r.spec << "` | " << r.labels << " | " << pm(r.val) << " | " << pm(r.train)
       << " | " << vs_best(l.summary.variants[i].gap) << " | " << pm(r.tps, "%.0f") << " | "
       << r.grad << " |\n";
  }
  return md.str();
}

json length_json(const LengthResult& l, const std::vector<RunOutcome>& all_runs,
                 const std::string& dir) {
  json out = json::array();
  for (size_t vi = 0; vi < l.rows.size(); ++vi) {
    const VariantSummary& s = l.summary.variants[vi];
    json runs = json::array();
    for (size_t i : l.by_variant.at(s.spec)) {
      const RunOutcome& r = all_runs[i];
      runs.push_back(
          {{"seed", r.seed},
           {"dir", fs::relative(r.out, dir).string()},
           {"label", r.label},
           {"evidence", r.evidence},
           {"steps", r.steps},
           {"val_loss", std::isfinite(r.val_loss) ? json(r.val_loss) : json()},
           {"train_loss", std::isfinite(r.train_loss) ? json(r.train_loss) : json()},
           {"tokens_per_s", std::isfinite(r.tokens_per_s) ? json(r.tokens_per_s) : json()}});
    }
    json gap = gap_json(s.gap.d);
    gap["verdict"] = s.gap.verdict;
    out.push_back({{"spec", s.spec},
                   {"labels", s.labels},
                   {"val_loss_mean", l.rows[vi].val.mean},
                   {"val_loss_sd", l.rows[vi].val.sd},
                   {"val_scope", "whole validation split"},
                   {"paired_gap_to_best", gap},
                   {"gradient", l.rows[vi].grad},
                   {"runs", runs}});
  }
  return out;
}

}  // namespace

CompareResult compare(const TrainConfig& base_in, const CompareOptions& opt) {
  std::vector<Variant> variants = opt.variants.empty() ? default_variants() : opt.variants;
  if (opt.seeds < 1) ng::fail("compare", "--seeds must be >= 1, got ", opt.seeds);
  TrainConfig base = base_in;
  const std::vector<int64_t> lengths = schedule_lengths(base, opt, variants);
  base.max_steps = lengths.front();  // the search and the settings line use the first length
  base.validate();
  // Every run trains on base.device (its flags carry it to child processes); a missing GPU
  // is one error here, not one per run after the report folder exists.
  parse_device(base.device);
  const int ranks = opt.comm ? opt.comm->size() : 1, rank = opt.comm ? opt.comm->rank() : 0;
  if (rank > 0) base.quiet = true;  // rank 0 speaks and writes the report
  if (!base.data.empty()) base.data = fs::absolute(base.data).lexically_normal().string();
  const bool probe_interval_given = base.probe_interval > 0;
  if (!probe_interval_given) base.probe_interval = std::max<int64_t>(1, base.max_steps / 20);
  const std::string dir = opt.dir;
  ensure_writable_dir(dir, "compare");  // a read-only --report fails before any training
  CompareResult res;

  // With --init-from every run starts from that checkpoint: its model and tokenizer.
  std::optional<Tokenizer> start_tok;
  if (!base.init_from.empty()) {
    base.init_from = fs::absolute(base.init_from).lexically_normal().string();
    SavedRun start = read_saved_run(base.init_from, false);
    base = init_from_config(base, start.cfg);
    start_tok = start.tok;
  }
  // The floor every language model must beat: token frequencies alone.
  const Tokenizer tok =
      start_tok ? *start_tok : new_run_tokenizer(base.data, base.tokenizer, base.vocab_size);
  const std::vector<int64_t> corpus_ids = load_run_data(base.data, tok).ids;
  res.unigram = unigram_val_loss(corpus_ids, tok.size());
  // What every run's reported val loss covers (train.cpp's full_val_loss, Batcher's split)
  const int64_t val_tokens =
      (int64_t)corpus_ids.size() - (int64_t)(0.9 * (double)corpus_ids.size());
  const int64_t val_windows = (val_tokens - 1) / base.block_size;
  const std::string val_windows_text = std::to_string(val_windows) + " windows of " +
                                       std::to_string(base.block_size) + " = " +
                                       std::to_string(val_windows * base.block_size) + " of its " +
                                       std::to_string(val_tokens) + " tokens predicted";

  const int cores = std::max(1, (int)sysconf(_SC_NPROCESSORS_ONLN));
  const JobRunner run_all = [&](std::vector<Job>& js) {
    const int par =
        ranks > 1 ? ranks : std::min<int>(opt.jobs > 0 ? opt.jobs : cores, (int)js.size());
    if (par > 1 && ranks == 1)
      for (auto& j : js) j.cfg.threads = std::max(1, cores / par), j.cfg.quiet = true;
    return run_jobs(js, par, base_in.quiet, opt.exe, opt.comm);
  };

  // --tune: the search, before any reported run, on held-out seeds (tune.h).
  const std::vector<Variant> as_given = variants;
  Search search;
  if (!opt.tune.empty()) {
    search = run_search(base, variants, opt.tune, opt.tune_seeds, dir, res.unigram, run_all);
    if (search.interrupted) {
      res.interrupted = true;
      if (!base.quiet) std::printf("compare --tune: interrupted during the search\n");
      return res;
    }
  }

  // The reported runs: every variant x seed at every length, the longest first (a pool of
  // processes finishes sooner when the long runs start early).
  std::vector<Job> jobs;
  std::vector<size_t> job_length;  // index into lengths
  for (size_t li = lengths.size(); li-- > 0;)
    for (const auto& v : variants)
      for (int k = 0; k < opt.seeds; ++k) {
        TrainConfig c = apply_variant(base, v);
        c.max_steps = lengths[li];
        if (!probe_interval_given) c.probe_interval = std::max<int64_t>(1, c.max_steps / 20);
        c.seed = base.seed + (uint64_t)k;
        c.out = run_dir(dir, v.spec, c.seed, li == 0 ? 0 : lengths[li]);
        c.resume = false, c.stop_at = 0;
        jobs.push_back({v.spec, c});
        job_length.push_back(li);
      }
  const int parallel =
      ranks > 1 ? ranks : std::min<int>(opt.jobs > 0 ? opt.jobs : cores, (int)jobs.size());
  if (!base.quiet) {
    std::string at;
    for (int64_t L : lengths) at += (at.empty() ? "" : ", ") + std::to_string(L);
    std::printf(
        "compare: %zu variants x %d seeds x %zu schedule length%s (%s steps) = %zu runs, %d at a "
        "time%s; unigram val loss %.4f\n",
        variants.size(), opt.seeds, lengths.size(), lengths.size() > 1 ? "s" : "", at.c_str(),
        jobs.size(), parallel,
        ranks > 1      ? " (one per MPI rank)"
        : parallel > 1 ? " (separate processes, 1 thread each)"
                       : "",
        res.unigram);
  }
  const JobsResult ran = run_all(jobs);
  res.interrupted = ran.interrupted;
  if (rank > 0) return res;  // rank 0 reads the outcomes and writes the report

  // Outcomes, from each run's own files, grouped by length (ascending) and variant.
  std::vector<LengthResult> by_length(lengths.size());
  std::map<size_t, std::vector<json>> probes;
  for (size_t li = 0; li < lengths.size(); ++li) by_length[li].steps = lengths[li];
  for (size_t i = 0; i < jobs.size(); ++i) {
    const Job& j = jobs[i];
    probes[res.runs.size()] = read_jsonl(j.cfg.out + "/probes.jsonl");
    by_length[job_length[i]].by_variant[j.variant].push_back(res.runs.size());
    res.runs.push_back(read_outcome(j, ran.codes[i], ran.messages[i], res.unigram));
  }
  const std::string ref_spec = std::any_of(variants.begin(), variants.end(),
                                           [](const Variant& v) { return v.spec == "layernorm"; })
                                   ? "layernorm"
                                   : variants.front().spec;
  std::vector<LengthSummary> summaries;
  for (auto& l : by_length) {
    summarize(l, variants, ref_spec, res.runs, probes);
    summaries.push_back(l.summary);
  }
  const LengthResult& longest = by_length.back();

  std::set<std::string> overridden;  // the keys some variant sets itself
  for (const auto& v : variants)
    for (const auto& kv : v.settings) overridden.insert(kv.first);
  for (const char* k : {"norm", "norm_attn", "norm_mlp", "norm_final"})  // each variant's kind
    overridden.insert(k);
  if (lengths.size() > 1) overridden.insert("max_steps");
  const TuningNote tuning = tuning_note(base, as_given, search, overridden);
  const std::string shows = what_this_shows(summaries, tuning);
  std::string steps_words;  // "400 and 1200"
  for (size_t li = 0; li < lengths.size(); ++li)
    steps_words += (li == 0                    ? ""
                    : li + 1 == lengths.size() ? " and "
                                               : ", ") +
                   std::to_string(lengths[li]);

  // summary.json: the figures draw the longest schedule's runs (`variants`); `ladder` has
  // every length, `schedule_trends` rule 6's numbers.
  json summary = {{"unigram_val_loss", res.unigram},
                  {"seeds", opt.seeds},
                  {"reference", ref_spec},
                  {"config", base.describe()},
                  {"steps", lengths},
                  {"variants", length_json(longest, res.runs, dir)}};
  for (size_t vi = 0; vi < variants.size(); ++vi) {
    const TrainConfig c = apply_variant(base, variants[vi]);
    json& v = summary["variants"][vi];
    v["kind"] = variants[vi].kind;
    v["steps"] = longest.steps;
    v["schedule"] = schedule_of(c, steps_words);
    v["scalars"] = plot_scalars(c);
    v["scalar_parameters"] = scalar_parameters(c);
  }
  summary["ladder"] = json::array();
  for (const auto& l : by_length)
    summary["ladder"].push_back({{"steps", l.steps},
                                 {"best", l.rows[l.summary.best].spec},
                                 {"variants", length_json(l, res.runs, dir)}});
  if (lengths.size() > 1) {
    const auto &s = by_length.front().summary, &L = longest.summary;
    json trends = json::array();
    for (size_t i = 0; i < variants.size(); ++i) {
      if (i == L.best) continue;
      const GapTrend t = gap_trend(s.variants[i].finished, s.variants[L.best].finished,
                                   L.variants[i].finished, L.variants[L.best].finished);
      trends.push_back({{"spec", variants[i].spec},
                        {"reference", variants[L.best].spec},
                        {"gap_short", gap_json(t.short_gap)},
                        {"gap_long", gap_json(t.long_gap)},
                        {"change", gap_json(t.change)},
                        {"verdict", t.verdict}});
    }
    summary["schedule_trends"] = trends;
  }
  if (!search.results.empty()) {
    json sj = json::array();
    for (const TuneResult& t : search.results) {
      json pts = json::array();
      for (size_t p = 0; p < search.points.size(); ++p)
        pts.push_back({{"point", point_label(search.points[p])},
                       {"val_loss_mean", t.val[p].mean},
                       {"labels", t.labels[p]},
                       {"stable", (bool)t.stable[p]}});
      sj.push_back({{"spec", t.spec},
                    {"chosen", point_label(search.points[t.chosen])},
                    {"any_stable", t.any_stable},
                    {"points", pts}});
    }
    summary["search"] = {{"what", search.words}, {"variants", sj}};
  }
  summary["what_this_shows"] = shows;
  summary["conclusion_rules"] = conclusion_rules();
  write_text(dir + "/summary.json", summary.dump(2));
  res.figures = run_plot_script("plot_report.py", dir);

  std::ostringstream md;
  md << "# normgrad compare\n\n";
  if (res.interrupted) {
    int finished = 0;
    for (const auto& r : res.runs) finished += r.label != "interrupted";
    md << "**Interrupted (Ctrl-C): " << finished << " of " << res.runs.size()
       << " runs finished; the others are labelled interrupted and left out of the means.**\n\n";
  }
  md << "Every variant is trained with the same data, batches and initial weights (where the "
        "shapes agree) for "
     << (opt.seeds > 1 ? "each of the seeds " + std::to_string(base.seed) + ".." +
                             std::to_string(base.seed + opt.seeds - 1)
                       : "seed " + std::to_string(base.seed))
     << (lengths.size() > 1 ? ", at each schedule length (" + steps_words + " steps)" : "") << ": "
     << base.n_layer << " layers, " << base.n_head << " heads, n_embd " << base.n_embd << ", block "
     << base.block_size << ", batch " << base.batch << ", "
     << (overridden.count("lr") || overridden.count("warmup") || overridden.count("min_lr") ||
                 overridden.count("weight_decay") || overridden.count("max_steps")
             ? "each variant with its own optimizer settings (listed with its formulas below)"
             : schedule_of(base))
     << ". **Val loss is the whole validation split** (" << val_windows_text
     << "), the same text for every seed; the loss curves' evaluations use fixed batches.\n\n"
     << "**Unigram baseline: " << fmt("%.4f", res.unigram)
     << " nats/char** (the val split scored by the train split's character frequencies, "
        "add-one smoothed). A run is labelled *collapsed* when its final val loss is within 0.1 "
        "nats of it (it learned character frequencies only), *diverged* when its loss or a "
        "gradient went non-finite (the step is named), *learning* otherwise.\n\n";
  for (const auto& l : by_length) {
    if (lengths.size() > 1) md << "### " << l.steps << " steps\n\n";
    md << length_table(l, ref_spec) << "\n";
  }
  md << "Mean ± sample standard deviation over the seeds whose runs finished (learning or "
        "collapsed; a diverged, failed or interrupted run is counted in the runs column only). "
        "Val loss: the whole validation split; train loss: the fixed evaluation batches of the "
        "training split. \"vs best\": the paired gap to the variant with the lowest mean val "
        "loss"
     << (lengths.size() > 1 ? " at the same length" : "")
     << ", mean ± sd over the seeds where both finished, with the verdict of the rules "
        "below. tokens/s counts training steps only (steps that record probes, evaluations and "
        "checkpoints are timed apart). Gradient: geometric mean over blocks of the gradient "
        "norm reaching each block's output, over the "
     << ref_spec << " run of the same seed, at the last probe.\n\n## What this shows\n\n"
     << shows << "\n"
     << conclusion_rules() << "\n\n";
  if (!search.results.empty()) md << search_table(search);
  md << "## Variants: exact formulas, initial values and optimizer\n\n";
  for (const auto& v : variants) {
    const TrainConfig c = apply_variant(base, v);
    md << "- `" << v.spec << "`\n"
       << describe_variant(c)
       << "  - optimizer: " << schedule_of(c, lengths.size() > 1 ? steps_words : "") << "\n";
  }
  bool any_bad = false;
  for (const auto& r : res.runs) any_bad |= r.label != "learning";
  if (any_bad) {
    md << "\n## Runs that did not learn, and why (from their own probes)\n\n";
    for (size_t i = 0; i < res.runs.size(); ++i) {
      const RunOutcome& r = res.runs[i];
      if (r.label != "learning")
        md << "- `" << r.variant << "` seed " << r.seed
           << (lengths.size() > 1 ? ", " + std::to_string(jobs[i].cfg.max_steps) + " steps" : "")
           << ": **" << r.label << "**: " << r.evidence << "\n";
    }
  }
  md << "\n## Every run\n\n| variant | seed | label | steps | val loss | train loss | tokens/s | "
        "seconds: training steps / probe steps / evaluations "
        "|\n|---|---|---|---|---|---|---|---|\n";
  for (const auto& l : by_length)
    for (const auto& v : variants)
      for (size_t i : l.by_variant.at(v.spec)) {
        const RunOutcome& r = res.runs[i];
        md << "| `" << r.variant << "` | " << r.seed << " | " << r.label << " | " << r.steps
           << (r.steps != l.steps ? " of " + std::to_string(l.steps) : "") << " | "
           << fmt("%.4f", r.val_loss) << " | " << fmt("%.4f", r.train_loss) << " | "
           << fmt("%.0f", r.tokens_per_s) << " | " << fmt("%.1f", r.train_s) << " / "
           << fmt("%.1f", r.probe_s) << " / " << fmt("%.1f", r.eval_s) << " |\n";
      }
  md << "\nThe settings every run shares, as `normgrad train` fields: `"
     << without_keys(base.describe(), overridden)
     << "` (the keys a variant sets are listed with it; the seed varies"
     << (lengths.size() > 1 ? "; max_steps is the schedule length" : "") << "). Runs: `" << dir
     << "/runs/<variant>/seed<N>" << (lengths.size() > 1 ? "[-<steps>steps]" : "")
     << "/` (checkpoint, metrics.jsonl, probes.jsonl" << (parallel > 1 ? ", train.log" : "")
     << ").\n";
  if (res.figures) {
    md << "\n## Figures\n\n"
       << (lengths.size() > 1
               ? "Per-run figures show the " + std::to_string(longest.steps) + "-step runs.\n\n"
               : "");
    for (const char* f : {"schedule", "loss_curves", "grad_flow", "norm_scalars",
                          "alpha_vs_inv_std", "saturation", "update_ratio", "scatter", "jacobian"})
      if (fs::exists(dir + "/" + f + ".png")) md << "![" << f << "](" << f << ".png)\n\n";
  } else {
    md << "\n(Figures skipped: python3 with matplotlib is needed; see plot.log.)\n";
  }
  write_text(dir + "/report.md", md.str());
  if (!base.quiet) {
    std::printf("\n");
    for (const auto& l : by_length)
      for (const Row& r : l.rows)
        std::printf("%-40s %6lld steps  %-22s val %s\n", r.spec.c_str(), (long long)l.steps,
                    r.labels.c_str(), pm(r.val).c_str());
    std::printf("\nreport: %s/report.md%s\n", dir.c_str(), res.figures ? " (with figures)" : "");
  }
  return res;
}

}  // namespace ngcli

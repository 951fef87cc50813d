#include "normgrad/report/compare.h"

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

#include "normgrad/error.h"
#include "normgrad/nn/safetensors.h"
#include "normgrad/report/conclusions.h"
#include "normgrad/report/figures.h"
#include "normgrad/report/flow.h"
#include "normgrad/report/runs.h"
#include "normgrad/report/staging.h"
#include "normgrad/threading.h"
#include "normgrad/train/data.h"
#include "normgrad/train/files.h"
#include "normgrad/train/manifest.h"
#include "normgrad/train/saved_run.h"
#include "normgrad/train/tokenizer.h"

namespace ngcli {
namespace fs = std::filesystem;
using json = nlohmann::json;

std::vector<Variant> default_variants() {
  // alpha0 of the two sqrt(C)-scaled recipes: the best of {0.25, 0.5, 1, 2, 4} in a search
  // on seed 9001, which no report uses; DyISRU's beta0 follows as 1/alpha0^2. Zhu et al.'s LLM
  // recipe: the alpha0 pair that learned among {1/1, 2/2, 0.8/0.2}, each with the embedding
  // scalar, in the same lr search. Each variant's lr: its best stable point of a search with
  // the same lr budget for all six (docs/recipes.md has the searches, their tables and the
  // commands), run with the cosine's floor at lr/10. Plain `dyt` is Zhu et al.'s layer with
  // its vision defaults, kept for what it shows (it collapses at every lr searched).
  const std::string search =
      "lr in {0.0005, 0.001, 0.002, 0.004, 0.008, 0.016} on held-out seeds 101337..101338, 400 "
      "steps, the cosine's floor at lr/10, scored by the whole validation split: `normgrad "
      "compare --variant layernorm --variant rmsnorm --variant dyt:scale=sqrtc,alpha0=2 "
      "--variant dyisru:scale=sqrtc,alpha0=2 --variant dyt --tune lr=5e-4..1.6e-2x2 "
      "--tune-seeds 2` and, for Zhu et al.'s LLM recipe, the same grid and seeds over three "
      "alpha0 pairs (`--variant dyt:alpha0_attn=A,alpha0_other=B,embed_scale` for A/B in 1/1, "
      "2/2, 0.8/0.2), kept in docs/recipes.md";
  auto searched = [&](const std::string& spec) {
    Variant v = parse_variant(spec);
    v.search = search;
    v.searched_keys = {"lr"};
    v.searched_at_steps = 400;
    return v;
  };
  return {searched("layernorm:lr=0.008"),
          searched("rmsnorm:lr=0.008"),
          searched("dyt:scale=sqrtc,alpha0=2,lr=0.001"),
          searched("dyisru:scale=sqrtc,alpha0=2,lr=0.001"),
          searched("dyt:lr=0.0005"),
          searched("dyt:alpha0_attn=2,alpha0_other=2,embed_scale,lr=0.0005")};
}

namespace {

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
    << ", warmup " << c.warmup << ", cosine to " << c.final_lr()
    << (c.min_lr ? " (min_lr, set)" : " (lr/10: each variant decays by the same factor)")
    << ", weight decay " << c.weight_decay << " (decoupled: lr x " << c.weight_decay
    << " per step), gradient norm clipped at " << c.grad_clip;
  return o.str();
}

// One variant's row of a length's table.
struct Row {
  std::string spec, labels;
  std::string grad, raw_grad;  // relative and raw gradient at the stream over the reference's
  Stats val, train, tps;
};

// One schedule length: its runs (indices into CompareResult::runs, per variant), the table
// rows and the rules' inputs.
struct LengthResult {
  int64_t steps = 0;
  std::map<std::string, std::vector<size_t>> by_variant;
  std::vector<Row> rows;
  LengthSummary summary;
  std::vector<VariantFlow> flows;  // the gradient-flow table's rows
};

// Per variant: mean +- sd over seeds, labels, gradient against the reference, the best
// variant and every variant's paired gap to it (conclusions.h).
void summarize(LengthResult& l, const std::vector<Variant>& variants, const TrainConfig& base,
               const std::string& ref_spec, const std::vector<RunOutcome>& runs,
               const std::map<size_t, RunFlow>& flow) {
  l.summary.steps = l.steps;
  for (const auto& v : variants) {
    Row row{v.spec};
    VariantSummary s{v.spec};
    const TrainConfig cfg = apply_variant(base, v);
    VariantFlow vf{v.spec, {}, {}, {}, cfg.lr, cfg.final_lr(), cfg.weight_decay, cfg.grad_clip};
    std::map<std::string, int> count;
    std::vector<double> val, tr, tps, ratios, raw_ratios;
    for (size_t i : l.by_variant[v.spec]) {
      const RunOutcome& r = runs[i];
      ++count[r.label];
      ++s.runs;
      s.not_learning += r.label != "learning";
      // means over runs that finished: a diverged or cut run's last evaluation is not its result
      if (finished(r.label)) {
        val.push_back(r.val_loss), tr.push_back(r.train_loss), tps.push_back(r.tokens_per_s);
        if (std::isfinite(r.val_loss)) s.finished.push_back({r.seed, r.val_loss});
        if (flow.at(i).step >= 0) vf.runs.push_back(flow.at(i));
        vf.clipped.push_back(r.clipped_fraction);
        vf.grad_norm.push_back(r.median_grad_norm);
      }
      for (size_t k : l.by_variant[ref_spec])  // the reference run of the same seed
        if (runs[k].seed == r.seed) {
          ratios.push_back(block_ratio(flow.at(i).relative, flow.at(k).relative));
          raw_ratios.push_back(block_ratio(flow.at(i).raw, flow.at(k).raw));
        }
    }
    row.labels = s.labels = count_labels(count);
    row.val = stats(val), row.train = stats(tr), row.tps = stats(tps);
    row.grad = v.spec == ref_spec ? "reference" : ratio_words(ratios, ref_spec);
    row.raw_grad = v.spec == ref_spec ? "reference" : ratio_words(raw_ratios, ref_spec);
    l.rows.push_back(row);
    l.summary.variants.push_back(s);
    l.flows.push_back(vf);
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
  return gap_with_interval(g.d, g.ci) + " (" + g.verdict + ")";
}

json number_or_null(double x) { return std::isfinite(x) ? json(x) : json(); }

json gap_json(const Stats& d, const TInterval& ci) {
  return {{"mean", number_or_null(d.mean)},
          {"sd", number_or_null(d.sd)},
          {"seeds", d.n},
          {"ci95_low", number_or_null(ci.lo)},
          {"ci95_high", number_or_null(ci.hi)},
          {"p", number_or_null(ci.p)}};
}

// Rule 5's inputs: what the specs set themselves, which search (if any) is behind them, and
// the optimizer settings every variant shares.
TuningNote tuning_note(const TrainConfig& base, const std::vector<Variant>& as_given,
                       const Search& search, const std::set<std::string>& overridden) {
  TuningNote tuning;
  for (const auto& v : as_given) {
    std::string keys;
    for (const auto& kv : v.settings) {
      const bool axis = std::any_of(search.axes.begin(), search.axes.end(),
                                    [&](const TuneAxis& a) { return a.key == kv.first; });
      if (!axis && std::find(v.searched_keys.begin(), v.searched_keys.end(), kv.first) ==
                       v.searched_keys.end())
        keys += (keys.empty() ? "" : ", ") + kv.first;
    }
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
  md << "| variant | runs | val loss | train loss | vs best: mean [95% interval], p | "
        "tokens/s (training steps) | relative gradient at the stream vs "
     << ref_spec << " | raw gradient vs " << ref_spec
     << " (the stream's size) |\n|---|---|---|---|---|---|---|---|\n";
  for (size_t i = 0; i < l.rows.size(); ++i) {
    const Row& r = l.rows[i];
    md << "| `" << r.spec << "` | " << r.labels << " | " << pm(r.val) << " | " << pm(r.train)
       << " | " << vs_best(l.summary.variants[i].gap) << " | " << pm(r.tps, "%.0f") << " | "
       << r.grad << " | " << r.raw_grad << " |\n";
  }
  md << "\n" << resolvable_gap_words(l.summary.variants) << "\n";
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
    json gap = gap_json(s.gap.d, s.gap.ci);
    gap["verdict"] = s.gap.verdict;
    const VariantFlow& f = l.flows[vi];
    json flow = json::array();
    for (const RunFlow& r : f.runs)
      flow.push_back({{"step", r.step},
                      {"relative_grad", r.relative},
                      {"residual_grad", r.raw},
                      {"stream_rms", r.stream_rms},
                      {"norm_path_share", number_or_null(r.norm_path_share)},
                      {"jacobian_sigma_rel", number_or_null(r.sigma_rel)},
                      {"jacobian_radial", number_or_null(r.radial)},
                      {"update_ratio", number_or_null(r.update_ratio)}});
    out.push_back({{"spec", s.spec},
                   {"labels", s.labels},
                   {"val_loss_mean", l.rows[vi].val.mean},
                   {"val_loss_sd", l.rows[vi].val.sd},
                   {"val_scope", "whole validation split"},
                   {"paired_gap_to_best", gap},
                   {"gradient", l.rows[vi].grad},
                   {"gradient_raw", l.rows[vi].raw_grad},
                   {"flow", flow},
                   {"clipped_fraction", f.clipped},
                   {"median_grad_norm", f.grad_norm},
                   {"lr", f.lr},
                   {"final_lr", f.final_lr},
                   {"runs", runs}});
  }
  return out;
}

}  // namespace

namespace {

// One compare invocation, from its settings to its report; each step below fills its part.
struct Comparison {
  explicit Comparison(const CompareOptions& o) : opt(o) {}
  const CompareOptions& opt;
  FolderLock lock;   // the report folder is this compare's (rank 0 holds it)
  TrainConfig base;  // checked; max_steps is the first length (the search's and settings')
  std::vector<Variant> variants, as_given;  // as run (after a search) and as given
  std::vector<int64_t> lengths;
  std::string steps_words;  // "400 and 1200"
  bool probe_interval_given = false;
  int ranks = 1, rank = 0, cores = 1, parallel = 1;
  bool caller_quiet = false;     // the job pool's own lines (base.quiet is also set on rank > 0)
  std::string val_windows_text;  // what every reported val loss covers
  Search search;
  std::vector<Job> jobs;
  std::vector<size_t> job_length;  // index into lengths
  std::vector<LengthResult> by_length;
  std::string ref_spec;              // the gradient column's reference
  std::set<std::string> overridden;  // the keys some variant sets itself
  CompareResult res;

  std::vector<EarlierRun> earlier;  // what an earlier compare left in each job's folder

  // A rerun keeps the runs an earlier compare finished and continues the ones it cut; a run
  // of other settings is refused, or replaced with --overwrite (plan_rerun).
  std::vector<EarlierRun> plan(std::vector<Job>& js) const {
    std::vector<EarlierRun> e;
    for (auto& j : js) e.push_back(plan_rerun(j, base.overwrite, "compare"));
    return e;
  }
  JobsResult run_planned(const std::vector<Job>& js, const std::vector<EarlierRun>& e) const {
    return run_unfinished(js, e, [&](std::vector<Job>& todo) {
      const int par =
          ranks > 1 ? ranks : std::min<int>(opt.jobs > 0 ? opt.jobs : cores, (int)todo.size());
      if (par > 1 && ranks == 1)
        for (auto& j : todo) j.cfg.threads = std::max(1, cores / par), j.cfg.quiet = true;
      return run_jobs(todo, std::max(1, par), caller_quiet, opt.exe, opt.comm);
    });
  }
  JobsResult run_all(std::vector<Job>& js) const { return run_planned(js, plan(js)); }
};

// Settings checked, the data loaded once for the unigram baseline and the val split's size.
void prepare(Comparison& c, const TrainConfig& base_in) {
  const CompareOptions& opt = c.opt;
  c.variants = opt.variants.empty() ? default_variants() : opt.variants;
  c.as_given = c.variants;
  if (opt.seeds < 1) ng::fail("compare", "--seeds must be >= 1, got ", opt.seeds);
  check_seed_range(
      "compare", base_in.seed, (uint64_t)opt.seeds,
      "--seed " + std::to_string(base_in.seed) + " --seeds " + std::to_string(opt.seeds));
  // Two variants with one folder name or one recipe would train the same runs twice (and
  // into one folder): refused before anything runs.
  for (size_t i = 0; i < c.variants.size(); ++i)
    for (size_t k = 0; k < i; ++k) {
      const Variant &a = c.variants[k], &b = c.variants[i];
      if (slug(a.spec) == slug(b.spec) ||
          apply_variant(base_in, a).describe() == apply_variant(base_in, b).describe())
        ng::fail("compare", "variants `", a.spec, "` and `", b.spec,
                 "` are the same run (one folder or one recipe): give each once");
    }
  TrainConfig& base = c.base;
  base = base_in;
  c.caller_quiet = base_in.quiet;
  c.lengths = schedule_lengths(base, opt, c.variants);
  for (size_t li = 0; li < c.lengths.size(); ++li)
    c.steps_words += (li == 0                      ? ""
                      : li + 1 == c.lengths.size() ? " and "
                                                   : ", ") +
                     std::to_string(c.lengths[li]);
  base.max_steps = c.lengths.front();
  base.validate();
  // Every run trains on base.device (its flags carry it to child processes); a missing GPU
  // is one error here, not one per run after the report folder exists.
  parse_device(base.device);
  c.ranks = opt.comm ? opt.comm->size() : 1, c.rank = opt.comm ? opt.comm->rank() : 0;
  // the cores this process may use (affinity mask, OMP_NUM_THREADS), not the machine's: under
  // taskset or a container's cpuset, the machine's count would oversubscribe
  c.cores = ng::available_cores();
  if (!base.data.empty()) base.data = fs::absolute(base.data).lexically_normal().string();
  if (!base.val_data.empty())
    base.val_data = fs::absolute(base.val_data).lexically_normal().string();
  c.probe_interval_given = base.probe_interval > 0;
  if (!c.probe_interval_given) base.probe_interval = std::max<int64_t>(1, base.max_steps / 20);
  ensure_writable_dir(opt.dir, "compare");  // a read-only --report fails before any training
  if (c.rank == 0) c.lock = FolderLock(opt.dir, "compare");  // one report folder, one compare

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
      start_tok ? *start_tok
                : new_run_tokenizer(base.data, base.tokenizer, base.vocab_size, base.val_data);
  const TokenIds corpus_ids = load_run_data(base.data, tok).ids;
  const TokenIds val_ids =  // --val-data: the whole file is the validation split
      base.val_data.empty() ? TokenIds() : load_run_data(base.val_data, tok).ids;
  c.res.unigram = val_ids.empty() ? unigram_val_loss(corpus_ids, tok.size())
                                  : unigram_val_loss(corpus_ids, val_ids, tok.size());
  // What every run's reported val loss covers (train.cpp's full_val_loss, Batcher's split)
  const int64_t val_tokens = !val_ids.empty()
                                 ? val_ids.size()
                                 : corpus_ids.size() - (int64_t)(0.9 * (double)corpus_ids.size());
  const int64_t windows = (val_tokens - 1) / base.block_size;
  c.val_windows_text = std::to_string(windows) + " windows of " + std::to_string(base.block_size) +
                       " = " + std::to_string(windows * base.block_size) + " of its " +
                       std::to_string(val_tokens) + " tokens predicted";
}

// The reported runs: every variant x seed at every length, the longest first (a pool of
// processes finishes sooner when the long runs start early); each planned from what an
// earlier compare left in its folder (kept, continued, or started).
void make_jobs(Comparison& c) {
  for (size_t li = c.lengths.size(); li-- > 0;)
    for (const auto& v : c.variants)
      for (int k = 0; k < c.opt.seeds; ++k) {
        TrainConfig cfg = apply_variant(c.base, v);
        cfg.max_steps = c.lengths[li];
        if (!c.probe_interval_given) cfg.probe_interval = std::max<int64_t>(1, cfg.max_steps / 20);
        cfg.seed = c.base.seed + (uint64_t)k;
        cfg.out = run_dir(c.opt.dir, v.spec, cfg.seed, li == 0 ? 0 : c.lengths[li]);
        cfg.stop_at = 0;
        c.jobs.push_back({v.spec, cfg});
        c.job_length.push_back(li);
      }
  c.earlier = c.plan(c.jobs);
  const auto kept = std::count_if(c.earlier.begin(), c.earlier.end(),
                                  [](const EarlierRun& e) { return e.finished; });
  const auto resumed =
      std::count_if(c.jobs.begin(), c.jobs.end(), [](const Job& j) { return j.cfg.resume; });
  c.parallel = c.ranks > 1
                   ? c.ranks
                   : std::min<int>(c.opt.jobs > 0 ? c.opt.jobs : c.cores, (int)c.jobs.size());
  if (c.base.quiet) return;
  if (kept + resumed > 0)
    std::printf(
        "compare: rerun in %s: %ld runs finished before (kept), %ld continue from their "
        "checkpoints\n",
        c.opt.dir.c_str(), (long)kept, (long)resumed);
  std::printf(
      "compare: %zu variants x %d seeds x %zu schedule length%s (%s steps) = %zu runs, %d at a "
      "time%s; unigram val loss %.4f\n",
      c.variants.size(), c.opt.seeds, c.lengths.size(), c.lengths.size() > 1 ? "s" : "",
      c.steps_words.c_str(), c.jobs.size(), c.parallel,
      c.ranks > 1      ? " (one per MPI rank)"
      : c.parallel > 1 ? " (separate processes, 1 thread each)"
                       : "",
      c.res.unigram);
}

// Outcomes, from each run's own files, grouped by length (ascending) and variant, then each
// length summarised (table rows, the best, paired gaps).
void read_results(Comparison& c, const JobsResult& ran) {
  c.by_length.resize(c.lengths.size());
  std::map<size_t, RunFlow> flow;
  for (size_t li = 0; li < c.lengths.size(); ++li) c.by_length[li].steps = c.lengths[li];
  for (size_t i = 0; i < c.jobs.size(); ++i) {
    const Job& j = c.jobs[i];
    flow[c.res.runs.size()] = run_flow(read_jsonl(j.cfg.out + "/probes.jsonl"));
    c.by_length[c.job_length[i]].by_variant[j.variant].push_back(c.res.runs.size());
    c.res.runs.push_back(read_outcome(j, ran.codes[i], ran.messages[i], c.res.unigram));
  }
  const auto& vs = c.variants;
  c.ref_spec =
      std::any_of(vs.begin(), vs.end(), [](const Variant& v) { return v.spec == "layernorm"; })
          ? "layernorm"
          : vs.front().spec;
  for (auto& l : c.by_length) summarize(l, vs, c.base, c.ref_spec, c.res.runs, flow);
  for (const auto& v : vs)
    for (const auto& kv : v.settings) c.overridden.insert(kv.first);
  for (const char* k : {"norm", "norm_attn", "norm_mlp", "norm_final"})  // each variant's kind
    c.overridden.insert(k);
  if (c.lengths.size() > 1) {
    c.overridden.insert("max_steps");
    if (!c.probe_interval_given) c.overridden.insert("probe_interval");  // length / 20 each
  }
}

json search_json(const Search& search) {
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
  return {{"what", search.words}, {"variants", sj}};
}

// summary.json: the figures draw the longest schedule's runs (`variants`); `ladder` has
// every length, `schedule_trends` rule 6's numbers.
json summary_json(const Comparison& c, const std::string& shows) {
  const LengthResult& longest = c.by_length.back();
  const std::string& dir = c.opt.dir;
  json summary = {{"unigram_val_loss", c.res.unigram},
                  {"seeds", c.opt.seeds},
                  {"reference", c.ref_spec},
                  {"config", c.base.describe()},
                  // what every run shares (a key some variant or length sets is not here)
                  {"shared_settings", without_keys(c.base.describe(), c.overridden)},
                  {"steps", c.lengths},
                  {"variants", length_json(longest, c.res.runs, dir)},
                  {"manifest", reproducibility_manifest(parse_device(c.base.device))}};
  for (size_t vi = 0; vi < c.variants.size(); ++vi) {
    const TrainConfig cfg = apply_variant(c.base, c.variants[vi]);
    json& v = summary["variants"][vi];
    v["kind"] = c.variants[vi].kind;
    v["steps"] = longest.steps;
    v["schedule"] = schedule_of(cfg, c.steps_words);
    v["scalars"] = plot_scalars(cfg);
    v["scalar_parameters"] = scalar_parameters(cfg);
  }
  summary["ladder"] = json::array();
  for (const auto& l : c.by_length)
    summary["ladder"].push_back({{"steps", l.steps},
                                 {"best", l.rows[l.summary.best].spec},
                                 {"variants", length_json(l, c.res.runs, dir)}});
  if (c.lengths.size() > 1) {
    const auto &s = c.by_length.front().summary, &L = longest.summary;
    json trends = json::array();
    for (size_t i = 0; i < c.variants.size(); ++i) {
      if (i == L.best) continue;
      const GapTrend t = gap_trend(s.variants[i].finished, s.variants[L.best].finished,
                                   L.variants[i].finished, L.variants[L.best].finished);
      trends.push_back({{"spec", c.variants[i].spec},
                        {"reference", c.variants[L.best].spec},
                        {"gap_short", gap_json(t.short_gap, t.short_ci)},
                        {"gap_long", gap_json(t.long_gap, t.long_ci)},
                        {"change", gap_json(t.change, t.change_ci)},
                        {"verdict", t.verdict}});
    }
    summary["schedule_trends"] = trends;
  }
  if (!c.search.results.empty()) summary["search"] = search_json(c.search);
  summary["what_this_shows"] = shows;
  summary["conclusion_rules"] = conclusion_rules();
  return summary;
}

// The report's opening: what was trained, on what, and how runs are labelled.
std::string intro_markdown(const Comparison& c) {
  const TrainConfig& base = c.base;
  const int seeds = c.opt.seeds;
  std::ostringstream md;
  md << "# normgrad compare\n\n";
  if (c.res.interrupted) {
    int finished = 0;
    for (const auto& r : c.res.runs) finished += r.label != "interrupted";
    md << "**Interrupted (Ctrl-C): " << finished << " of " << c.res.runs.size()
       << " runs finished; the others are labelled interrupted and left out of the means.**\n\n";
  }
  bool own_optim = false;  // the schedule length alone is the ladder's, said below
  for (const char* k : {"lr", "warmup", "min_lr", "weight_decay"})
    own_optim |= c.overridden.count(k) > 0;
  own_optim |= c.lengths.size() == 1 && c.overridden.count("max_steps") > 0;
  md << "Every variant is trained with the same data, batches and initial weights (where the "
        "shapes agree) for "
     << (seeds > 1 ? "each of the seeds " + std::to_string(base.seed) + ".." +
                         std::to_string(base.seed + seeds - 1)
                   : "seed " + std::to_string(base.seed))
     << (c.lengths.size() > 1 ? ", at each schedule length (" + c.steps_words + " steps)" : "")
     << ": " << base.n_layer << " layers, " << base.n_head << " heads, n_embd " << base.n_embd
     << ", block " << base.block_size << ", batch " << base.batch << ", "
     << (own_optim ? "each variant with its own optimizer settings (listed with its formulas below)"
                   : schedule_of(base, c.lengths.size() > 1 ? c.steps_words : ""))
     << ". **Val loss is the whole validation split** (" << c.val_windows_text
     << "), the same text for every seed; the loss curves' evaluations use fixed batches.\n\n"
     << "**Unigram baseline: " << fmt("%.4f", c.res.unigram)
     << " nats/char** (the val split scored by the train split's character frequencies, "
        "add-one smoothed). "
     << health_rules() << "\n\n";
  return md.str();
}

// The gradient-flow measures that compare across norms, and the optimizer's hand, per length;
// one sentence on clipping derived by a stated rule.
std::string flow_markdown(const Comparison& c) {
  std::ostringstream md;
  md << "## Gradient flow and the optimizer's hand\n\n";
  for (const auto& l : c.by_length) {
    if (c.lengths.size() > 1) md << "**" << l.steps << " steps**\n\n";
    md << flow_table(l.flows) << "\n";
  }
  md << flow_formulas() << "\n\n";
  // Rule: a variant whose runs clipped more than half their steps (mean over its seeds, at
  // the longest length) trained with normalized-gradient steps most of the time.
  const LengthResult& longest = c.by_length.back();
  std::vector<std::string> mostly, rarely;
  for (const VariantFlow& f : longest.flows) {
    const double clipped = stats(f.clipped).mean;
    if (!std::isfinite(clipped)) continue;
    (clipped > 0.5 ? mostly : rarely)
        .push_back("`" + f.spec + "` (" + fmt("%.0f%%", 100 * clipped) + ")");
  }
  auto list = [](const std::vector<std::string>& v) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
    return out;
  };
  md << "Clipping (rule: more than half of the steps clipped, mean over seeds at " << longest.steps
     << " steps, is *mostly clipped*: most of those runs' gradients entered AdamW's moments "
        "rescaled to norm grad_clip, so the moments weight their steps equally rather than by "
        "the gradient's size; a constant rescaling would change nothing in AdamW, a varying "
        "one re-weights the steps): ";
  if (!mostly.empty()) md << "mostly clipped: " << list(mostly) << (rarely.empty() ? "." : "; ");
  if (!rarely.empty()) md << "clipped on at most half of the steps: " << list(rarely) << ".";
  if (mostly.empty() && rarely.empty()) md << "no gradient norms recorded.";
  // What every variant shares and what follows each one's own lr, from the settings.
  std::vector<std::string> shared;
  for (const char* k : {"grad_clip", "beta1", "beta2", "weight_decay"})
    if (!c.overridden.count(k)) shared.push_back(k);
  md << " Shared by every variant: " << (shared.empty() ? "none of " : "")
     << list(shared.empty() ? std::vector<std::string>{"grad_clip", "betas", "weight_decay"}
                            : shared)
     << ". Relative to each variant's own lr: "
     << (c.base.min_lr || c.overridden.count("min_lr")
             ? "the decoupled weight decay per step (lr x weight_decay); the cosine's floor is "
               "an absolute min_lr, set"
             : "the cosine's floor (lr/10) and the decoupled weight decay per step (lr x "
               "weight_decay)")
     << ".\n\n";
  return md.str();
}

// The tables of every length and the rule-derived interpretation.
std::string results_markdown(const Comparison& c, const std::string& shows) {
  std::ostringstream md;
  for (const auto& l : c.by_length) {
    if (c.lengths.size() > 1) md << "### " << l.steps << " steps\n\n";
    md << length_table(l, c.ref_spec) << "\n";
  }
  md << "Mean ± sample standard deviation over the seeds whose runs finished (learning, "
        "under-trained or collapsed; a diverged, failed or interrupted run is counted in the runs "
        "column only). "
        "Val loss: the whole validation split; train loss: the fixed evaluation batches of the "
        "training split. \"vs best\": the paired gap to the variant with the lowest mean val "
        "loss"
     << (c.lengths.size() > 1 ? " at the same length" : "")
     << ", mean d over the seeds where both finished with its 95% paired t interval and "
        "two-sided p, and the verdict of the rules below. tokens/s counts training steps only "
        "(steps that record probes, evaluations and checkpoints are timed apart). Relative "
        "gradient: geometric mean over blocks of ||dL/dx|| RMS(x) at each block's output x (the "
        "residual stream), over the "
     << c.ref_spec
     << " run of the same seed, at the last probe; geometric mean over seeds. It is unchanged "
        "when the stream is rescaled. Raw gradient: the same ratio of ||dL/dx|| alone, which "
        "in a pre-norm model scales as 1 / (the stream's size): it says how large the stream "
        "is, not how well gradient flows (section \"Gradient flow and the optimizer's hand\" "
        "below).\n\n## What this shows\n\n"
     << shows << "\n"
     << conclusion_rules() << "\n\n"
     << flow_markdown(c);
  if (!c.search.results.empty()) md << search_table(c.search);
  return md.str();
}

// Each variant's formulas, the runs that did not learn, every run, the shared settings.
std::string runs_markdown(const Comparison& c) {
  const bool ladder = c.lengths.size() > 1;
  std::ostringstream md;
  md << "## Variants: exact formulas, initial values and optimizer\n\n";
  for (const auto& v : c.variants) {
    const TrainConfig cfg = apply_variant(c.base, v);
    md << "- `" << v.spec << "`\n"
       << describe_variant(cfg)
       << "  - optimizer: " << schedule_of(cfg, ladder ? c.steps_words : "") << "\n";
  }
  const auto& runs = c.res.runs;
  if (std::any_of(runs.begin(), runs.end(),
                  [](const RunOutcome& r) { return r.label != "learning"; })) {
    md << "\n## Runs that did not learn, and why (from their own probes)\n\n";
    for (size_t i = 0; i < runs.size(); ++i)
      if (runs[i].label != "learning")
        md << "- `" << runs[i].variant << "` seed " << runs[i].seed
           << (ladder ? ", " + std::to_string(c.jobs[i].cfg.max_steps) + " steps" : "") << ": **"
           << runs[i].label << "**: " << runs[i].evidence << "\n";
  }
  md << "\n## Every run\n\n| variant | seed | label | steps | val loss | train loss | tokens/s | "
        "seconds: training steps / probe steps / evaluations "
        "|\n|---|---|---|---|---|---|---|---|\n";
  for (const auto& l : c.by_length)
    for (const auto& v : c.variants)
      for (size_t i : l.by_variant.at(v.spec)) {
        const RunOutcome& r = runs[i];
        md << "| `" << r.variant << "` | " << r.seed << " | " << r.label << " | " << r.steps
           << (r.steps != l.steps ? " of " + std::to_string(l.steps) : "") << " | "
           << fmt("%.4f", r.val_loss) << " | " << fmt("%.4f", r.train_loss) << " | "
           << fmt("%.0f", r.tokens_per_s) << " | " << fmt("%.1f", r.train_s) << " / "
           << fmt("%.1f", r.probe_s) << " / " << fmt("%.1f", r.eval_s) << " |\n";
      }
  md << "\nThe settings every run shares, as `normgrad train` fields: `"
     << without_keys(c.base.describe(), c.overridden)
     << "` (the keys a variant sets are listed with it; the seed varies"
     << (ladder ? "; max_steps is the schedule length" : "") << "). Runs: `" << c.opt.dir
     << "/runs/<variant>/seed<N>" << (ladder ? "[-<steps>steps]" : "")
     << "/` (checkpoint, metrics.jsonl, probes.jsonl" << (c.parallel > 1 ? ", train.log" : "")
     << ").\n";
  return md.str();
}

}  // namespace

CompareResult compare(const TrainConfig& base_in, const CompareOptions& opt) {
  Comparison c(opt);
  prepare(c, base_in);
  if (c.rank > 0) c.base.quiet = true;  // rank 0 speaks and writes the report
  const JobRunner run_all = [&](std::vector<Job>& js) { return c.run_all(js); };
  // Without a search the runs are known now: an earlier run of other settings is refused
  // before the earlier report is retracted.
  if (opt.tune.empty()) make_jobs(c);
  if (c.rank == 0) retract_report(opt.dir);  // settings checked: the runs start now
  // --tune: the search, before any reported run, on held-out seeds (tune.h).
  if (!opt.tune.empty()) {
    c.search =
        run_search(c.base, c.variants, opt.tune, opt.tune_seeds, opt.dir, c.res.unigram, run_all);
    if (c.search.interrupted) {
      c.res.interrupted = true;
      c.res.signal = c.search.signal;
      if (!c.base.quiet) std::printf("compare --tune: interrupted during the search\n");
      return c.res;
    }
  }
  if (!opt.tune.empty()) make_jobs(c);  // each variant at its chosen point
  const JobsResult ran = c.run_planned(c.jobs, c.earlier);
  c.res.interrupted = ran.interrupted;
  c.res.signal = ran.signal;
  if (c.rank > 0) return c.res;  // rank 0 reads the outcomes and writes the report
  read_results(c, ran);

  std::vector<LengthSummary> summaries;
  for (const auto& l : c.by_length) summaries.push_back(l.summary);
  const std::string shows =
      what_this_shows(summaries, tuning_note(c.base, c.as_given, c.search, c.overridden));
  StagedReport staged(opt.dir);  // no half report in opt.dir at any point (staging.h)
  write_text(staged.file("summary.json"), summary_json(c, shows).dump(2));
  const std::string intro =
      c.lengths.size() > 1
          ? "Per-run figures show the " + std::to_string(c.lengths.back()) + "-step runs.\n\n"
          : "";
  const FigureSection figures =
      opt.figures ? draw_figures("plot_report.py", staged.folder(), intro, opt.dir)
                  : figures_not_drawn();
  c.res.figures = figures.drawn;
  write_text(staged.file("report.md"),
             intro_markdown(c) + results_markdown(c, shows) + runs_markdown(c) + figures.markdown);
  staged.publish();
  if (!c.base.quiet) {
    std::printf("\n");
    for (const auto& l : c.by_length)
      for (const Row& r : l.rows)
        std::printf("%-40s %6lld steps  %-22s val %s\n", r.spec.c_str(), (long long)l.steps,
                    r.labels.c_str(), pm(r.val).c_str());
    std::printf("\nreport: %s/report.md%s\n", opt.dir.c_str(),
                c.res.figures ? " (with figures)" : "");
  }
  return c.res;
}

}  // namespace ngcli

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

// The optimizer and schedule a run used, in words.
std::string schedule_of(const TrainConfig& c) {
  std::ostringstream o;
  o << c.max_steps << " steps of AdamW, lr " << c.lr << ", warmup " << c.warmup << ", cosine to "
    << c.min_lr << ", weight decay " << c.weight_decay;
  return o.str();
}

}  // namespace

std::string run_dir(const std::string& report_dir, const std::string& spec, uint64_t seed) {
  return report_dir + "/runs/" + slug(spec) + "/seed" + std::to_string(seed);
}

CompareResult compare(const TrainConfig& base, const std::vector<std::string>& kinds,
                      const std::string& dir) {
  CompareOptions o{.seeds = 1, .dir = dir, .jobs = 1};
  for (const auto& k : kinds) o.variants.push_back(parse_variant(k));
  if (o.variants.empty()) ng::fail("compare", "no norm kinds given");
  return compare(base, o);
}

CompareResult compare(const TrainConfig& base_in, const CompareOptions& opt) {
  std::vector<Variant> variants = opt.variants.empty() ? default_variants() : opt.variants;
  if (opt.seeds < 1) ng::fail("compare", "--seeds must be >= 1, got ", opt.seeds);
  TrainConfig base = base_in;
  base.validate();
  // Every run trains on base.device (its flags carry it to child processes); a missing GPU
  // is one error here, not one per run after the report folder exists.
  parse_device(base.device);
  const int ranks = opt.comm ? opt.comm->size() : 1, rank = opt.comm ? opt.comm->rank() : 0;
  if (rank > 0) base.quiet = true;  // rank 0 speaks and writes the report
  if (!base.data.empty()) base.data = fs::absolute(base.data).lexically_normal().string();
  if (base.probe_interval <= 0) base.probe_interval = std::max<int64_t>(1, base.max_steps / 20);
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
  auto run_all = [&](std::vector<Job>& js) {
    const int par =
        ranks > 1 ? ranks : std::min<int>(opt.jobs > 0 ? opt.jobs : cores, (int)js.size());
    if (par > 1 && ranks == 1)
      for (auto& j : js) j.cfg.threads = std::max(1, cores / par), j.cfg.quiet = true;
    return run_jobs(js, par, base_in.quiet, opt.exe, opt.comm);
  };

  // --tune: the search, before any reported run, on held-out seeds (tune.h).
  const std::vector<Variant> as_given = variants;
  std::vector<TuneResult> search;
  std::vector<TunePoint> points;
  if (!opt.tune.empty()) {
    if (opt.tune_seeds < 1) ng::fail("compare", "--tune-seeds must be >= 1, got ", opt.tune_seeds);
    check_tune_axes(base, variants, opt.tune);
    points = tune_points(opt.tune);
    std::vector<Job> sj;
    for (const auto& v : variants)
      for (const TunePoint& p : points)
        for (int k = 0; k < opt.tune_seeds; ++k) {
          TrainConfig c = apply_variant(base, with_point(v, p));
          c.seed = base.seed + kHeldOutSeedOffset + (uint64_t)k;
          c.out = dir + "/search/" + slug(v.spec) + "/" + slug(point_label(p)) + "/seed" +
                  std::to_string(c.seed);
          c.resume = false, c.stop_at = 0;
          c.probe_interval = 0;  // scored by val loss alone
          sj.push_back({v.spec, c});
        }
    if (!base.quiet)
      std::printf("compare --tune: %zu variants x %zu points x %d held-out seeds = %zu runs\n",
                  variants.size(), points.size(), opt.tune_seeds, sj.size());
    const JobsResult sr = run_all(sj);
    if (sr.interrupted) {
      res.interrupted = true;
      if (!base.quiet) std::printf("compare --tune: interrupted during the search\n");
      return res;
    }
    size_t i = 0;
    for (auto& v : variants) {
      TuneResult t{v.spec, points};
      for (size_t p = 0; p < points.size(); ++p) {
        std::vector<double> vals;
        std::map<std::string, int> count;
        for (int k = 0; k < opt.tune_seeds; ++k, ++i) {
          const RunOutcome r = read_outcome(sj[i], sr.codes[i], sr.messages[i], res.unigram);
          ++count[r.label];
          if (r.label == "learning" || r.label == "collapsed") vals.push_back(r.val_loss);
        }
        std::string labels;
        for (auto& [l, n] : count)
          labels += (labels.empty() ? "" : ", ") + std::to_string(n) + " " + l;
        t.val.push_back(stats(vals));
        t.labels.push_back(labels);
        t.stable.push_back(count["learning"] == opt.tune_seeds);
      }
      // the stable point with the lowest mean val; without one, the lowest finite
      double best_val = INFINITY;
      for (int pass = 0; pass < 2 && !std::isfinite(best_val); ++pass)
        for (size_t p = 0; p < points.size(); ++p)
          if ((pass == 1 || t.stable[p]) && std::isfinite(t.val[p].mean) &&
              t.val[p].mean < best_val)
            best_val = t.val[p].mean, t.chosen = p, t.any_stable = pass == 0;
      search.push_back(t);
      v = with_point(v, points[t.chosen]);
    }
  }

  std::vector<Job> jobs;
  for (const auto& v : variants)
    for (int k = 0; k < opt.seeds; ++k) {
      TrainConfig c = apply_variant(base, v);
      c.seed = base.seed + (uint64_t)k;
      c.out = run_dir(dir, v.spec, c.seed);
      c.resume = false, c.stop_at = 0;
      jobs.push_back({v.spec, c});
    }
  const int parallel =
      ranks > 1 ? ranks : std::min<int>(opt.jobs > 0 ? opt.jobs : cores, (int)jobs.size());
  if (!base.quiet)
    std::printf(
        "compare: %zu variants x %d seeds = %zu runs, %d at a time%s; unigram val loss %.4f\n",
        variants.size(), opt.seeds, jobs.size(), parallel,
        ranks > 1      ? " (one per MPI rank)"
        : parallel > 1 ? " (separate processes, 1 thread each)"
                       : "",
        res.unigram);
  const JobsResult ran = run_all(jobs);
  res.interrupted = ran.interrupted;
  if (rank > 0) return res;  // rank 0 reads the outcomes and writes the report

  // Outcomes, from each run's own files.
  std::map<std::string, std::vector<size_t>> by_variant;
  std::map<size_t, std::vector<json>> probes;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const Job& j = jobs[i];
    const RunOutcome r = read_outcome(j, ran.codes[i], ran.messages[i], res.unigram);
    probes[i] = read_jsonl(j.cfg.out + "/probes.jsonl");
    by_variant[j.variant].push_back(res.runs.size());
    res.runs.push_back(r);
  }

  // Per variant: mean +- sd over seeds, labels, gradient size against layernorm's.
  const std::string ref_spec = by_variant.count("layernorm") ? "layernorm" : variants.front().spec;
  struct Row {
    std::string spec, labels, grad;
    Stats val, train, tps;
  };
  std::vector<Row> rows;
  for (const auto& v : variants) {
    Row row{v.spec};
    std::map<std::string, int> count;
    std::vector<double> val, tr, tps, ratios;
    for (size_t i : by_variant[v.spec]) {
      const RunOutcome& r = res.runs[i];
      ++count[r.label];
      // means over runs that finished: a diverged or cut run's last evaluation is not its result
      if (r.label == "learning" || r.label == "collapsed")
        val.push_back(r.val_loss), tr.push_back(r.train_loss), tps.push_back(r.tokens_per_s);
      // the reference run of the same seed
      for (size_t k : by_variant[ref_spec])
        if (res.runs[k].seed == r.seed) ratios.push_back(residual_ratio(probes[i], probes[k]));
    }
    for (auto& [label, n] : count)
      row.labels += (row.labels.empty() ? "" : ", ") + std::to_string(n) + " " + label;
    row.val = stats(val), row.train = stats(tr), row.tps = stats(tps);
    const int zeros = (int)std::count(ratios.begin(), ratios.end(), 0.0);
    std::vector<double> logs;
    for (double q : ratios)
      if (std::isfinite(q) && q > 0) logs.push_back(std::log(q));
    if (v.spec == ref_spec)
      row.grad = "reference";
    else if (zeros > 0) {
      row.grad = "vanished: exactly 0 at some block in " + std::to_string(zeros) + " of " +
                 std::to_string(ratios.size()) + " runs";
      if (!logs.empty())
        row.grad +=
            ", " + fmt("%.1e", std::exp(stats(logs).mean)) + "x " + ref_spec + "'s in the others";
    } else if (logs.empty())
      row.grad = "n/a";
    else {
      const double g = std::exp(stats(logs).mean);
      row.grad = (g < 1e-3 ? "vanished: " : "") + fmt(g < 0.01 ? "%.1e" : "%.2f", g) + "x " +
                 ref_spec + "'s";
    }
    rows.push_back(row);
  }
  // The best mean val loss; differences within the seeds' spread are marked.
  size_t best = 0;
  for (size_t i = 1; i < rows.size(); ++i)
    if (std::isfinite(rows[i].val.mean) &&
        (!std::isfinite(rows[best].val.mean) || rows[i].val.mean < rows[best].val.mean))
      best = i;
  // Paired gaps to the best and the rules' verdicts (conclusions.h).
  std::vector<VariantSummary> summaries;
  for (const auto& v : variants) {
    VariantSummary s{v.spec};
    for (size_t i : by_variant[v.spec]) {
      const RunOutcome& r = res.runs[i];
      ++s.runs;
      if ((r.label == "learning" || r.label == "collapsed") && std::isfinite(r.val_loss))
        s.finished.push_back({r.seed, r.val_loss});
      s.not_learning += r.label != "learning";
    }
    s.labels = rows[summaries.size()].labels;
    summaries.push_back(s);
  }
  for (size_t i = 0; i < summaries.size(); ++i)
    summaries[i].gap = paired_gap(summaries[i].finished, summaries[best].finished, i == best);
  auto vs_best = [&](size_t i) -> std::string {
    const PairedGap& g = summaries[i].gap;
    if (g.verdict == "best" || g.verdict == "not comparable") return g.verdict;
    return fmt("%+.4f", g.d.mean) + (g.d.n > 1 ? " ± " + fmt("%.4f", g.d.sd) : "") + " (" +
           g.verdict + ")";
  };
  // Rule 5's inputs: which settings every variant shares, which a variant sets itself.
  std::set<std::string> overridden;
  for (const auto& v : variants)
    for (const auto& kv : v.settings) overridden.insert(kv.first);
  std::string by_hand;  // what the specs set themselves (not a search)
  for (const auto& v : as_given) {
    std::string keys;
    for (const auto& kv : v.settings)
      if (std::find(v.searched_keys.begin(), v.searched_keys.end(), kv.first) ==
          v.searched_keys.end())
        keys += (keys.empty() ? "" : ", ") + kv.first;
    if (!keys.empty()) by_hand += (by_hand.empty() ? "" : "; ") + keys + " in `" + v.spec + "`";
  }
  TuningNote tuning;
  tuning.by_hand = by_hand;
  // A recorded search counts when every variant carries the same one (default_variants()).
  bool recorded = !as_given.empty() && !as_given.front().search.empty();
  for (const auto& v : as_given) recorded &= v.search == as_given.front().search;
  if (recorded) {
    tuning.searched = true;
    tuning.search = as_given.front().search;
  }
  std::string search_words;
  if (!search.empty()) {
    for (const TuneAxis& a : opt.tune) {
      std::string vals;
      for (const auto& x : a.values) vals += (vals.empty() ? "" : ", ") + x;
      search_words += (search_words.empty() ? "" : " x ") + a.key + " in {" + vals + "}";
    }
    search_words +=
        ": " + std::to_string(points.size()) + " points x " + std::to_string(opt.tune_seeds) +
        " held-out seed" + (opt.tune_seeds > 1 ? "s" : "") + " (" +
        std::to_string(base.seed + kHeldOutSeedOffset) +
        (opt.tune_seeds > 1
             ? ".." + std::to_string(base.seed + kHeldOutSeedOffset + opt.tune_seeds - 1)
             : "") +
        ") per variant, scored by the whole validation split";
    tuning.searched = true;
    tuning.search = search_words;
  }
  for (const char* k : {"norm", "norm_attn", "norm_mlp", "norm_final"})  // each variant's kind
    overridden.insert(k);
  {
    const std::set<std::string> optim_keys = {"lr", "warmup", "min_lr", "weight_decay",
                                              "max_steps"};
    std::istringstream in(base.describe());
    for (std::string kv; in >> kv;) {
      const std::string k = kv.substr(0, kv.find('='));
      if (optim_keys.count(k) && !overridden.count(k))
        tuning.shared += (tuning.shared.empty() ? "" : ", ") + kv;
    }
  }
  const std::string shows = what_this_shows(summaries, best, tuning, base.max_steps);

  json summary = {{"unigram_val_loss", res.unigram},
                  {"seeds", opt.seeds},
                  {"reference", ref_spec},
                  {"config", base.describe()},
                  {"variants", json::array()}};
  for (size_t vi = 0; vi < variants.size(); ++vi) {
    json runs = json::array();
    for (size_t i : by_variant[variants[vi].spec]) {
      const RunOutcome& r = res.runs[i];
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
    summary["variants"].push_back(
        {{"spec", variants[vi].spec},
         {"kind", variants[vi].kind},
         {"labels", rows[vi].labels},
         {"val_loss_mean", rows[vi].val.mean},
         {"val_loss_sd", rows[vi].val.sd},
         {"val_scope", "whole validation split"},
         {"paired_gap_to_best",
          {{"mean", summaries[vi].gap.d.mean},
           {"sd", summaries[vi].gap.d.sd},
           {"seeds", summaries[vi].gap.d.n},
           {"verdict", summaries[vi].gap.verdict}}},
         {"schedule", schedule_of(apply_variant(base, variants[vi]))},
         {"gradient", rows[vi].grad},
         {"scalars", plot_scalars(apply_variant(base, variants[vi]))},
         {"scalar_parameters", scalar_parameters(apply_variant(base, variants[vi]))},
         {"runs", runs}});
  }
  if (!search.empty()) {
    json sj = json::array();
    for (const TuneResult& t : search) {
      json pts = json::array();
      for (size_t p = 0; p < points.size(); ++p)
        pts.push_back({{"point", point_label(points[p])},
                       {"val_loss_mean", t.val[p].mean},
                       {"labels", t.labels[p]},
                       {"stable", (bool)t.stable[p]}});
      sj.push_back({{"spec", t.spec},
                    {"chosen", point_label(points[t.chosen])},
                    {"any_stable", t.any_stable},
                    {"points", pts}});
    }
    summary["search"] = {{"what", search_words}, {"variants", sj}};
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
     << ": " << base.n_layer << " layers, " << base.n_head << " heads, n_embd " << base.n_embd
     << ", block " << base.block_size << ", batch " << base.batch << ", "
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
        "gradient went non-finite (the step is named), *learning* otherwise.\n\n"
     << "| variant | runs | val loss | train loss | vs best | tokens/s (training steps) | "
        "gradient reaching the residual stream vs "
     << ref_spec << " |\n|---|---|---|---|---|---|---|\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    md << "| `" << r.spec << "` | " << r.labels << " | " << pm(r.val) << " | " << pm(r.train)
       << " | " << vs_best(i) << " | " << pm(r.tps, "%.0f") << " | " << r.grad << " |\n";
  }
  md << "\nMean ± sample standard deviation over the seeds whose runs finished (learning or "
        "collapsed; a diverged, failed or interrupted run is counted in the runs column only). "
        "Val loss: the whole validation split; train loss: the fixed evaluation batches of the "
        "training split. \"vs best\": the paired gap to the variant with the lowest mean val "
        "loss, mean ± sd over the seeds where both finished, with the verdict of the rules "
        "below. tokens/s counts training steps only (steps that record probes, evaluations and "
        "checkpoints are timed apart). Gradient: geometric mean over blocks of the gradient "
        "norm reaching each block's output, over the "
     << ref_spec << " run of the same seed, at the last probe.\n\n## What this shows\n\n"
     << shows << "\n"
     << conclusion_rules() << "\n\n";
  if (!search.empty()) {
    md << "## The search behind each variant's settings (`--tune`)\n\n"
       << search_words
       << ". Runs in `search/`; no reported number uses these seeds. A point is *stable* when "
          "every held-out run of it learned; each variant runs its reported seeds at its "
          "stable point with the lowest mean val loss (**bold**), or at its lowest finite one "
          "when none is stable (said in its row).\n\n"
       << "| variant |";
    for (const TunePoint& p : points) md << " " << point_label(p) << " |";
    md << " stable at |\n|---|";
    for (size_t p = 0; p <= points.size(); ++p) md << "---|";
    md << "\n";
    for (const TuneResult& t : search) {
      md << "| `" << t.spec << "` |";
      std::string stable;
      for (size_t p = 0; p < points.size(); ++p) {
        const std::string cell = pm(t.val[p]) + " (" + t.labels[p] + ")";
        md << " " << (p == t.chosen ? "**" + cell + "**" : cell) << " |";
        if (t.stable[p]) stable += (stable.empty() ? "" : ", ") + point_label(points[p]);
      }
      md << " " << (stable.empty() ? "none: chose the lowest finite point" : stable) << " |\n";
    }
    md << "\n";
  }
  md << "## Variants: exact formulas, initial values and optimizer\n\n";
  for (const auto& v : variants) {
    const TrainConfig c = apply_variant(base, v);
    md << "- `" << v.spec << "`\n"
       << describe_variant(c) << "  - optimizer: " << schedule_of(c) << "\n";
  }
  bool any_bad = false;
  for (const auto& r : res.runs) any_bad |= r.label != "learning";
  if (any_bad) {
    md << "\n## Runs that did not learn, and why (from their own probes)\n\n";
    for (const auto& r : res.runs)
      if (r.label != "learning")
        md << "- `" << r.variant << "` seed " << r.seed << ": **" << r.label << "**: " << r.evidence
           << "\n";
  }
  md << "\n## Every run\n\n| variant | seed | label | steps | val loss | train loss | tokens/s | "
        "seconds: training steps / probe steps / evaluations "
        "|\n|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : res.runs)
    md << "| `" << r.variant << "` | " << r.seed << " | " << r.label << " | " << r.steps << " | "
       << fmt("%.4f", r.val_loss) << " | " << fmt("%.4f", r.train_loss) << " | "
       << fmt("%.0f", r.tokens_per_s) << " | " << fmt("%.1f", r.train_s) << " / "
       << fmt("%.1f", r.probe_s) << " / " << fmt("%.1f", r.eval_s) << " |\n";
  md << "\nThe settings every run shares, as `normgrad train` fields: `"
     << without_keys(base.describe(), overridden)
     << "` (the keys a variant sets are listed with it; the seed varies). Runs: `" << dir
     << "/runs/<variant>/seed<N>/` (checkpoint, metrics.jsonl, probes.jsonl"
     << (parallel > 1 ? ", train.log" : "") << ").\n";
  if (res.figures) {
    md << "\n## Figures\n\n";
    for (const char* f : {"loss_curves", "grad_flow", "norm_scalars", "alpha_vs_inv_std",
                          "saturation", "update_ratio", "scatter", "jacobian"})
      if (fs::exists(dir + "/" + f + ".png")) md << "![" << f << "](" << f << ".png)\n\n";
  } else {
    md << "\n(Figures skipped: python3 with matplotlib is needed; see plot.log.)\n";
  }
  const std::string text_md = md.str();
  write_text(dir + "/report.md", text_md);
  if (!base.quiet) {
    std::printf("\n");
    for (const Row& r : rows)
      std::printf("%-32s %-22s val %s\n", r.spec.c_str(), r.labels.c_str(), pm(r.val).c_str());
    std::printf("\nreport: %s/report.md%s\n", dir.c_str(), res.figures ? " (with figures)" : "");
  }
  return res;
}

}  // namespace ngcli

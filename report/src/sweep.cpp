#include "normgrad/report/sweep.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include "normgrad/error.h"
#include "normgrad/nn/safetensors.h"
#include "normgrad/report/figures.h"
#include "normgrad/report/staging.h"
#include "normgrad/threading.h"
#include "normgrad/train/data.h"
#include "normgrad/train/files.h"
#include "normgrad/train/manifest.h"
#include "normgrad/train/saved_run.h"

namespace ngcli {
namespace fs = std::filesystem;
using json = nlohmann::json;

std::string trend(const std::vector<double>& best) {
  bool up = false, down = false;
  for (size_t i = 1; i < best.size(); ++i) {
    up |= best[i] > best[i - 1];
    down |= best[i] < best[i - 1];
  }
  if (best.size() < 2) return "cannot be judged";
  if (!up && !down) return "stays";
  if (down && !up) return "shrinks";
  if (up && !down) return "grows";
  return "no monotone trend";
}

std::string best_value_finding(const std::string& param, const std::vector<WidthBest>& by_width) {
  std::vector<double> values;
  std::vector<std::string> bests, none, tied;
  for (const WidthBest& b : by_width) {
    if (b.value.empty()) {
      none.push_back(std::to_string(b.width));
      continue;
    }
    values.push_back(std::strtod(b.value.c_str(), nullptr));
    bests.push_back(b.value + " at width " + std::to_string(b.width) + " (val " +
                    fmt("%.4f", b.val) + ")");
    std::string t;
    for (const auto& v : b.tied) t += (t.empty() ? "" : " and ") + v;
    if (!t.empty()) tied.push_back(t + " at width " + std::to_string(b.width));
  }
  const auto list = [](const std::vector<std::string>& items) {
    std::string out;
    for (size_t i = 0; i < items.size(); ++i)
      out += (i == 0 ? "" : i + 1 == items.size() ? " and " : ", ") + items[i];
    return out;
  };
  const std::string t = trend(values);
  std::string out =
      t == "cannot be judged"
          ? "fewer than 2 widths have a cell that learned, so no trend is stated"
      : t == "stays" ? "the best " + param + " is the same at every width"
      : t == "no monotone trend"
          ? "the best " + param + " moves up and down as the width grows (no monotone trend)"
          : "the best " + param + " " + t + " as the width grows";
  if (!bests.empty()) out += ": " + list(bests);
  out += ".";
  if (!none.empty())
    out +=
        " No cell learned at width" + std::string(none.size() > 1 ? "s " : " ") + list(none) + ".";
  if (!tied.empty()) out += " Within the seeds' spread of the best: " + list(tied) + ".";
  // a value that is the best or tied with it at every width: the seeds do not separate a
  // moving best from a fixed one
  if ((t == "shrinks" || t == "grows" || t == "no monotone trend") && none.empty()) {
    const auto near_best = [](const WidthBest& b, const std::string& v) {
      return b.value == v || std::find(b.tied.begin(), b.tied.end(), v) != b.tied.end();
    };
    std::vector<std::string> candidates = by_width.front().tied;
    candidates.push_back(by_width.front().value);
    for (const auto& v : candidates)
      if (std::all_of(by_width.begin(), by_width.end(),
                      [&](const WidthBest& b) { return near_best(b, v); })) {
        out += " But " + param + " " + v +
               " is within the seeds' spread of the best at every width, so these seeds do not "
               "show the best value moving.";
        break;
      }
  }
  return out;
}

std::string sweep_finding_rules() {
  return "Rules behind this section: per width, the best value is the cell with the lowest mean "
         "val loss among cells with a learning run; a value is *within the seeds' spread of the "
         "best* when its mean exceeds the best's by at most sqrt(sd^2 + sd_best^2) (a "
         "description, not a significance test). The trend compares the best values in order "
         "of width: *shrinks* when none is larger than the one before and one is smaller, "
         "*grows* the reverse, *the same* when all are equal, *no monotone trend* otherwise; "
         "fewer than 2 widths with a best: no trend. When one value is the best or within the "
         "spread at every width, the report says the seeds do not show the best moving.";
}

namespace {

struct Planned {
  Job job;
  size_t cell;
  EarlierRun earlier;  // what an earlier sweep left in its folder (plan_rerun)
  int code = 130;
  std::string message;
};

// One sweep invocation: its settings and where each of its runs stands.
struct Sweep {
  FolderLock lock;  // the report folder is this sweep's (rank 0 holds it)
  SweepOptions opt;
  TrainConfig base;
  bool caller_quiet = false;
  int ranks = 1, rank = 0;
  Tokenizer tok;
  std::vector<Planned> plan;
  SweepResult res;
};

// The settings checked (every swept value parsed as its field), the data's unigram baseline.
void prepare(Sweep& w, const TrainConfig& base_in, const SweepOptions& opt_in) {
  SweepOptions& opt = w.opt;
  opt = opt_in;
  if (opt.variants.empty()) opt.variants = {parse_variant("dyt:scale=sqrtc")};
  if (opt.values.empty()) opt.values = {"0.5", "1", "2", "4", "8", "16"};
  if (opt.widths.empty()) opt.widths = {64, 128, 256};
  if (opt.layers.empty()) opt.layers = {base_in.n_layer};
  if (opt.seeds < 1) ng::fail("sweep", "--seeds must be >= 1, got ", opt.seeds);
  check_seed_range(
      "sweep", base_in.seed, (uint64_t)opt.seeds,
      "--seed " + std::to_string(base_in.seed) + " --seeds " + std::to_string(opt.seeds));
  // The grid's own axes: a swept n_embd or n_layer would be overridden by every cell's.
  if (opt.param == "n_embd" || opt.param == "n_layer")
    ng::fail("sweep", "--param ", opt.param, " is an axis of every sweep: use --",
             opt.param == "n_embd" ? "widths" : "layers", " instead");
  TrainConfig& base = w.base;
  base = base_in;
  w.caller_quiet = base_in.quiet;
  w.ranks = opt.comm ? opt.comm->size() : 1, w.rank = opt.comm ? opt.comm->rank() : 0;
  if (w.rank > 0) base.quiet = true;  // rank 0 speaks and writes the report
  base.validate();
  // Every cell trains on base.device (its flags carry it to child processes); a missing GPU
  // is one error here, not one per cell.
  parse_device(base.device);
  if (!base.data.empty()) base.data = fs::absolute(base.data).lexically_normal().string();
  if (!base.val_data.empty())
    base.val_data = fs::absolute(base.val_data).lexically_normal().string();
  std::vector<double> seen;
  for (const auto& v : opt.values) {
    TrainConfig probe = base;  // parses the value as the field's type and checks it
    set_recipe_field(probe, opt.param, v, "sweep --values");
    double x = 0;
    if (!number_from_text(v, x))
      ng::fail("sweep", "--param ", opt.param, ": value '", v, "' is not a number");
    // one value twice would be one cell's runs twice (the same folder when spelled alike)
    if (std::find(seen.begin(), seen.end(), x) != seen.end())
      ng::fail("sweep", "--values: ", v, " is given twice (", opt.param, " = ", x, ")");
    seen.push_back(x);
  }
  const auto once = [](const std::vector<int64_t>& xs, const char* flag) {
    for (size_t i = 0; i < xs.size(); ++i)
      if (std::find(xs.begin(), xs.begin() + (long)i, xs[i]) != xs.begin() + (long)i)
        ng::fail("sweep", flag, ": ", xs[i], " is given twice");
  };
  once(opt.widths, "--widths");
  once(opt.layers, "--layers");
  for (size_t i = 0; i < opt.variants.size(); ++i)
    for (size_t k = 0; k < i; ++k)
      if (slug(opt.variants[k].spec) == slug(opt.variants[i].spec))
        ng::fail("sweep", "variants `", opt.variants[k].spec, "` and `", opt.variants[i].spec,
                 "` are the same runs (one folder): give each once");
  ensure_writable_dir(opt.dir, "sweep");
  if (w.rank == 0) w.lock = FolderLock(opt.dir, "sweep");  // one report folder, one sweep
  w.tok = new_run_tokenizer(base.data, base.tokenizer, base.vocab_size, base.val_data);
  const TokenIds ids = load_run_data(base.data, w.tok).ids;
  w.res.unigram =  // --val-data: the whole file is the validation split
      base.val_data.empty()
          ? unigram_val_loss(ids, w.tok.size())
          : unigram_val_loss(ids, load_run_data(base.val_data, w.tok).ids, w.tok.size());
}

// The grid; every config is checked before anything trains. A run that ended before keeps
// its outcome; a cut one resumes from its checkpoint.
void plan_cells(Sweep& w) {
  const SweepOptions& opt = w.opt;
  const TrainConfig& base = w.base;
  const Tokenizer& tok = w.tok;
  SweepResult& res = w.res;
  std::vector<Planned>& plan = w.plan;
  for (const auto& var : opt.variants)
    for (const auto& value : opt.values)
      for (int64_t width : opt.widths)
        for (int64_t layers : opt.layers) {
          SweepCell cell{var.spec, value, width, layers};
          for (int k = 0; k < opt.seeds; ++k) {
            TrainConfig c = apply_variant(base, var);
            set_recipe_field(c, opt.param, value, var.spec);
            c.n_embd = width, c.n_layer = layers;
            c.seed = base.seed + (uint64_t)k;
            c.out = opt.dir + "/runs/" + slug(var.spec) + "/" + opt.param + "=" + value + "/w" +
                    std::to_string(width) + "_l" + std::to_string(layers) + "/seed" +
                    std::to_string(c.seed);
            c.stop_at = 0;
            c.validate();
            check_fits_memory(c, tok.size(), "sweep cell " + c.out);
            Planned p{{var.spec + " " + opt.param + "=" + value + " n_embd=" +
                           std::to_string(width) + " n_layer=" + std::to_string(layers),
                       c},
                      res.cells.size()};
            p.earlier = plan_rerun(p.job, base.overwrite, "sweep");
            plan.push_back(p);
          }
          res.cells.push_back(cell);
        }
}

// The runs not finished before, in parallel processes or over MPI ranks.
void run_planned(Sweep& w) {
  const SweepOptions& opt = w.opt;
  const TrainConfig& base = w.base;
  const int ranks = w.ranks;
  SweepResult& res = w.res;
  std::vector<Planned>& plan = w.plan;
  std::vector<Job> jobs;
  std::vector<EarlierRun> earlier;
  for (const Planned& p : plan) jobs.push_back(p.job), earlier.push_back(p.earlier);
  res.reused = (int)std::count_if(earlier.begin(), earlier.end(),
                                  [](const EarlierRun& e) { return e.finished; });
  res.ran = (int)plan.size() - res.reused;
  const int cores = ng::available_cores();  // affinity mask and OMP_NUM_THREADS, as compare
  const int parallel =
      ranks > 1 ? ranks : std::max(1, std::min<int>(opt.jobs > 0 ? opt.jobs : cores, res.ran));
  if (!base.quiet)
    std::printf(
        "sweep: %zu cells x %d seeds = %zu runs (%d finished before, %d to train, %d at a "
        "time); unigram val loss %.4f\n",
        res.cells.size(), opt.seeds, plan.size(), res.reused, res.ran, parallel, res.unigram);
  const JobsResult ran = run_unfinished(jobs, earlier, [&](std::vector<Job>& to_run) {
    if (parallel > 1 && ranks == 1)
      for (auto& j : to_run) j.cfg.threads = std::max(1, cores / parallel), j.cfg.quiet = true;
    return run_jobs(to_run, parallel, w.caller_quiet, opt.exe, opt.comm);
  });
  res.interrupted = ran.interrupted;
  res.signal = ran.signal;
  for (size_t k = 0; k < plan.size(); ++k)
    plan[k].code = ran.codes[k], plan[k].message = ran.messages[k];
}

// Cells: outcomes, mean over finished seeds, labels.
void summarize_cells(Sweep& w) {
  SweepResult& res = w.res;
  for (const auto& p : w.plan)
    res.cells[p.cell].runs.push_back(read_outcome(p.job, p.code, p.message, res.unigram));
  for (auto& cell : res.cells) {
    std::map<std::string, int> count;
    std::vector<double> val;
    for (const auto& r : cell.runs) {
      ++count[r.label];
      if (finished(r.label)) val.push_back(r.val_loss);
    }
    cell.labels = count_labels(count);
    cell.val = stats(val);
  }
}

// The best value per width, and how it moves as the width grows: the report's finding.
void find_best(Sweep& w) {
  const SweepOptions& opt = w.opt;
  SweepResult& res = w.res;
  std::ostringstream finding;
  for (const auto& var : opt.variants)
    for (int64_t layers : opt.layers) {
      std::vector<WidthBest> bests;
      for (int64_t width : opt.widths) {
        WidthBest b{width};
        SweepCell* best = nullptr;
        for (auto& c : res.cells)
          if (c.variant == var.spec && c.width == width && c.layers == layers &&
              std::isfinite(c.val.mean) && c.labels.find("learning") != std::string::npos &&
              (!best || c.val.mean < best->val.mean))
            best = &c;
        if (best) {
          best->best = true;
          b.value = best->value, b.val = best->val.mean;
          // values whose mean is within the combined spread of the best: not distinguishable
          for (const auto& c : res.cells)
            if (&c != best && c.variant == var.spec && c.width == width && c.layers == layers &&
                std::isfinite(c.val.mean) &&
                c.val.mean - best->val.mean <=
                    std::sqrt(c.val.sd * c.val.sd + best->val.sd * best->val.sd))
              b.tied.push_back(c.value);
        }
        bests.push_back(b);
      }
      finding << "- `" << var.spec << "`, " << layers
              << " layers: " << best_value_finding(opt.param, bests) << "\n";
    }
  res.finding = finding.str();
}

// One CSV line per run and summary.json (for the figures), into the staged report.
void write_files(const Sweep& w, const StagedReport& staged) {
  const SweepOptions& opt = w.opt;
  const SweepResult& res = w.res;
  const TrainConfig& base = w.base;
  std::vector<std::string> described;
  for (const auto& p : w.plan) described.push_back(p.job.cfg.describe());
  std::ostringstream csv;
  csv << "variant," << opt.param << ",n_embd,n_layer,seed,label,steps,val_loss,train_loss\n";
  json cells = json::array();
  for (const auto& c : res.cells) {
    for (const auto& r : c.runs)
      csv << '"' << c.variant << "\"," << c.value << ',' << c.width << ',' << c.layers << ','
          << r.seed << ',' << r.label << ',' << r.steps << ',' << fmt("%.6f", r.val_loss) << ','
          << fmt("%.6f", r.train_loss) << "\n";
    cells.push_back({{"variant", c.variant},
                     {"value", std::strtod(c.value.c_str(), nullptr)},
                     {"width", c.width},
                     {"layers", c.layers},
                     {"val_mean", std::isfinite(c.val.mean) ? json(c.val.mean) : json()},
                     {"val_sd", std::isfinite(c.val.sd) ? json(c.val.sd) : json()},
                     {"labels", c.labels},
                     {"best", c.best}});
  }
  write_text(staged.file("sweep.csv"), csv.str());
  const json summary = {{"param", opt.param},
                        {"unigram_val_loss", res.unigram},
                        {"seeds", opt.seeds},
                        {"config", common_settings(described)},  // what every run uses
                        {"interrupted", res.interrupted},
                        {"cells", cells},
                        {"manifest", reproducibility_manifest(parse_device(base.device))}};
  write_text(staged.file("summary.json"), summary.dump(2));
}

std::string sweep_markdown(const Sweep& w) {
  const SweepOptions& opt = w.opt;
  const SweepResult& res = w.res;
  const TrainConfig& base = w.base;
  std::ostringstream md;
  md << "# normgrad sweep: " << opt.param << " x width\n\n";
  if (res.interrupted) md << "**Interrupted (Ctrl-C): rerun the same command to finish it.**\n\n";
  md << "Every cell is trained with the same data, batches and seeds (" << base.seed << ".."
     << base.seed + opt.seeds - 1 << "): " << base.n_head << " heads, block " << base.block_size
     << ", batch " << base.batch << ", " << base.max_steps << " steps of AdamW (lr " << base.lr
     << ", warmup " << base.warmup << ", cosine to " << base.final_lr()
     << (base.min_lr ? "" : " = lr/10")
     << "); n_embd and n_layer as in each table. **Unigram baseline: " << fmt("%.4f", res.unigram)
     << "** nats/char. A cell shows the mean ± sd of the final val loss over the seeds whose "
        "runs finished, and the runs' labels. **Bold**: the lowest mean of its row. "
     << health_rules() << "\n\n"
     << "## What the numbers say\n\n"
     << res.finding << "\n"
     << sweep_finding_rules() << "\n";
  for (const auto& var : opt.variants)
    for (int64_t layers : opt.layers) {
      md << "\n## `" << var.spec << "`, " << layers << " layers\n\n| n_embd |";
      for (const auto& v : opt.values) md << " " << opt.param << " " << v << " |";
      md << "\n|---|";
      for (size_t k = 0; k < opt.values.size(); ++k) md << "---|";
      md << "\n";
      for (int64_t width : opt.widths) {
        md << "| " << width << " |";
        for (const auto& c : res.cells)
          if (c.variant == var.spec && c.layers == layers && c.width == width)
            md << " " << (c.best ? "**" : "") << pm(c.val) << (c.best ? "**" : "") << " ("
               << c.labels << ") |";
        md << "\n";
      }
      TrainConfig shown = apply_variant(base, var);
      set_recipe_field(shown, opt.param, opt.values.front(), var.spec);
      shown.n_embd = opt.widths.front(), shown.n_layer = layers;
      md << "\nThe layer (shown for " << opt.param << " = " << opt.values.front() << ", n_embd "
         << opt.widths.front() << "; each cell uses its own):\n\n"
         << describe_variant(shown);
    }
  std::vector<std::string> described;
  for (const auto& p : w.plan) described.push_back(p.job.cfg.describe());
  const std::string common = common_settings(described);
  md << "\nThe settings every run uses, as `normgrad train` fields: `" << common
     << "`; the others differ between runs: " << differing_keys(described, common)
     << ". One line per run: `sweep.csv`. Runs: `" << opt.dir << "/runs/<variant>/<" << opt.param
     << "=value>/w<n_embd>_l<n_layer>/seed<N>/`.\n";
  return md.str();
}

}  // namespace

SweepResult sweep(const TrainConfig& base_in, const SweepOptions& opt_in) {
  Sweep w;
  prepare(w, base_in, opt_in);
  plan_cells(w);
  if (w.rank == 0) retract_report(w.opt.dir);  // every cell checked: the runs start now
  run_planned(w);
  if (w.rank > 0) return w.res;  // rank 0 reads the outcomes and writes the report
  summarize_cells(w);
  find_best(w);
  StagedReport staged(w.opt.dir);  // no half report in the folder at any point (staging.h)
  write_files(w, staged);
  const FigureSection figures =
      w.opt.figures ? draw_figures("plot_sweep.py", staged.folder()) : figures_not_drawn();
  w.res.figures = figures.drawn;
  write_text(staged.file("report.md"), sweep_markdown(w) + figures.markdown);
  staged.publish();
  if (!w.base.quiet)
    std::printf("\n%s\nreport: %s/report.md%s\n", w.res.finding.c_str(), w.opt.dir.c_str(),
                w.res.figures ? " (with figures)" : "");
  return w.res;
}

}  // namespace ngcli

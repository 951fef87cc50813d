#include "normgrad/report/convert.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "normgrad/normgrad.h"
#include "normgrad/optim.h"
#include "normgrad/report/figures.h"
#include "normgrad/report/runs.h"
#include "normgrad/report/staging.h"
#include "normgrad/train/data.h"
#include "normgrad/train/files.h"
#include "normgrad/train/model_graph.h"
#include "normgrad/train/saved_run.h"
#include "normgrad/train/tensorboard.h"
#include "normgrad/train/train.h"

namespace ngcli {
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace ng;

std::map<std::string, double> stats_init(const std::string& target, const std::string& source,
                                         const InputStats& s, int64_t channels,
                                         const std::string& scale) {
  const double var = source == "layernorm" ? s.variance : s.mean_square;  // what it divides by
  if (!(var > 0) || !std::isfinite(var))
    fail("convert", "input statistic of the ", source, " layer is ", var, ": cannot set a slope");
  const NormKind& k = norm_kind(target);
  if (!k.stats_init) {
    std::string kinds;
    for (const auto& n : norm_kind_names())
      if (norm_kind(n).stats_init) kinds += (kinds.empty() ? "" : ", ") + n;
    fail("convert", "cannot convert to '", target, "' (", kinds, ")");
  }
  NormOptions o;
  o.scale = scale;
  return k.stats_init(var, channels, o);  // the kind's own rule (NormKind::stats_init)
}

std::vector<std::string> surgery_positions(const nn::GPT& model, const std::string& at) {
  std::vector<std::string> out;
  const int64_t L = (int64_t)model.blocks().size();
  for (const auto& p : nn::norm_positions(model)) {
    const bool final = p == "transformer.ln_f";
    const bool attn = p.size() > 4 && p.substr(p.size() - 4) == "ln_1";
    if (at == "all" || (at == "final" && final) || (at == "attn" && attn) ||
        (at == "mlp" && !final && !attn))
      out.push_back(p);
  }
  if (at.rfind("layer:", 0) == 0) {
    const std::string n = at.substr(6);
    if (n.empty() || n.size() > 6 || n.find_first_not_of("0123456789") != std::string::npos ||
        std::stoll(n) >= L)
      fail("convert", "--at ", at, ": the block index must be in [0, ", L, ")");
    out = {"transformer.h." + n + ".ln_1", "transformer.h." + n + ".ln_2"};
  }
  if (out.empty()) fail("convert", "--at '", at, "': use all, attn, mlp, final or layer:N");
  return out;
}

std::string versus_control(const PairedGap& g) {
  if (g.verdict == "not comparable") return "not comparable (no seed where both finished)";
  if (g.verdict == "one seed") return "one seed: no claim (" + fmt("%+.4f", g.d.mean) + ")";
  const std::string gap = gap_with_interval(g.d, g.ci);
  if (g.verdict == "not resolved") return "not resolved (" + gap + ")";
  return g.verdict + " by " + gap;  // better (interval below 0) or worse (above)
}

namespace {

// How each target kind's stats init is chosen (NormKind::stats_init_doc), in --to order.
std::string stats_init_docs(const std::vector<std::string>& targets) {
  std::string out;
  for (const auto& t : targets) out += (out.empty() ? "" : ", ") + norm_kind(t).stats_init_doc;
  return out;
}

struct Surgeon {
  SavedRun run;
  nn::StateDict weights;  // host tensors, as read from the file
  std::unique_ptr<Batcher> data;
  const ConvertOptions& o;
  Device dev = Device::CPU;

  // A copy of the checkpoint's model on the run's device (loaded on the host, then moved).
  std::unique_ptr<nn::GPT> fresh() const {
    auto m = std::make_unique<nn::GPT>(run.cfg.gpt(run.tok.size(), false));
    m->load_state_dict(weights);
    m->to(dev);
    return m;
  }
  // A batch of host ids, moved to the model's device.
  std::pair<Tensor, Tensor> batch(bool validation, Generator& g) {
    auto [x, y] = data->batch(run.cfg.batch, validation, &g);
    return {x.to(dev), y.to(dev)};
  }
  double eval(nn::GPT& m) {  // the same batches every time
    NoGradGuard no_grad;
    m.eval();
    Generator g(run.cfg.seed + 2);
    double s = 0;
    for (int64_t i = 0; i < o.eval_batches; ++i) {
      auto [x, y] = batch(true, g);
      s += m.loss(x, y).item();
    }
    return s / (double)o.eval_batches;
  }
  std::map<std::string, InputStats> measure(nn::GPT& m) {
    std::map<std::string, InputStats> st;
    std::vector<std::pair<nn::Norm*, int>> hooks;
    for (const auto& p : nn::norm_positions(m)) {
      auto norm = nn::norm_at(m, p);
      InputStats* s = &st[p];
      hooks.push_back({norm.get(), norm->register_forward_hook(
                                       [s](nn::Module&, const Tensor& x, const Tensor&) {
                                         const double n = (double)(x.numel() / x.size(-1));
                                         s->mean_square += sum(mean(square(x), {-1})).item();
                                         s->variance += sum(var(x, {-1}, 0)).item();
                                         s->tokens += (int64_t)n;
                                       })});
    }
    NoGradGuard no_grad;
    m.eval();
    Generator g(run.cfg.seed + 7);  // training text, not the batches evaluated on
    for (int64_t i = 0; i < o.stats_batches; ++i) m(batch(false, g).first);
    for (auto& [norm, id] : hooks) norm->remove_forward_hook(id);
    for (auto& [p, s] : st) s.mean_square /= (double)s.tokens, s.variance /= (double)s.tokens;
    return st;
  }
  // Replaces the layers at `positions`; returns each new layer's scalars.
  std::map<std::string, std::map<std::string, double>> operate(
      nn::GPT& m, const std::vector<std::string>& positions, const std::string& target,
      const std::string& init, const std::map<std::string, InputStats>& stats) {
    std::map<std::string, std::map<std::string, double>> set;
    NoGradGuard no_grad;
    for (const auto& p : positions) {
      auto old = nn::norm_at(m, p);
      NormOptions opt = old->options();
      opt.scale = o.scale;
      if (init == "stats")
        for (auto& [field, v] :
             stats_init(target, old->kind(), stats.at(p), old->channels(), o.scale))
          opt.set(field, v);
      auto n = std::make_shared<nn::Norm>(target, old->channels(), opt);
      n->to(dev);  // created on the host; copy_ below and the forward need the model's device
      if (n->weight.defined() && old->weight.defined()) Tensor(n->weight).copy_(old->weight);
      if (n->bias.defined() && old->bias.defined()) Tensor(n->bias).copy_(old->bias);
      nn::replace_norm(m, p, n);
      set[p] = n->scalars();
    }
    return set;
  }
  // K AdamW steps on `params`; the val loss every K/5 steps. With `tb_dir`, one TensorBoard
  // run there: loss/val at step 0 (right after surgery) and at every evaluation,
  // loss/train_step and optim/grad_norm (before clipping) at every step.
  std::vector<double> finetune(nn::GPT& m, const nn::NamedTensors& params, double after,
                               uint64_t seed, const std::string& tb_dir) {
    std::unique_ptr<TensorBoardWriter> tb;
    if (!tb_dir.empty()) {
      fs::create_directories(tb_dir);
      // An earlier convert's event files go, as a new train run's do (clear_run_files):
      // TensorBoard would draw them as this fine-tuning's curves.
      clear_run_files(tb_dir);
      tb = std::make_unique<TensorBoardWriter>(tb_dir);
      tb->graph(gpt_graph_def(m, run.cfg.batch));  // the norms after the surgery
      tb->scalar("loss/val", after, 0);
    }
    std::vector<double> curve;
    optim::AdamW opt(optim::single_group(params, 0.0), o.lr);
    Generator batches(seed);  // seed run.cfg.seed + 1: the run's own first training batches
    const int64_t every = std::max<int64_t>(1, o.steps / 5);
    for (int64_t k = 1; k <= o.steps; ++k) {
      m.train();
      auto [x, y] = batch(false, batches);
      Tensor loss = m.loss(x, y);
      opt.zero_grad();
      loss.backward();
      const double grad_norm = optim::clip_grad_norm(m.parameters(), 1.0);
      opt.step();
      if (tb) {
        tb->scalar("loss/train_step", loss.item(), k);
        tb->scalar("optim/grad_norm", grad_norm, k);
      }
      if (k % every == 0 || k == o.steps) {
        curve.push_back(eval(m));
        if (tb) tb->scalar("loss/val", curve.back(), k);
      }
    }
    return curve;
  }
};

nn::NamedTensors params_of(nn::GPT& m, const std::vector<std::string>& positions) {
  nn::NamedTensors out;
  for (const auto& p : positions)
    for (auto& [n, t] : nn::norm_at(m, p)->named_parameters()) out.push_back({p + "." + n, t});
  return out;
}

}  // namespace

namespace {

// The fine-tuning seeds: seed k's batches come from Generator(run seed + 1 + k).
uint64_t finetune_seed(const Surgeon& s, int k) { return s.run.cfg.seed + 1 + (uint64_t)k; }

double mean_of(const std::vector<SeedVal>& v) {
  std::vector<double> x;
  for (const SeedVal& s : v) x.push_back(s.val);
  return stats(x).mean;
}

// Fine-tunes copies of one model, norm parameters only and all parameters, on every seed:
// `make` gives a fresh copy (converted or not). The first seed's curves are kept.
void finetune_row(Surgeon& s, const ConvertOptions& o, const std::vector<std::string>& positions,
                  const std::function<std::unique_ptr<nn::GPT>()>& make, SurgeryRow& row) {
  for (int k = 0; k < o.seeds; ++k) {
    const uint64_t seed = finetune_seed(s, k);
    auto tb_dir = [&](const char* what) {
      if (!o.tensorboard) return std::string();
      return o.dir + "/runs/" + row.target + "-" + row.init + "-" + what +
             (k == 0 ? "" : "-seed" + std::to_string(seed));
    };
    auto norms = make();
    const auto curve_norms =
        s.finetune(*norms, params_of(*norms, positions), row.after, seed, tb_dir("norms"));
    auto all = make();
    const auto curve_all =
        s.finetune(*all, all->named_parameters(), row.after, seed, tb_dir("all"));
    row.norm_ft.push_back({seed, curve_norms.back()});
    row.all_ft.push_back({seed, curve_all.back()});
    if (k == 0) row.curve_norm_ft = curve_norms, row.curve_all_ft = curve_all;
  }
  row.after_norm_ft = mean_of(row.norm_ft);
  row.after_all_ft = mean_of(row.all_ft);
}

// Every target kind x init: operate on a fresh copy of the model, evaluate, fine-tune; then
// the control (the unconverted model, fine-tuned the same way) and each row's paired gap to it.
void operate_all(Surgeon& s, const ConvertOptions& o, const std::vector<std::string>& positions,
                 ConvertResult& res) {
  if (o.steps > 0) {
    res.control = {res.source_kind, "unconverted", res.before};
    finetune_row(
        s, o, positions, [&] { return s.fresh(); }, res.control);
    if (!o.quiet)
      std::printf(
          "  control (%s, unconverted): +%lld steps norms only %.4f, all %.4f (mean of %d)\n",
          res.source_kind.c_str(), (long long)o.steps, res.control.after_norm_ft,
          res.control.after_all_ft, o.seeds);
  }
  for (const auto& target : o.to)
    for (const auto& init : o.inits) {
      SurgeryRow row{target, init};
      auto m = s.fresh();
      row.scalars = s.operate(*m, positions, target, init, res.stats);
      row.after = s.eval(*m);
      if (o.steps > 0) {
        finetune_row(
            s, o, positions,
            [&] {
              auto c = s.fresh();
              s.operate(*c, positions, target, init, res.stats);
              return c;
            },
            row);
        row.vs_control_norm = paired_gap(row.norm_ft, res.control.norm_ft, false);
        row.vs_control_all = paired_gap(row.all_ft, res.control.all_ft, false);
      }
      if (!o.quiet)
        std::printf(
            "  -> %-7s %-7s init: right after %.4f, +%lld steps norms only %.4f, all %.4f\n",
            target.c_str(), init.c_str(), row.after, (long long)o.steps, row.after_norm_ft,
            row.after_all_ft);
      res.rows.push_back(row);
    }
}

// --per-layer: one position replaced at a time, no training.
void operate_per_layer(Surgeon& s, const ConvertOptions& o, nn::GPT& model, ConvertResult& res) {
  for (const auto& target : o.to)
    for (const auto& p : nn::norm_positions(model))
      for (const auto& init : o.inits) {
        auto m = s.fresh();
        s.operate(*m, {p}, target, init, res.stats);
        res.per_layer.push_back({target, p, init, s.eval(*m)});
      }
}

json convert_summary(const Surgeon& s, const ConvertOptions& o, nn::GPT& model,
                     const ConvertResult& res) {
  json rows = json::array(), per = json::array(), st = json::object();
  auto num = [](double x) { return std::isfinite(x) ? json(x) : json(); };
  auto by_seed = [&](const std::vector<SeedVal>& v) {
    json out = json::array();
    for (const SeedVal& x : v) out.push_back({{"seed", x.seed}, {"val", num(x.val)}});
    return out;
  };
  auto gap = [&](const PairedGap& g) {
    return json{{"mean", num(g.d.mean)},
                {"sd", num(g.d.sd)},
                {"seeds", g.d.n},
                {"verdict", versus_control(g)}};
  };
  auto row_json = [&](const SurgeryRow& r) {
    return json{{"target", r.target},
                {"init", r.init},
                {"after", num(r.after)},
                {"norm_ft", num(r.after_norm_ft)},
                {"all_ft", num(r.after_all_ft)},
                {"norm_ft_by_seed", by_seed(r.norm_ft)},
                {"all_ft_by_seed", by_seed(r.all_ft)},
                {"curve_norm_ft", r.curve_norm_ft},
                {"curve_all_ft", r.curve_all_ft}};
  };
  for (const auto& r : res.rows) {
    json j = row_json(r);
    if (o.steps > 0)
      j["vs_control"] = {{"norm_ft", gap(r.vs_control_norm)}, {"all_ft", gap(r.vs_control_all)}};
    rows.push_back(j);
  }
  for (const auto& r : res.per_layer)
    per.push_back({{"target", r.target},
                   {"position", r.position},
                   {"init", r.init},
                   {"after", num(r.after)}});
  for (const auto& [p, v] : res.stats)
    st[p] = {{"mean_square", v.mean_square}, {"variance", v.variance}};
  return {{"before", res.before},
          {"unigram", res.unigram},
          {"steps", o.steps},
          {"source", res.source_kind},
          {"seeds", o.seeds},
          {"rows", rows},
          {"control", o.steps > 0 ? row_json(res.control) : json()},
          {"per_layer", per},
          {"stats", st},
          {"positions", nn::norm_positions(model)},
          {"recipe", "checkpoint " + o.ckpt + " (step " + std::to_string(s.run.step) +
                         "); replaced: " + o.at + "; scale " + o.scale +
                         "; stats init: slope at 0 = 1/std of the layer input; "
                         "fine-tuning: AdamW lr " +
                         fmt("%g", o.lr) + ", " + std::to_string(o.steps) + " steps, " +
                         std::to_string(o.seeds) + (o.seeds == 1 ? " seed" : " seeds") +
                         "; val: " + std::to_string(o.eval_batches) + " batches"}};
}

std::string finetune_seeds_text(const Surgeon& s, const ConvertOptions& o) {
  const uint64_t first = finetune_seed(s, 0), last = finetune_seed(s, o.seeds - 1);
  return o.seeds == 1 ? "seed " + std::to_string(first)
                      : "seeds " + std::to_string(first) + ".." + std::to_string(last);
}

std::string convert_markdown(const Surgeon& s, const ConvertOptions& o,
                             const std::vector<std::string>& positions, const ConvertResult& res) {
  std::ostringstream md;
  md << "# normgrad convert: norm surgery\n\nCheckpoint `" << o.ckpt << "` (step " << s.run.step
     << ", " << res.source_kind << " at every position; `" << s.run.cfg.describe()
     << "`). Replaced: `" << o.at << "` (" << positions.size() << " layers), output scale `"
     << o.scale << "`; the affine weight (and bias, where both layers have one) carried over.\n\n"
     << "Val loss: mean over " << o.eval_batches << " fixed validation batches of "
     << s.run.cfg.batch << " x " << s.run.cfg.block_size << " tokens. Fine-tuning: " << o.steps
     << " AdamW steps (lr " << o.lr << " constant, no weight decay, grad clip 1) on training "
     << "batches, either the new norm layers' parameters only or all parameters, each from "
        "the just-converted model. Unigram baseline: "
     << fmt("%.4f", res.unigram) << ".\n\n"
     << "Initialisations. *default*: the kind's defaults (alpha0 0.5, beta0 = 1/alpha0^2, "
        "lambda0 2). *stats*: from the old layer's inputs on "
     << o.stats_batches
     << " training batches, so that the new layer's slope at 0 equals the old one's 1/std, "
        "std^2 = the mean over tokens of each token's "
     << (res.source_kind == "layernorm" ? "variance" : "mean square") << ": "
     << stats_init_docs(o.to) << ".\n\n"
     << "**Before surgery: " << fmt("%.4f", res.before) << "**\n\n"
     << "| to | init | right after (no training) | +" << o.steps << " steps, norm params only | +"
     << o.steps << " steps, all params |\n|---|---|---|---|---|\n";
  auto over_seeds = [](const std::vector<SeedVal>& v) {
    std::vector<double> x;
    for (const SeedVal& s : v) x.push_back(s.val);
    return pm(stats(x));
  };
  if (o.steps > 0)
    md << "| `" << res.source_kind << "` (control) | unconverted | " << fmt("%.4f", res.before)
       << " | " << over_seeds(res.control.norm_ft) << " | " << over_seeds(res.control.all_ft)
       << " |\n";
  for (const auto& r : res.rows)
    md << "| `" << r.target << "` | " << r.init << " | " << fmt("%.4f", r.after) << " | "
       << over_seeds(r.norm_ft) << " | " << over_seeds(r.all_ft) << " |\n";
  if (o.steps > 0) {
    md << "\nFine-tuned values: mean ± sample sd over " << o.seeds
       << (o.seeds == 1 ? " seed" : " seeds") << " (" << finetune_seeds_text(s, o)
       << "; a seed is the fine-tuning's batch order). The control is the unconverted model "
          "fine-tuned the same way: its own norm parameters at the same positions, or all "
          "parameters.\n\n## Converted vs the control, paired by seed\n\n"
       << "| to | init | norm params only | all params |\n|---|---|---|---|\n";
    for (const auto& r : res.rows)
      md << "| `" << r.target << "` | " << r.init << " | " << versus_control(r.vs_control_norm)
         << " | " << versus_control(r.vs_control_all) << " |\n";
    md << "\nRule (compare's paired gaps, report/include/normgrad/report/conclusions.h rules "
          "1-3): d = val(converted) - val(control) after the same fine-tuning on the same seed, "
          "mean d over the seeds with its 95% paired t interval and two-sided p; an interval "
          "that contains 0 is *not resolved* (the seeds cannot tell them apart); one seed gives "
          "no interval and no claim; otherwise the converted model is *better* (interval below "
          "0) or *worse* (above 0) by mean d.\n";
  }
  md << "\nThe values set (stats init), per position:\n\n| position | input mean square | "
        "input variance |";
  for (const auto& r : res.rows)
    if (r.init == "stats") md << " " << r.target << " |";
  md << "\n|---|---|---|";
  for (const auto& r : res.rows)
    if (r.init == "stats") md << "---|";
  md << "\n";
  for (const auto& p : positions) {
    md << "| " << p << " | " << fmt("%.4g", res.stats.at(p).mean_square) << " | "
       << fmt("%.4g", res.stats.at(p).variance) << " |";
    for (const auto& r : res.rows)
      if (r.init == "stats") {
        std::string v;
        for (const auto& [k, x] : r.scalars.at(p))
          v += (v.empty() ? "" : ", ") + k + " " + fmt("%.4g", x);
        md << " " << v << " |";
      }
    md << "\n";
  }
  if (!res.per_layer.empty()) {
    md << "\n## One layer at a time (--per-layer)\n\nVal loss with only that layer replaced, "
          "no training, minus the loss before surgery: which norms the model cannot do "
          "without.\n\n| to | position |";
    for (const auto& i : o.inits) md << " " << i << " init |";
    md << "\n|---|---|";
    for (size_t k = 0; k < o.inits.size(); ++k) md << "---|";
    md << "\n";
    for (size_t k = 0; k < res.per_layer.size(); k += o.inits.size()) {
      md << "| `" << res.per_layer[k].target << "` | " << res.per_layer[k].position << " |";
      for (size_t j = 0; j < o.inits.size(); ++j)
        md << " +" << fmt("%.4f", res.per_layer[k + j].after - res.before) << " |";
      md << "\n";
    }
  }
  if (o.tensorboard && o.steps > 0)
    md << "\nEvery fine-tuning is a TensorBoard run in `runs/<kind>-<init>-<norms|all>/` "
          "(the first seed; `...-seed<N>` the others; the control: `"
       << res.source_kind
       << "-unconverted-...`; loss/val from step 0 = right after surgery, loss/train_step, "
          "optim/grad_norm "
          "before clipping): `tensorboard --logdir "
       << o.dir << "/runs` overlays them.\n";
  return md.str();
}

}  // namespace

ConvertResult convert(const ConvertOptions& o) {
  if (o.steps < 0 || o.steps > 1000000) fail("convert", "--steps must be in [0, 10^6]");
  if (o.seeds < 1 || o.seeds > 1000) fail("convert", "--seeds must be in [1, 1000], got ", o.seeds);
  if (o.eval_batches < 1 || o.stats_batches < 1) fail("convert", "batch counts must be >= 1");
  if (!(o.lr > 0) || !std::isfinite(o.lr)) fail("convert", "--lr must be finite and > 0");
  if (o.scale != "one" && o.scale != "sqrtc") fail("convert", "--scale must be one or sqrtc");
  for (const auto& i : o.inits)
    if (i != "default" && i != "stats") fail("convert", "--init ", i, ": default or stats");
  const Device dev = parse_device(o.device);  // before any work: a missing GPU fails at once
  Surgeon s{read_saved_run(o.ckpt, false), {}, nullptr, o, dev};
  for (auto& [k, v] : s.run.file.tensors)
    if (k.rfind("optim.", 0) != 0) s.weights[k] = v;
  const auto ids = load_run_data(o.data.empty() ? s.run.cfg.data : o.data, s.run.tok).ids;
  // The run's own validation file (--val-data) when no --data replaces its corpus.
  const bool own_val = o.data.empty() && !s.run.cfg.val_data.empty();
  const TokenIds val_ids = own_val ? load_run_data(s.run.cfg.val_data, s.run.tok).ids : TokenIds();
  s.data = own_val
               ? std::make_unique<Batcher>(ids, val_ids, s.run.cfg.block_size, s.run.cfg.seed + 1)
               : std::make_unique<Batcher>(ids, s.run.cfg.block_size, s.run.cfg.seed + 1);
  ensure_writable_dir(o.dir, "convert");
  const FolderLock lock(o.dir, "convert");  // one report folder, one convert

  ConvertResult res;
  res.unigram = own_val ? unigram_val_loss(ids, val_ids, s.run.tok.size())
                        : unigram_val_loss(ids, s.run.tok.size());
  auto model = s.fresh();
  const auto positions = surgery_positions(*model, o.at);
  for (const auto& p : nn::norm_positions(*model)) {
    const std::string k = nn::norm_at(*model, p)->kind();
    if (std::find(positions.begin(), positions.end(), p) != positions.end() && k != "layernorm" &&
        k != "rmsnorm")
      fail("convert", p, " is a ", k, " layer: surgery replaces layernorm or rmsnorm");
    if (res.source_kind.empty() || res.source_kind == k) res.source_kind = k;
  }
  for (const auto& t : o.to) stats_init(t, "rmsnorm", {1, 1, 1}, 4, o.scale);  // checks names
  res.before = s.eval(*model);
  res.stats = s.measure(*model);
  if (!o.quiet)
    std::printf("convert: %s, %s norms at %zu positions (%s); val loss before %.4f\n",
                o.ckpt.c_str(), res.source_kind.c_str(), positions.size(), o.at.c_str(),
                res.before);
  retract_report(o.dir);  // the checkpoint and settings checked: the surgery starts now
  operate_all(s, o, positions, res);
  if (o.per_layer) operate_per_layer(s, o, *model, res);
  StagedReport staged(o.dir);  // no half report in o.dir at any point (staging.h)
  write_text(staged.file("summary.json"), convert_summary(s, o, *model, res).dump(2));
  const FigureSection figures =
      o.figures ? draw_figures("plot_surgery.py", staged.folder()) : figures_not_drawn();
  res.figures = figures.drawn;
  write_text(staged.file("report.md"), convert_markdown(s, o, positions, res) + figures.markdown);
  staged.publish();
  if (!o.quiet) std::printf("report: %s/report.md\n", o.dir.c_str());
  return res;
}

}  // namespace ngcli

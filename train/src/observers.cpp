#include "observers.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string_view>

#include "normgrad/train/files.h"
#include "normgrad/train/inspect.h"
#include "normgrad/train/model_graph.h"

namespace ngcli {
using json = nlohmann::json;
using namespace ng;

std::string fmt_duration(double s) {
  char b[32];
  if (s < 60)
    std::snprintf(b, sizeof b, "%.0fs", s);
  else
    std::snprintf(b, sizeof b, "%dm%02ds", (int)(s / 60), (int)s % 60);
  return b;
}

namespace {

// Every number in a probe record as a TensorBoard scalar with a tidy tag: arrays of objects
// that have a "name" are keyed by it, other arrays by index; nested keys join with '/'.
void log_probe_leaves(TensorBoardWriter& tb, const json& j, const std::string& tag, int64_t step) {
  if (j.is_number()) {
    tb.scalar(tag, j.get<double>(), step);
  } else if (j.is_object()) {
    for (auto& [k, v] : j.items()) {
      if (k == "name" || k == "step") continue;
      if (k == "scatter_x" || k == "scatter_y") {  // sampled norm inputs / outputs
        std::vector<double> xs;
        for (const auto& x : v)
          if (x.is_number()) xs.push_back(x.get<double>());
        tb.histogram(tag + (k == "scatter_x" ? "/input_sample" : "/output_sample"), xs, step);
        continue;
      }
      log_probe_leaves(tb, v, tag.empty() ? k : tag + "/" + k, step);
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      const json& e = j[i];
      const std::string key = e.is_object() && e.contains("name") && e["name"].is_string()
                                  ? e["name"].get<std::string>()
                                  : std::to_string(i);
      log_probe_leaves(tb, e, tag + "/" + key, step);
    }
  }
}

void log_probe_record(TensorBoardWriter& tb, const json& record, int64_t step) {
  log_probe_leaves(tb, record, "probe", step);
  tb.flush();
}

// The run's recipe as TensorBoard hyperparameters: every field a checkpoint saves (not the
// place group: where and how it runs), less the bookkeeping ones, which change no number of
// the run; with the kind options set. An unset optional (null) is left out.
TensorBoardWriter::HParams run_hparams(const TrainConfig& run) {
  json recipe = json::parse(run.to_json());
#define NG_DROP_BOOK(group, type, name, def, check, help) \
  if (std::string_view(#group) == "book") recipe.erase(#name);
  NG_TRAIN_FIELDS(NG_DROP_BOOK)
#undef NG_DROP_BOOK
  TensorBoardWriter::HParams out;
  for (const auto& [name, v] : recipe.items()) {
    if (v.is_boolean())
      out.push_back({name, v.get<bool>()});
    else if (v.is_number())
      out.push_back({name, v.get<double>()});
    else if (v.is_string())
      out.push_back({name, v.get<std::string>()});
  }
  return out;
}

}  // namespace

RunLog::RunLog(Session& s, int64_t last) : session_(s), last_(last), tty_(isatty(fileno(stdout))) {
  if (!s.lead) return;
  metrics_.open(s.metrics_path, std::ios::app);
  if (s.run.probe_interval > 0) {
    probes_ = std::make_unique<nn::Probes>(s.model);
    probes_log_.open(s.probes_path, std::ios::app);
  }
  if (!s.run.tensorboard) return;
  // The model graph once per run folder: TensorBoard keeps one graph per run and warns when a
  // later event file brings another. An event file already there is an earlier segment's (a
  // new run's --overwrite has removed an old run's), and the first segment that wrote event
  // files wrote the graph; a resume cannot change the model, so that graph holds. A resume of
  // segments run with --tensorboard false finds none and writes it.
  const auto files = run_files(s.run.out);
  const bool graph_written = std::any_of(files.begin(), files.end(), [](const std::string& f) {
    return f.rfind("events.out.tfevents.", 0) == 0;
  });
  tb_ = std::make_unique<TensorBoardWriter>(s.run.out);
  tb_->hparams_session_start(run_hparams(s.run));  // each segment: the same values
  // Each rank's forward pass sees its rows of the global batch.
  if (!graph_written) tb_->graph(gpt_graph_def(s.model, s.run.batch / s.ranks));
}

void RunLog::end(bool diverged, bool complete) {
  if (!tb_ || !(diverged || complete)) return;
  tb_->hparams_session_end(diverged ? TensorBoardWriter::SessionStatus::kFailure
                                    : TensorBoardWriter::SessionStatus::kSuccess);
}

void RunLog::append(std::ofstream& f, const std::string& line, const std::string& path) {
  f << line << "\n";
  f.flush();
  if (!f) fail("train", "cannot write ", path, " (disk full or folder no longer writable?)");
}

void RunLog::probes_before_update(int64_t step) {
  probes_->before_update();
  if (tb_)  // the distribution of every parameter's gradient, before clipping
    for (auto& [n, p] : session_.model.named_parameters())
      if (p.grad().defined()) tb_->histogram("grad/" + n, p.grad().to_vector(), step);
}

std::string RunLog::probes_after_update(int64_t step) {
  std::string record = probes_->after_update(step);
  append(probes_log_, record, session_.probes_path);
  if (!tb_) return record;
  // Every parameter's values after this step's update (the checkpoint of this step's).
  for (auto& [n, p] : session_.model.named_parameters())
    tb_->histogram("param/" + n, p.detach().to_vector(), step);
  log_probe_record(*tb_, json::parse(record), step);
  return record;
}

void RunLog::record(const json& m) {
  if (!session_.lead) return;
  const int64_t at = m["step"].get<int64_t>();
  append(metrics_, m.dump(), session_.metrics_path);
  if (!tb_) return;
  tb_->scalar("loss/train_step", m["loss"].get<double>(), at);
  tb_->scalar("optim/lr", m["lr"].get<double>(), at);
  tb_->scalar("optim/grad_norm", m["grad_norm"].get<double>(), at);
  tb_->scalar("speed/tokens_per_s", m["tokens_per_s"].get<double>(), at);
  tb_->scalar("speed/ms_per_iter", m["ms_per_iter"].get<double>(), at);
  tb_->scalar("speed/mfu", m["mfu"].get<double>(), at);
  if (m.contains("val_loss")) {
    tb_->scalar("loss/val", m["val_loss"].get<double>(), at);
    tb_->scalar("loss/train_eval", m["train_loss_eval"].get<double>(), at);
  }
  if (m.contains("val_loss") || at == last_) tb_->flush();
}

void RunLog::progress(const json& m, int64_t first_step, double seconds) {
  const TrainConfig& run = session_.run;
  const int64_t step = m["step"].get<int64_t>();
  if (session_.quiet || !(tty_ || step % run.log_interval == 0 || m.contains("val_loss"))) return;
  const double eta = (double)(run.max_steps - step) * seconds / (double)(step - first_step);
  std::printf("%sstep %5lld/%lld | loss %.4f | %6.0f tok/s | %.1f ms/iter | MFU %.1f%% | ETA %s",
              tty_ ? "\r" : "", (long long)step, (long long)run.max_steps, m["loss"].get<double>(),
              m["tokens_per_s"].get<double>(), m["ms_per_iter"].get<double>(),
              100.0 * m["mfu"].get<double>(), fmt_duration(eta).c_str());
  if (m.contains("val_loss")) std::printf(" | val %.4f", m["val_loss"].get<double>());
  if (m.contains("val_loss_full"))
    std::printf(" | val, whole split %.4f", m["val_loss_full"].get<double>());
  std::printf(tty_ && !m.contains("val_loss") ? "   " : "\n");
  std::fflush(stdout);
}

void RunLog::sample(int64_t step) {
  const TrainConfig& run = session_.run;
  if (run.sample_interval <= 0 || step % run.sample_interval != 0 || !session_.lead) return;
  Generator g(run.seed + 1000003 * (uint64_t)step);  // its own draws: training is unchanged
  const std::string text = sample_text(session_.model, session_.tok, {.tokens = 200}, g).text;
  if (!session_.quiet) std::printf("sample at step %lld:\n%s\n", (long long)step, text.c_str());
  if (tb_) tb_->text("sample", text, step);
}

}  // namespace ngcli

#include "session.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "normgrad/train/files.h"
#include "normgrad/train/manifest.h"
#include "normgrad/train/thread_choice.h"
#ifdef NG_HAS_CUDA
#include "normgrad/nccl.h"
#endif

namespace ngcli {
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace ng;

namespace {

// Keeps only metric lines with step <= `step` (a resumed run rewrites what follows).
void truncate_metrics(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::vector<std::string> keep;
  for (std::string line; std::getline(in, line);) {
    try {
      if (json::parse(line).value("step", (int64_t)0) <= step) keep.push_back(line);
    } catch (...) {
    }
  }
  in.close();
  std::string all;
  for (auto& l : keep) all += l + "\n";
  nn::write_file_atomic(path, std::vector<uint8_t>(all.begin(), all.end()));
}

std::string absolute(const std::string& path) {
  return fs::absolute(path).lexically_normal().string();
}

// What this run is and what it starts from: the command line's settings, or the saved run's
// on --resume; the data path stored absolute, so a run resumes (and eval/grads find its
// corpus) from anywhere. Then the device, the threads, the tokenizer and the data.
RunSource read_source(const TrainConfig& cfg, std::shared_ptr<dist::Communicator> comm) {
  RunSource src{cfg, comm, comm};
  TrainConfig& run = src.run;
  const int ranks = comm->size();
  const bool lead = comm->rank() == 0, quiet = cfg.quiet || !lead;
  if (!run.data.empty()) run.data = absolute(run.data);
  if (!run.val_data.empty()) run.val_data = absolute(run.val_data);
  const std::string ckpt = cfg.out + "/ckpt.safetensors";
  if (cfg.resume && !fs::exists(ckpt)) fail("train", "--resume: no checkpoint at ", ckpt);
  if (lead) {
    ensure_writable_dir(cfg.out, "train");  // before any work: a read-only --out fails now
    // One folder, one run: the lock before anything in it is read or written, so that two
    // runs never interleave their checkpoints, metrics or event files.
    src.lock = FolderLock(cfg.out, "train");
    if (!cfg.resume && !cfg.overwrite)
      if (const auto old = run_files(cfg.out); !old.empty()) {
        std::string names;
        for (const auto& n : old) names += (names.empty() ? "" : ", ") + n;
        fail("train", cfg.out, " holds the files of an earlier run (", names,
             "): --resume continues it, --overwrite replaces it, or choose another --out");
      }
  }
  if (cfg.resume) {
    src.saved = read_saved_run(ckpt, true);
    run = resumed_config(cfg, src.saved->cfg);
    if (cfg.given.count("data")) run.data = absolute(cfg.data);
    // --val-data may name the saved run's validation file at another path (its fingerprint
    // is checked below), but not add one to a run that validated on the last 10% of --data.
    if (cfg.given.count("val_data")) {
      if (src.saved->cfg.val_data.empty())
        fail("train", "--resume: --val-data ", cfg.val_data,
             " conflicts with the saved run's validation split (the last 10% of --data); drop "
             "the flag, or start a new run in another --out");
      run.val_data = absolute(cfg.val_data);
    }
    run.validate();
  }
  if (run.batch % ranks)  // the run's own batch (the saved one on --resume)
    fail("train", "--batch ", run.batch, " (the global batch) must be a multiple of the ", ranks,
         " ranks");
  src.dev = parse_device(run.device);
  // Tensors travel over NCCL between GPUs (bootstrapped over comm), over comm otherwise.
#ifdef NG_HAS_CUDA
  if (src.dev == Device::CUDA && ranks > 1) src.tensor_comm = dist::nccl(comm);
#endif
  if (run.threads > 0)
    set_num_threads(run.threads);
  else if (ranks > 1)  // the cores of this host shared by its ranks
    set_num_threads(std::max(1, available_cores() / comm->local_size()));
  else  // --threads 0: measured for the model once it is known (open_session, thread_choice.h)
    set_num_threads(available_cores());
  if (!quiet) std::printf("%s\n", device_summary(src.dev).c_str());

  // The tokenizer: the saved run's on --resume, the starting checkpoint's with --init-from,
  // else a new one (characters of the text, --tokenizer's BPE, or ids of a token file).
  if (!src.saved && !run.init_from.empty()) {
    run.init_from = absolute(run.init_from);
    src.start = read_saved_run(run.init_from, false);
    run = init_from_config(run, src.start->cfg);
    run.validate();
  }
  src.tok = src.saved   ? src.saved->tok
            : src.start ? src.start->tok
                        : new_run_tokenizer(run.data, run.tokenizer, run.vocab_size, run.val_data);
  const auto& meta = src.saved ? src.saved->file.metadata : nn::Metadata{};
  const auto saved_meta = [&](const char* key) { return meta.count(key) ? meta.at(key) : ""; };
  src.corpus = load_run_data(run.data, src.tok, saved_meta("data_fingerprint"));
  if (!run.val_data.empty())
    src.val_corpus =
        load_run_data(run.val_data, src.tok, saved_meta("val_data_fingerprint"), "--val-data");
  check_fits_memory(run, src.tok.size(), "this run");
  return src;
}

// --resume: the weights, optimizer state, step and both random streams of the checkpoint;
// a new run: nothing of an earlier run in this folder may pass for this one's.
void restore(Session& s, std::optional<SavedRun>& saved) {
  if (saved) {
    optim::load_checkpoint(saved->file, s.ckpt, s.model, &s.opt);
    s.step = saved->step;
    s.data.generator().set_state(saved->file.metadata.at("data_rng"));
    s.model.dropout_generator().set_state(saved->file.metadata.at("dropout_rng"));
    s.good_step = s.step;
    saved.reset();  // the file's tensors are in the model and optimizer now
    if (s.lead) {
      truncate_metrics(s.metrics_path, s.step);
      truncate_metrics(s.probes_path, s.step);
    }
    if (!s.quiet) std::printf("resumed from %s at step %lld\n", s.ckpt.c_str(), (long long)s.step);
  } else if (s.lead) {
    // Checked before setup: the folder held no run, or --overwrite said to replace it. Its
    // files go now, after the new run's settings and data proved usable; old TensorBoard
    // event files too, or the viewer would draw the old run's curves as this one's.
    clear_run_files(s.run.out);
  }
}

// --init-from (fine-tuning): the weights, not the optimizer state, of the checkpoint.
void initialise_from(Session& s, std::optional<SavedRun>& start) {
  if (!start) return;
  nn::StateDict weights;
  for (auto& [k, v] : start->file.tensors)
    if (k.rfind("optim.", 0) != 0) weights[k] = v;
  try {
    s.model.load_state_dict(weights);
  } catch (const Error& e) {
    fail(
        "train", "--init-from ", s.run.init_from,
        " does not fit this run's model (the model flags must match the checkpoint's): ", e.what());
  }
  start.reset();
  if (!s.quiet) std::printf("initialised from %s\n", s.run.init_from.c_str());
}

void print_model(const Session& s) {
  const TrainConfig& run = s.run;
  std::printf(
      "model: %lld parameters, norms %s/%s/%s, vocab %lld, %lld train / %lld val tokens%s\n",
      (long long)s.model.num_parameters(), s.model.blocks()[0]->ln_1->kind().c_str(),
      s.model.blocks()[0]->ln_2->kind().c_str(), s.model.ln_f->kind().c_str(),
      (long long)s.tok.size(), (long long)s.data.train_tokens(), (long long)s.data.val_tokens(),
      run.precision == "bf16"   ? "; matrix products with bf16 operands"
      : run.precision != "tf32" ? ""
      : s.dev == Device::CUDA   ? "; matrix products with tf32 operands (TF32 tensor cores)"
                                : "; matrix products with tf32 operands (emulated on the CPU: "
                                  "rounded operands, float32 sgemm)");
}

// The run's batches: --data's first 90% and last 10%, or all of --data and all of --val-data.
Batcher run_batcher(RunSource& src) {
  const TrainConfig& run = src.run;
  if (src.val_corpus)
    return Batcher(src.corpus.ids, src.val_corpus->ids, run.block_size, run.seed + 1);
  return Batcher(src.corpus.ids, run.block_size, run.seed + 1);
}

}  // namespace

Session::Session(RunSource& src)
    : lock(std::move(src.lock)),
      run(src.run),
      comm(src.comm),
      tensor_comm(src.tensor_comm),
      ranks(src.comm->size()),
      rank(src.comm->rank()),
      lead(rank == 0),
      quiet(run.quiet || !lead),
      dev(src.dev),
      ckpt(run.out + "/ckpt.safetensors"),
      metrics_path(run.out + "/metrics.jsonl"),
      probes_path(run.out + "/probes.jsonl"),
      tok(src.tok),
      fingerprint(src.corpus.fingerprint),
      val_fingerprint(src.val_corpus ? src.val_corpus->fingerprint : ""),
      data(run_batcher(src)),
      // the model draws its weights only when none are loaded next
      model(run.gpt(tok.size(), !src.saved && !src.start)),
      opt(optim::default_groups(model.named_parameters(), run.weight_decay, run.scalar_lr_scale),
          run.lr, {.beta1 = run.beta1, .beta2 = run.beta2}),
      averager(tensor_comm) {}

Tensor Session::my_rows(const Tensor& t) const {
  const int64_t shard = run.batch / ranks;
  return ranks == 1 ? t : t.narrow(0, rank * shard, shard).contiguous();
}

double Session::global_mean(double local) const { return comm->all_reduce_sum(local) / ranks; }

std::unique_ptr<Session> open_session(const TrainConfig& cfg,
                                      std::shared_ptr<dist::Communicator> comm) {
  cfg.validate();
  if (!comm) comm = dist::local();
  RunSource src = read_source(cfg, comm);
  auto s = std::make_unique<Session>(src);
  s->model.to(s->dev);
  // the thread count the saved run used (its manifest), for --threads 0 below
  const int saved_threads = src.saved && src.saved->file.metadata.count("threads")
                                ? std::atoi(src.saved->file.metadata.at("threads").c_str())
                                : 0;
  restore(*s, src.saved);
  initialise_from(*s, src.start);
  // Every rank starts from rank 0's weights (equal anyway: same seed or file), and draws its
  // own dropout masks (rank 0 keeps the run's stream; the others a stream of their own).
  TensorList state = s->model.parameters();
  for (auto& [n, b] : s->model.named_buffers()) state.push_back(b);
  s->tensor_comm->broadcast(state);
  if (s->rank > 0)
    s->model.dropout_generator() = Generator(
        s->run.seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(s->rank + 1)) ^ (uint64_t)s->step);
  if (!s->quiet) print_model(*s);
  if (s->run.threads == 0 && s->ranks == 1 && s->dev == Device::CPU) {
    // --threads 0: the count measured for this model (the saved run's on --resume)
    const ThreadPick pick = pick_threads(s->run, s->tok.size(), saved_threads);
    set_num_threads(pick.threads);
    if (!s->quiet) std::printf("threads: %s\n", pick.how.c_str());
  }
  return s;
}

double eval_loss(Session& s, bool val) {
  NoGradGuard no_grad;
  s.model.eval();
  // Fixed offsets: curves of different seeds and variants see the same text (the run's seed
  // used to choose them, which moved the estimate with it).
  Generator g(val ? 0x5a17'da7a'0001ULL : 0x5a17'da7a'0002ULL);
  TensorList losses;  // read back together: one wait for a GPU, not one per batch
  for (int64_t i = 0; i < s.run.eval_iters; ++i) {
    auto [x, y] = s.data.batch(s.run.batch, val, &g);
    losses.push_back(
        s.model.loss(s.my_rows(x).to(s.dev), s.my_rows(y).to(s.dev)).to(DType::F64).reshape({1}));
  }
  double sum = 0;
  for (double l : cat(losses, 0).to_vector()) sum += l;
  s.model.train();
  return s.global_mean(sum / (double)s.run.eval_iters);
}

double full_val_loss(Session& s) {
  NoGradGuard no_grad;
  s.model.eval();
  // Windows are dealt to the ranks round-robin in chunks; per-token sums and counts are
  // all-reduced.
  const int64_t n = s.data.val_windows(), chunk = std::max<int64_t>(s.run.batch, 64);
  TensorList sums;  // read back together: one wait for a GPU
  double count = 0;
  for (int64_t first = s.rank * chunk; first < n; first += chunk * s.ranks) {
    const int64_t k = std::min(chunk, n - first);
    auto [x, y] = s.data.val_window_batch(first, k);
    const double tokens = (double)(k * s.run.block_size);
    sums.push_back((s.model.loss(x.to(s.dev), y.to(s.dev)).to(DType::F64) * tokens).reshape({1}));
    count += tokens;
  }
  double sum = 0;
  if (!sums.empty())
    for (double l : cat(sums, 0).to_vector()) sum += l;
  s.model.train();
  return s.comm->all_reduce_sum(sum) / s.comm->all_reduce_sum(count);
}

std::string first_non_finite(const nn::NamedTensors& params, bool gradients) {
  std::string first;
  int bad = 0;
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    const Tensor t = gradients ? it->second.grad() : it->second;
    if (t.defined() && !all_finite(t) && ++bad == 1) first = it->first;
  }
  if (bad == 0) return "";
  return first + " (" + std::to_string(bad) + " of " + std::to_string(params.size()) +
         " parameters, checked from the output back to the input)";
}

std::string unsaveable(Session& s) {
  const std::string bad = first_non_finite(s.model.named_parameters(), false);
  if (!bad.empty()) return "after the update, non-finite parameter value in " + bad;
  // finite weights can still overflow the forward pass
  NoGradGuard no_grad;
  s.model.eval();
  Generator g(s.run.seed + 2);
  auto [x, y] = s.data.batch(s.run.batch, true, &g);
  const double l =
      s.global_mean(s.model.loss(s.my_rows(x).to(s.dev), s.my_rows(y).to(s.dev)).item());
  s.model.train();
  return std::isfinite(l)
             ? ""
             : "after the update, the loss on a validation batch is " + std::to_string(l);
}

void save_checkpoint(Session& s, int64_t at) {
  nn::Metadata meta = {{"config", s.run.to_json()},
                       {"step", std::to_string(at)},
                       {"data_rng", s.data.generator().state()},
                       {"dropout_rng", s.model.dropout_generator().state()},
                       {"norm", s.run.norm},
                       {"data_fingerprint", s.fingerprint},
                       {"format", "normgrad-gpt-1"},
                       {"ranks", std::to_string(s.ranks)}};
  if (!s.val_fingerprint.empty()) meta["val_data_fingerprint"] = s.val_fingerprint;
  for (auto& [k, v] : reproducibility_manifest(s.dev)) meta[k] = v;  // what wrote the file
  s.tok.to_metadata(meta);
  if (s.lead) optim::save_checkpoint(s.ckpt, s.model, &s.opt, meta);
  s.comm->barrier();  // the file exists before any rank goes on
  s.good_step = at;
}

}  // namespace ngcli

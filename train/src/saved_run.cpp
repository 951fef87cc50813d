#include "normgrad/train/saved_run.h"

#include <unistd.h>

#include <cstdio>

#include "normgrad/error.h"
#include "normgrad/ops.h"
#include "normgrad/random.h"

namespace ngcli {
using ng::fail;

double estimated_training_bytes(const TrainConfig& c, int64_t vocab) {
  // In double: the point is to refuse sizes whose products would overflow an int64.
  const double C = (double)c.n_embd, L = (double)c.n_layer, T = (double)c.block_size;
  const double V = (double)vocab, B = (double)c.batch, H = (double)c.n_head;
  const double params = V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C;
  // per token and layer: ~40 saved vectors of width C (q, k, v, norms, MLP 4C in and out,
  // residuals, their gradients) and 3 attention rows of length T per head; logits 3 x V
  const double activations = B * T * (L * (40 * C + 3 * H * T) + 3 * V + 4 * C);
  return 4.0 * (4 * params + activations);  // float32: value, gradient, AdamW m and v
}

void check_fits_memory(const TrainConfig& c, int64_t vocab, const std::string& what) {
  const double need = estimated_training_bytes(c, vocab);
  const double have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGE_SIZE);
  if (have > 0 && need > have) {
    char b[200];
    std::snprintf(b, sizeof b, "about %.3g GiB, more than this machine's %.1f GiB",
                  need / 1073741824.0, have / 1073741824.0);
    fail("config", what, ": n_layer ", c.n_layer, ", n_embd ", c.n_embd, ", block_size ",
         c.block_size, ", batch ", c.batch, " and a vocabulary of ", vocab, " would need ", b,
         " (parameters, gradients, AdamW state and one step's activations)");
  }
}

namespace {
// Runs `parse`; an error becomes one naming the file and the metadata field.
template <class F>
auto field(const std::string& path, const char* name, F&& parse) {
  try {
    return parse();
  } catch (const std::exception& e) {
    fail("checkpoint", path, ": metadata '", name, "': ", e.what());
  }
}
}  // namespace

SavedRun read_saved_run(const std::string& path, bool training) {
  SavedRun r;
  r.path = path;
  r.file = ng::nn::load_safetensors(path);
  const auto& meta = r.file.metadata;
  std::vector<const char*> required = {"config"};
  if (training)
    for (const char* k : {"step", "data_rng", "dropout_rng"}) required.push_back(k);
  for (const char* k : required)
    if (!meta.count(k))
      fail("checkpoint", path, " has no '", k,
           "' metadata: not a checkpoint written by normgrad train");

  r.cfg = field(path, "config", [&] {
    TrainConfig c = TrainConfig::from_json(meta.at("config"));
    c.validate();
    return c;
  });
  if (!meta.count("vocab") && !meta.count("tokenizer"))
    fail("checkpoint", path,
         " has no 'vocab' or 'tokenizer' metadata: not a checkpoint written "
         "by normgrad train or import");
  r.tok = field(path, meta.count("tokenizer") ? "tokenizer" : "vocab",
                [&] { return Tokenizer::from_metadata(meta); });
  field(path, "config", [&] {
    check_fits_memory(r.cfg, r.tok.size(), "the saved model");
    return 0;
  });
  if (meta.count("step")) {
    const std::string& s = meta.at("step");
    const bool digits = !s.empty() && s.size() <= 18 && s.find_first_not_of("0123456789") == s.npos;
    r.step = digits ? std::stoll(s) : -1;
    if (r.step < 0 || r.step > r.cfg.max_steps)
      fail("checkpoint", path, ": metadata 'step' is '", s.substr(0, 40),
           "', not an integer in [0, max_steps = ", r.cfg.max_steps, "]");
  }
  for (const char* k : {"data_rng", "dropout_rng"})
    if (meta.count(k))
      field(path, k, [&] {
        ng::Generator g;
        g.set_state(meta.at(k));
        return 0;
      });
  r.has_training_state = meta.count("step") && meta.count("data_rng") && meta.count("dropout_rng");
  for (const auto& [name, t] : r.file.tensors)
    if (!ng::all_finite(t))
      fail("checkpoint", path, ": tensor '", name,
           "' holds inf or NaN (a checkpoint of a diverged run?)");
  return r;
}

std::unique_ptr<ng::nn::GPT> saved_model(const SavedRun& r) {
  auto model = std::make_unique<ng::nn::GPT>(r.cfg.gpt(r.tok.size(), false));
  ng::nn::StateDict sd;
  for (const auto& [k, v] : r.file.tensors)
    if (k.rfind("optim.", 0) != 0) sd[k] = v;
  model->load_state_dict(sd);
  model->eval();
  return model;
}

}  // namespace ngcli

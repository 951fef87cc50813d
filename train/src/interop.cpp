#include "normgrad/train/interop.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "normgrad/error.h"
#include "normgrad/nn/hf_gpt2.h"
#include "normgrad/optim.h"
#include "normgrad/train/files.h"
#include "normgrad/train/saved_run.h"
#include "normgrad/train/tokenizer.h"
#include "normgrad/train/train.h"

namespace ngcli {
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace ng;

namespace {

bool has_tokenizer_files(const std::string& dir) {
  std::error_code ec;
  return (fs::is_regular_file(dir + "/vocab.json", ec) &&
          fs::is_regular_file(dir + "/merges.txt", ec)) ||
         fs::is_regular_file(dir + "/tokenizer.json", ec);
}

}  // namespace

ImportResult import_hf(const std::string& hf_dir, const std::string& out_dir, bool quiet) {
  const auto t0 = std::chrono::steady_clock::now();
  ImportResult res;
  nn::HFGPT2 hf = nn::read_hf_gpt2(hf_dir);
  TrainConfig cfg = TrainConfig::from_gpt(hf.config);
  cfg.vocab_size = hf.config.vocab;
  const Tokenizer tok = has_tokenizer_files(hf_dir) ? Tokenizer::bpe(Gpt2Bpe::from_folder(hf_dir))
                                                    : Tokenizer::ids(hf.config.vocab);
  if (tok.size() != hf.config.vocab)
    fail("import", hf_dir, ": the tokenizer has ", tok.size(),
         " tokens, the model's vocab_size is ", hf.config.vocab, " (normgrad needs them equal)");
  if (tok.kind() == "gpt2-bpe") cfg.tokenizer = fs::absolute(hf_dir).lexically_normal().string();
  // The saved batch size is what grads and fine-tuning use by default: the largest <= 12
  // whose training memory fits this machine.
  for (cfg.batch = 12; cfg.batch > 1; cfg.batch /= 2) {
    try {
      check_fits_memory(cfg, tok.size(), "import");
      break;
    } catch (const Error&) {
    }
  }
  cfg.validate();
  check_fits_memory(cfg, tok.size(), "the imported model");
  nn::GPT model(cfg.gpt(tok.size(), false));
  model.load_state_dict(hf.weights);  // strict: every name and shape must match
  hf.weights.clear();
  ensure_writable_dir(out_dir, "import");
  nn::Metadata meta = {{"config", cfg.to_json()},
                       {"norm", cfg.norm},
                       {"format", "normgrad-gpt-1"},
                       {"imported_from", fs::absolute(hf_dir).lexically_normal().string()}};
  tok.to_metadata(meta);
  res.ckpt = out_dir + "/ckpt.safetensors";
  optim::save_checkpoint(res.ckpt, model, nullptr, meta);
  res.parameters = model.num_parameters();
  res.batch = cfg.batch;
  res.tokenizer = tok.kind();
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!quiet) {
    std::printf(
        "import: %s -> %s: %lld parameters, %lld layers x %lld heads x %lld, %lld positions, "
        "vocab %lld (%s), gelu %s, norms %s; %.1f s\n",
        hf_dir.c_str(), res.ckpt.c_str(), (long long)res.parameters, (long long)cfg.n_layer,
        (long long)cfg.n_head, (long long)cfg.n_embd, (long long)cfg.block_size,
        (long long)tok.size(), tok.kind().c_str(), cfg.gelu.c_str(), cfg.norm.c_str(), res.seconds);
    if (!hf.notes.empty()) std::printf("  note: %s\n", hf.notes.c_str());
  }
  return res;
}

void export_hf(const std::string& ckpt, const std::string& hf_dir, bool quiet) {
  SavedRun run = read_saved_run(ckpt, false);
  nn::GPT model(run.cfg.gpt(run.tok.size(), false));
  nn::StateDict weights;
  for (auto& [k, v] : run.file.tensors)
    if (k.rfind("optim.", 0) != 0) weights[k] = v;
  model.load_state_dict(weights);
  ensure_writable_dir(hf_dir, "export");
  json extra = {{"normgrad_tokenizer", run.tok.kind()}};
  if (run.tok.kind() == "chars") {
    nn::Metadata m;
    run.tok.to_metadata(m);
    extra["normgrad_vocab_chars"] = m.at("vocab");
  }
  nn::write_hf_gpt2(model, hf_dir, extra.dump());
  if (const Gpt2Bpe* bpe = run.tok.bpe_model()) {  // GPT-2's own tokenizer files
    json vocab = json::object();
    for (int64_t i = 0; i < bpe->size(); ++i) vocab[bpe->token(i)] = i;
    const std::string v = vocab.dump();
    nn::write_file_atomic(hf_dir + "/vocab.json", std::vector<uint8_t>(v.begin(), v.end()));
    std::string merges = "#version: 0.2\n";
    for (const auto& m : bpe->merges()) merges += m + "\n";
    nn::write_file_atomic(hf_dir + "/merges.txt",
                          std::vector<uint8_t>(merges.begin(), merges.end()));
  }
  if (!quiet) {
    bool gpt2 = true;
    for (const auto& p : nn::norm_positions(model))
      if (nn::norm_at(model, p)->kind() != "layernorm") gpt2 = false;
    std::printf(
        "export: %s -> %s/{config.json,model.safetensors%s}: %s\n", ckpt.c_str(), hf_dir.c_str(),
        run.tok.bpe_model() ? ",vocab.json,merges.txt" : "",
        gpt2 && !run.cfg.embed_scale
            ? "a GPT-2 model (GPT2LMHeadModel.from_pretrained loads it)"
            : "GPT-2's layout with normgrad's norm parameters (config.json: normgrad_norms)");
  }
}

}  // namespace ngcli

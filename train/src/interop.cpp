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

// GPT-2's tokenizer files: what transformers reads beside the model, and what normgrad's
// export writes for a GPT-2 BPE model (and so the only files it ever removes).
const char* const kBpeFiles[] = {"vocab.json", "merges.txt"};
constexpr uint64_t kMaxConfigBytes = 16u << 20;

bool has_tokenizer_files(const std::string& dir) {
  std::error_code ec;
  return (fs::is_regular_file(dir + "/vocab.json", ec) &&
          fs::is_regular_file(dir + "/merges.txt", ec)) ||
         fs::is_regular_file(dir + "/tokenizer.json", ec);
}

// DIR/config.json as JSON; null when it is missing or not JSON (`what` names the command).
json read_config_json(const std::string& dir, const char* what) {
  std::error_code ec;
  if (!fs::is_regular_file(dir + "/config.json", ec)) return nullptr;
  return json::parse(read_regular_file(dir + "/config.json", kMaxConfigBytes, what), nullptr,
                     false);
}

// A folder normgrad's export wrote says which tokenizer travels with its model.
bool is_normgrad_export(const json& cfg) {
  return cfg.is_object() && cfg.contains("normgrad_tokenizer");
}

// FNV-1a of the whole tokenizer (tokens, merges, add_prefix_space): import checks that the
// files beside the model are the ones it was exported with.
std::string bpe_fingerprint(const Gpt2Bpe& bpe) { return corpus_fingerprint(bpe.to_json()); }
bool bpe_add_prefix_space(const Gpt2Bpe& bpe) {
  return json::parse(bpe.to_json())["add_prefix_space"].get<bool>();
}

// What config.json records of the tokenizer (export): its kind, the characters of a
// character vocabulary, and a BPE's fingerprint and add_prefix_space (vocab.json and
// merges.txt cannot hold it).
json tokenizer_fields(const Tokenizer& tok) {
  json f = {{"normgrad_tokenizer", tok.kind()}};
  if (tok.kind() == "chars") {
    nn::Metadata m;
    tok.to_metadata(m);
    f["normgrad_vocab_chars"] = m.at("vocab");
  } else if (const Gpt2Bpe* bpe = tok.bpe_model()) {
    f["normgrad_tokenizer_fingerprint"] = bpe_fingerprint(*bpe);
    f["normgrad_bpe_add_prefix_space"] = bpe_add_prefix_space(*bpe);
  }
  return f;
}

// The tokenizer a normgrad export's config.json names (import): its characters, or
// vocab.json + merges.txt checked against the recorded fingerprint, or plain ids.
Tokenizer exported_tokenizer(const std::string& dir, const json& cfg, int64_t vocab) {
  const std::string path = dir + "/config.json";
  const json& kind = cfg["normgrad_tokenizer"];
  if (kind == "ids") return Tokenizer::ids(vocab);
  if (kind == "chars") {
    const json& chars = cfg.contains("normgrad_vocab_chars") ? cfg["normgrad_vocab_chars"] : json();
    if (!chars.is_string())
      fail("import", path, ": normgrad_tokenizer is chars, but normgrad_vocab_chars (the ",
           "characters) is ", chars.is_null() ? "missing" : "not a string");
    try {
      return Tokenizer::chars(CharTokenizer::from_vocab_string(chars.get<std::string>()));
    } catch (const Error& e) {
      fail("import", path, ": normgrad_vocab_chars: ", e.what());
    }
  }
  if (kind != "gpt2-bpe")
    fail("import", path, ": normgrad_tokenizer ", kind.dump(), " is not chars, gpt2-bpe or ids");
  std::error_code ec;
  for (const char* f : kBpeFiles)
    if (!fs::is_regular_file(dir + "/" + f, ec))
      fail("import", dir, ": config.json names a GPT-2 BPE tokenizer, but ", f, " is missing");
  Gpt2Bpe bpe = Gpt2Bpe::from_files(dir + "/vocab.json", dir + "/merges.txt");
  const json prefix = cfg.contains("normgrad_bpe_add_prefix_space")
                          ? cfg["normgrad_bpe_add_prefix_space"]
                          : json(false);
  if (!prefix.is_boolean())
    fail("import", path, ": normgrad_bpe_add_prefix_space must be true or false");
  if (prefix.get<bool>()) {  // not in GPT-2's two files
    json j = json::parse(bpe.to_json());
    j["add_prefix_space"] = true;
    bpe = Gpt2Bpe::from_json(j.dump(), path);
  }
  if (cfg.contains("normgrad_tokenizer_fingerprint")) {  // exports before it have none
    const json& want = cfg["normgrad_tokenizer_fingerprint"];
    if (want != bpe_fingerprint(bpe))
      fail("import", dir, ": vocab.json + merges.txt are not the tokenizer the model was ",
           "exported with (their fingerprint ", bpe_fingerprint(bpe), ", config.json's ",
           want.dump(), ")");
  }
  return Tokenizer::bpe(std::move(bpe));
}

// Tokenizer files in DIR that exporting a model with tokenizer `tok` does not write and must
// remove, or they would pass for its tokenizer: those of an earlier normgrad export (its
// config.json says so). Files of unknown origin are not deleted; the export is refused.
std::vector<std::string> stale_tokenizer_files(const std::string& dir, const Tokenizer& tok) {
  std::vector<std::string> stale;
  if (tok.bpe_model()) return stale;  // it writes both
  std::error_code ec;
  std::string names;
  for (const char* f : kBpeFiles)
    if (fs::exists(dir + "/" + f, ec)) {
      stale.push_back(dir + "/" + f);
      names += (names.empty() ? "" : " and ") + std::string(f);
    }
  if (!stale.empty() && !is_normgrad_export(read_config_json(dir, "export")))
    fail("export", dir, " holds ", names, ", a tokenizer the ", tok.kind(),
         " model exported there does not use, and no normgrad export wrote ",
         stale.size() > 1 ? "them" : "it",
         " (config.json is missing or not a normgrad export's): remove ",
         stale.size() > 1 ? "them" : "it", " or export into another folder");
  return stale;
}

void write_bpe_files(const Gpt2Bpe& bpe, const std::string& dir) {
  json vocab = json::object();
  for (int64_t i = 0; i < bpe.size(); ++i) vocab[bpe.token(i)] = i;
  const std::string v = vocab.dump();
  nn::write_file_atomic(dir + "/vocab.json", std::vector<uint8_t>(v.begin(), v.end()));
  std::string merges = "#version: 0.2\n";
  for (const auto& m : bpe.merges()) merges += m + "\n";
  nn::write_file_atomic(dir + "/merges.txt", std::vector<uint8_t>(merges.begin(), merges.end()));
}

}  // namespace

ImportResult import_hf(const std::string& hf_dir, const std::string& out_dir, bool quiet) {
  const auto t0 = std::chrono::steady_clock::now();
  ImportResult res;
  nn::HFGPT2 hf = nn::read_hf_gpt2(hf_dir);
  TrainConfig cfg = TrainConfig::from_gpt(hf.config);
  cfg.vocab_size = hf.config.vocab;
  // A normgrad export names its tokenizer; another GPT-2 folder has one when it has the files.
  const json folder_cfg = read_config_json(hf_dir, "import");
  const Tokenizer tok = is_normgrad_export(folder_cfg)
                            ? exported_tokenizer(hf_dir, folder_cfg, hf.config.vocab)
                        : has_tokenizer_files(hf_dir) ? Tokenizer::bpe(Gpt2Bpe::from_folder(hf_dir))
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
  // Before anything is written: the old config.json tells whose tokenizer files are there.
  const std::vector<std::string> stale = stale_tokenizer_files(hf_dir, run.tok);
  // Every file is replaced atomically, config.json last: it names the tokenizer (and a BPE's
  // fingerprint), so an export cut short leaves a folder that imports as before or fails.
  const Gpt2Bpe* bpe = run.tok.bpe_model();
  if (bpe) write_bpe_files(*bpe, hf_dir);
  for (const auto& f : stale) {
    std::error_code ec;
    if (!fs::remove(f, ec) && ec) fail("export", "cannot remove the stale ", f, ": ", ec.message());
  }
  nn::write_hf_gpt2(model, hf_dir, tokenizer_fields(run.tok).dump());
  if (!quiet) {
    const json written = read_config_json(hf_dir, "export");
    const bool gpt2 = written.value("model_type", "") == "gpt2";
    std::printf("export: %s -> %s/{config.json,model.safetensors%s}: %s; tokenizer %s%s\n",
                ckpt.c_str(), hf_dir.c_str(), bpe ? ",vocab.json,merges.txt" : "",
                gpt2 ? "a GPT-2 model (GPT2LMHeadModel.from_pretrained loads it)"
                     : "not a GPT-2 (model_type normgrad_gpt: transformers refuses it, normgrad "
                       "import reads it)",
                run.tok.kind().c_str(),
                run.tok.kind() == "chars" ? " (its characters in config.json)" : "");
    for (const auto& f : stale)
      std::printf("  removed %s (an earlier export's tokenizer, not this model's)\n", f.c_str());
    if (bpe && bpe_add_prefix_space(*bpe))
      std::printf(
          "  note: the tokenizer adds a prefix space: GPT2Tokenizer needs "
          "add_prefix_space=True\n");
  }
}

}  // namespace ngcli

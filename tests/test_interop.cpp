// GPT-2 interop: Hugging Face folders in and out, GPT-2's byte-level BPE, nanoGPT and llm.c
// token files. The reference side is the real transformers / tokenizers (tests/
// hf_reference.py, in the venv tools/test.sh builds from PyPI over Debian's PyTorch and
// exports as NG_HF_PYTHON); without it those cases print why they skipped.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "cli_helpers.h"
#include "helpers.h"
#include "normgrad/nn.h"
#include "normgrad/nn/hf_gpt2.h"
#include "normgrad/report/convert.h"
#include "normgrad/train/inspect.h"
#include "normgrad/train/interop.h"
#include "normgrad/train/saved_run.h"
#include "normgrad/train/tokenizer.h"
#include "normgrad/train/train.h"

using namespace ngt;
using namespace ngcli;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// The venv's python when it can import transformers, tokenizers and torch; else "" after
// printing why the caller skips.
std::string hf_python() {
  const char* env = std::getenv("NG_HF_PYTHON");
  const std::string py = env ? env : "";
  if (py.rfind("skip:", 0) == 0) {  // tools/test.sh says why (the sanitizer build)
    MESSAGE("skipped: ", py.substr(5));
    return "";
  }
  // importing the three takes 3-4 s: checked once per test process, not once per case
  static const bool importable =
      !py.empty() &&
      std::system((py + " -c 'import transformers, tokenizers, torch' > /dev/null 2>&1").c_str()) ==
          0;
  if (!importable) {
    MESSAGE("skipped: the reference needs transformers + tokenizers + torch; NG_HF_PYTHON ",
            py.empty() ? "is not set" : "'" + py + "' cannot import them",
            " (tools/test.sh builds build/py-venv from PyPI over Debian's python3-torch)");
    return "";
  }
  return py;
}
void reference(const std::string& py, const std::string& args, const std::string& stdout_to = "") {
  const std::string cmd = py + " " + NG_TEST_DIR + "/hf_reference.py " + args +
                          (stdout_to.empty() ? "" : " > " + stdout_to);
  REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, cmd);
}

void write_bytes(const std::string& path, const void* p, size_t n) {
  std::ofstream f(path, std::ios::binary);
  f.write((const char*)p, (std::streamsize)n);
}

// Largest |a - b| over the largest |b|: the tests' relative error of whole logit tensors.
double relative_error(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i)
    diff = std::max(diff, std::fabs(a[i] - b[i])), scale = std::max(scale, std::fabs(b[i]));
  return diff / scale;
}
std::vector<double> flat(const json& j) {
  std::vector<double> out;
  if (j.is_array())
    for (const json& x : j) {
      auto v = flat(x);
      out.insert(out.end(), v.begin(), v.end());
    }
  else
    out.push_back(j.get<double>());
  return out;
}

// The model of a normgrad checkpoint, in eval mode.
std::unique_ptr<ng::nn::GPT> load_model(const std::string& ckpt) {
  SavedRun r = read_saved_run(ckpt, false);
  auto m = std::make_unique<ng::nn::GPT>(r.cfg.gpt(r.tok.size()));
  ng::nn::StateDict sd;
  for (auto& [k, v] : r.file.tensors)
    if (k.rfind("optim.", 0) != 0) sd[k] = v;
  m->load_state_dict(sd);
  m->eval();
  return m;
}
std::vector<double> logits_of(ng::nn::GPT& m, const json& ids) {
  std::vector<int64_t> x;
  for (const json& row : ids)
    for (const json& v : row) x.push_back(v.get<int64_t>());
  ng::NoGradGuard no_grad;
  return m(ng::from_vector(x, {(int64_t)ids.size(), (int64_t)ids[0].size()})).to_vector();
}

// GPT-2's loss: token t predicts token t+1, mean over all predictions.
double next_token_loss(const std::vector<double>& logits, const json& ids, int64_t V) {
  double total = 0;
  int64_t n = 0;
  const int64_t B = (int64_t)ids.size(), T = (int64_t)ids[0].size();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t + 1 < T; ++t) {
      const double* z = logits.data() + (b * T + t) * V;
      double m = z[0], s = 0;
      for (int64_t k = 0; k < V; ++k) m = std::max(m, z[k]);
      for (int64_t k = 0; k < V; ++k) s += std::exp(z[k] - m);
      total += m + std::log(s) - z[ids[b][t + 1].get<int64_t>()], ++n;
    }
  return total / (double)n;
}

const char* kBpeTestText =
    "Hello world! It's here, don't panic: we'll see, they've gone, I'm in, you'd know.\n"
    "  multiple   spaces   and\ttabs\t\tand a trailing run   \n"
    "\n\n"
    "caf\xc3\xa9 na\xc3\xafve \xc3\x9cn\xc3\xaf"
    "c\xc3\xb6"
    "d\xc3\xa9 "
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
    "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 \xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\n"
    "emoji \xf0\x9f\x98\x80\xf0\x9f\x8e\x89 \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd!!! ...?\n"
    "numbers 12345 3.14159 1,000,000 and x2 2x 0xFF\n"
    "CRLF line\r\nend <|endoftext|>after the special token\n"
    "'S 'T upper contractions, O'Neil's rock'n'roll\n"
    "   leading spaces, then $%^&*() punctuation --- ===\n";
const std::string kBpeUnseen = "unseen words: zebra quixotic \xe2\x82\xac 42\n";

// Every reference artifact the interop cases use, made once per test process by one Python
// run (one torch import): ref/hf_tiny, ref/bpe + ref/bpe_ref.json, ref/hf_bpe.
std::string reference_dir(const std::string& py) {
  static bool made = false;
  if (!made) {
    {
      std::ofstream train_text("bpe_train.txt");
      for (int i = 0; i < 20; ++i) train_text << kBpeTestText << i << "\n";
      std::ifstream c(corpus_file());
      train_text << c.rdbuf();
    }
    std::ofstream("bpe_test.txt") << kBpeTestText << kBpeUnseen;
    reference(py, "all ref " + corpus_file() + " bpe_train.txt bpe_test.txt");
    made = true;
  }
  return "ref";
}

// A tiny GPT-2 BPE in DIR (vocab.json + merges.txt): GPT-2's 256 byte tokens, a few merges
// and <|endoftext|>, for runs that need a BPE tokenizer without transformers.
void write_tiny_bpe(const std::string& dir) {
  fs::create_directories(dir);
  json vocab = json::object();
  for (int b = 0, next = 256; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    vocab[utf8_encode({(char32_t)(printable ? b : next++)})] = b;
  }
  int id = 256;
  for (const char* t : {"th", "the", "\xc4\xa0the", "ow", "<|endoftext|>"}) vocab[t] = id++;
  std::ofstream(dir + "/vocab.json") << vocab.dump();
  std::ofstream(dir + "/merges.txt") << "#version: 0.2\nt h\nth e\n\xc4\xa0 the\no w\n";
}

// What a round trip must keep exactly: the loss on the test corpus and a sampled text.
std::pair<double, std::string> eval_and_sample(const std::string& ckpt) {
  return {eval_command(ckpt, corpus_file(), 0),
          sample_command(
              ckpt, {.prompt = "the ", .tokens = 24, .temperature = 0.8, .top_k = 5, .seed = 7})[0]
              .text};
}

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// A BPE from its tokens (id order) and merges (rank order), through the checkpoint form.
Gpt2Bpe bpe_of(const std::vector<std::string>& tokens, const std::vector<std::string>& merges) {
  return Gpt2Bpe::from_json(
      json{
          {"kind", "gpt2-bpe"}, {"tokens", tokens}, {"merges", merges}, {"add_prefix_space", false}}
          .dump(),
      "test");
}

// The definition the heap encoder must equal, the obvious way: find the lowest-ranked
// adjacent pair, merge its occurrences left to right, repeat. `word` is one piece of
// printable ASCII (those bytes are their own characters in GPT-2's table).
std::vector<int64_t> naive_bpe(const std::vector<std::string>& tokens,
                               const std::vector<std::string>& merges, const std::string& word) {
  std::map<std::string, int64_t> rank, id;
  for (size_t r = 0; r < merges.size(); ++r) rank.emplace(merges[r], (int64_t)r);
  for (size_t i = 0; i < tokens.size(); ++i) id.emplace(tokens[i], (int64_t)i);
  std::vector<std::string> w;
  for (char c : word) w.push_back(std::string(1, c));
  for (;;) {
    int64_t best = -1;
    std::string left, right;
    for (size_t i = 0; i + 1 < w.size(); ++i) {
      auto r = rank.find(w[i] + " " + w[i + 1]);
      if (r != rank.end() && (best < 0 || r->second < best))
        best = r->second, left = w[i], right = w[i + 1];
    }
    if (best < 0) break;
    std::vector<std::string> merged;
    for (size_t i = 0; i < w.size();)
      if (i + 1 < w.size() && w[i] == left && w[i + 1] == right)
        merged.push_back(left + right), i += 2;
      else
        merged.push_back(w[i++]);
    w.swap(merged);
  }
  std::vector<int64_t> ids;
  for (const auto& s : w) {
    if (!id.count(s)) throw std::runtime_error("not in the vocabulary: " + s);
    ids.push_back(id.at(s));
  }
  return ids;
}
}  // namespace

TEST_SUITE("interop") {
  TEST_CASE("token files: nanoGPT's raw uint16, llm.c's headered uint16 and uint32") {
    const std::vector<uint16_t> raw = {1, 2, 3, 65535, 7};
    write_bytes("nano.bin", raw.data(), raw.size() * 2);
    CHECK(read_token_file("nano.bin").to_vector() == std::vector<int64_t>{1, 2, 3, 65535, 7});
    int32_t header[256] = {20240520, 1, 4};
    std::vector<uint8_t> llmc((uint8_t*)header, (uint8_t*)header + sizeof header);
    for (uint16_t v : {10, 20, 30, 40}) llmc.insert(llmc.end(), (uint8_t*)&v, (uint8_t*)&v + 2);
    write_bytes("llmc.bin", llmc.data(), llmc.size());
    CHECK(read_token_file("llmc.bin").to_vector() == std::vector<int64_t>{10, 20, 30, 40});
    header[1] = 2, header[2] = 2;
    std::vector<uint8_t> v2((uint8_t*)header, (uint8_t*)header + sizeof header);
    for (uint32_t v : {100000u, 5u}) v2.insert(v2.end(), (uint8_t*)&v, (uint8_t*)&v + 4);
    write_bytes("llmc2.bin", v2.data(), v2.size());
    CHECK(read_token_file("llmc2.bin").to_vector() == std::vector<int64_t>{100000, 5});
    // hostile headers and sizes
    write_bytes("odd.bin", raw.data(), 9);
    CHECK_THROWS_WITH_AS(read_token_file("odd.bin"),
                         doctest::Contains("not a whole number of uint16"), ng::Error);
    header[1] = 3;
    write_bytes("v3.bin", header, sizeof header);
    CHECK_THROWS_WITH_AS(read_token_file("v3.bin"), doctest::Contains("header version 3"),
                         ng::Error);
    header[1] = 1, header[2] = 1000;
    std::vector<uint8_t> lying((uint8_t*)header, (uint8_t*)header + sizeof header);
    lying.resize(lying.size() + 8);
    write_bytes("lying.bin", lying.data(), lying.size());
    CHECK_THROWS_WITH_AS(read_token_file("lying.bin"), doctest::Contains("header says 1000 tokens"),
                         ng::Error);
    write_bytes("short.bin", header, 100);
    CHECK_THROWS_WITH_AS(read_token_file("short.bin"),
                         doctest::Contains("shorter than its 1024-byte"), ng::Error);
    // an llm.c file with a damaged magic is not read as raw uint16 tokens
    header[0] = 20240521, header[1] = 1, header[2] = 4;
    std::vector<uint8_t> bad_magic = llmc;
    std::memcpy(bad_magic.data(), header, sizeof header);
    write_bytes("badmagic.bin", bad_magic.data(), bad_magic.size());
    CHECK_THROWS_WITH_AS(read_token_file("badmagic.bin"),
                         doctest::Contains("magic is 20240521, not 20240520"), ng::Error);
    // one stray id would make the vocabulary its value + 1: refused unless --vocab-size says so
    header[0] = 20240520, header[1] = 2, header[2] = 3;
    std::vector<uint8_t> stray((uint8_t*)header, (uint8_t*)header + sizeof header);
    for (uint32_t v : {5u, 16777215u, 7u})
      stray.insert(stray.end(), (uint8_t*)&v, (uint8_t*)&v + 4);
    write_bytes("stray.bin", stray.data(), stray.size());
    CHECK_THROWS_WITH_AS(new_run_tokenizer("stray.bin", "", 0, ""),
                         doctest::Contains("token 1 is 16777215, which would make the vocabulary "
                                           "16777216 tokens"),
                         ng::Error);
    CHECK(new_run_tokenizer("stray.bin", "", 16777216, "").size() == 16777216);
    CHECK(new_run_tokenizer("llmc2.bin", "", 0, "").size() == 100001);  // a real large id
    // a token outside the vocabulary is named with its position
    CHECK_THROWS_WITH_AS(load_run_data("nano.bin", Tokenizer::ids(100)),
                         doctest::Contains("token 3 is 65535, outside the vocabulary of 100"),
                         ng::Error);
  }

  TEST_CASE("train on a token file: ids tokenizer from the data, saved and reloaded") {
    std::vector<uint16_t> toks;
    for (int i = 0; i < 3000; ++i) toks.push_back((uint16_t)((i * 7 + i / 13) % 50));
    write_bytes("train.bin", toks.data(), toks.size() * 2);
    TrainConfig c = tiny_cfg("bin_run");
    c.data = "train.bin";
    train(c);
    SavedRun r = read_saved_run("bin_run/ckpt.safetensors", true);
    CHECK(r.tok.kind() == "ids");
    CHECK(r.tok.size() == 50);
    CHECK(r.tok.decode({3, 49}) == "<3><49>");
    CHECK(eval_command("bin_run/ckpt.safetensors", "", 4) < std::log(50.0));
    c.out = "bin_run_v", c.vocab_size = 64;
    train(c);
    CHECK(read_saved_run("bin_run_v/ckpt.safetensors", false).tok.size() == 64);
  }

  TEST_CASE("GPT-2 BPE: byte table, merges applied by rank, specials, decode") {
    json vocab = json::object();
    // GPT-2's byte table: printable bytes map to themselves, the rest to U+0100..
    const std::vector<std::string> bytes = gpt2_byte_characters();
    for (int b = 0; b < 256; ++b) vocab[bytes[b]] = b;
    int id = 256;
    for (const char* t : {"ll", "he", "hell", "hello", "\xc4\xa0hello", "<|endoftext|>"})
      vocab[t] = id++;
    std::ofstream("vocab.json") << vocab.dump();
    std::ofstream("merges.txt") << "#version: 0.2\nl l\nh e\nhe ll\nhell o\n\xc4\xa0 hello\n";
    const Gpt2Bpe bpe = Gpt2Bpe::from_files("vocab.json", "merges.txt");
    CHECK(bytes[' '] == "\xc4\xa0");  // space is U+0120 'Ġ'
    CHECK(bpe.encode("hello hello") == std::vector<int64_t>{259, 260});
    CHECK(bpe.encode("hello<|endoftext|>hell") == std::vector<int64_t>{259, 261, 258});
    CHECK(bpe.encode("lll") == std::vector<int64_t>{256, 'l'});  // leftmost pair first
    const std::string text = "hello,  w\xc3\xb6rld \xf0\x9f\x98\x80\n\n\t<|endoftext|>";
    CHECK(bpe.decode(bpe.encode(text)) == text);
    const Gpt2Bpe again = Gpt2Bpe::from_json(bpe.to_json(), "metadata");
    CHECK(again.encode(text) == bpe.encode(text));
    std::ofstream("bad_merges.txt") << "h e\nq z\n";
    CHECK_THROWS_WITH_AS(
        Gpt2Bpe::from_files("vocab.json", "bad_merges.txt"),
        doctest::Contains("merge 2 'q z' makes a token that is not in the vocabulary"), ng::Error);
    CHECK_THROWS_WITH_AS(bpe.encode("caf\xc3"), doctest::Contains("UTF-8"), ng::Error);
  }

  TEST_CASE("GPT-2 BPE: the heap encoder equals the naive rounds on random merge tables") {
    // Tables no tokenizer trainer writes: ranks shuffled (a merge may rank below the merge
    // that makes its part), parts that are not tokens, a letter missing from the vocabulary.
    std::mt19937 rng(29);
    const std::string letters = "abcd";
    int compared = 0, refused = 0;
    for (int table = 0; table < 150; ++table) {
      std::vector<std::string> tokens, merges, pool;
      for (char c : letters)
        if (table % 10 != 3 || c != 'd') tokens.push_back(std::string(1, c));
      for (char c : letters) pool.push_back(std::string(1, c));
      for (int m = 0; m < 24; ++m) {
        const std::string l = pool[rng() % pool.size()], r = pool[rng() % pool.size()];
        merges.push_back(l + " " + r);
        if (std::find(tokens.begin(), tokens.end(), l + r) == tokens.end()) tokens.push_back(l + r);
        pool.push_back(rng() % 4 ? l + r : std::string(1, letters[rng() % 4]) + r);  // a part
      }
      std::shuffle(merges.begin(), merges.end(), rng);
      const Gpt2Bpe bpe = bpe_of(tokens, merges);
      for (int t = 0; t < 20; ++t) {
        std::string word;
        for (size_t k = 0, n = 1 + rng() % 40; k < n; ++k) word += letters[rng() % 4];
        CAPTURE(word);
        std::vector<int64_t> want;
        try {
          want = naive_bpe(tokens, merges, word);
        } catch (const std::runtime_error&) {
          CHECK_THROWS_WITH_AS(bpe.encode(word), doctest::Contains("is not in the vocabulary"),
                               ng::Error);
          ++refused;
          continue;
        }
        CHECK(bpe.encode(word) == want);
        ++compared;
      }
    }
    MESSAGE(compared, " words equal to the naive rounds, ", refused, " refused by both");
    CHECK(compared > 1000);
    CHECK(refused > 10);
  }

  TEST_CASE("GPT-2 BPE: a merge chain of n steps costs O(n) pair lookups, not O(n^2)") {
    // "b a a ... a" merges one 'a' at a time from the left (b a -> ba, ba a -> baa, ...):
    // n rounds. A scan of the piece per round looks up n^2 / 2 pairs (n = 1000 took 5.7 s).
    auto chain = [](int n) {
      std::vector<std::string> tokens = {"a", "b"}, merges;
      for (std::string t = "b"; (int)t.size() <= n; t += 'a') {
        merges.push_back(t + " a");
        tokens.push_back(t + "a");
      }
      const Gpt2Bpe bpe = bpe_of(tokens, merges);
      const std::vector<int64_t> ids = bpe.encode("b" + std::string((size_t)n, 'a'));
      CHECK(ids == std::vector<int64_t>{(int64_t)tokens.size() - 1});  // one token
      return bpe.pair_lookups();
    };
    const int64_t small = chain(500), large = chain(2000);
    MESSAGE("pair lookups: ", small, " for a chain of 500, ", large, " for 2000");
    CHECK(small <= 3 * 501);
    CHECK(large <= 3 * 2001);
    CHECK((double)large / (double)small < 4.5);
  }

  TEST_CASE("export and import round trip every norm kind exactly (GPT-2 layout + extras)") {
    for (const std::string& kind : ng::norm_kind_names()) {  // the registry's kinds
      CAPTURE(kind);
      ng::nn::GPTConfig g;
      g.vocab = 31, g.n_layer = 2, g.n_head = 2, g.n_embd = 16, g.block_size = 8;
      g.norm = kind, g.gelu = "tanh", g.norm_options.scale = "sqrtc";
      g.norm_final = "layernorm";
      if (kind == "rmsnorm") g.bias = false, g.embed_scale = true;  // extras
      ng::nn::GPT a(g);
      {
        ng::NoGradGuard no_grad;  // scalars and weights away from their initial values
        ng::Generator gen(3);
        for (auto& [n, p] : a.named_parameters())
          if (n.find("ln_") != std::string::npos)
            ng::Tensor(p).add_(ng::rand(p.shape(), {}, &gen) * 0.2);
      }
      const std::string dir = "export_" + kind;
      ng::nn::write_hf_gpt2(a, dir);
      const json cfg = json::parse(std::ifstream(dir + "/config.json"));
      CHECK(cfg["normgrad_norms"]["transformer.h.1.ln_2"] == kind);
      CHECK(cfg["normgrad_gpt2_compatible"] == (kind == "layernorm"));
      CHECK(cfg["activation_function"] == "gelu_new");
      const ng::nn::Safetensors st = ng::nn::load_safetensors(dir + "/model.safetensors");
      CHECK(st.tensors.at("transformer.h.0.attn.c_attn.weight").shape() ==
            ng::Shape{16, 48});  // [in, out]
      // not a GPT-2: marked so that transformers refuses it (its own test below)
      CHECK(st.metadata.at("format") ==
            (kind == "layernorm" ? std::string("pt") : ng::nn::kNotGpt2Format));
      CHECK(cfg["model_type"] == (kind == "layernorm" ? "gpt2" : ng::nn::kNotGpt2ModelType));
      ng::nn::HFGPT2 hf = ng::nn::read_hf_gpt2(dir);
      ng::nn::GPT b(hf.config);
      b.load_state_dict(hf.weights);
      CHECK(b.blocks()[0]->ln_1->kind() == kind);
      CHECK(b.ln_f->kind() == "layernorm");
      a.eval(), b.eval();
      const ng::Tensor x = ng::from_vector(std::vector<int64_t>{1, 5, 30, 2, 2, 9, 0, 4}, {1, 8});
      ng::NoGradGuard no_grad;
      CHECK(a(x).to_vector() == b(x).to_vector());
    }
  }

  TEST_CASE("hostile GPT-2 folders are refused with the field named") {
    fs::create_directories("hostile_hf");
    auto with_config = [](const std::string& text) {
      std::ofstream("hostile_hf/config.json") << text;
      return ng::nn::read_hf_gpt2("hostile_hf");
    };
    CHECK_THROWS_WITH_AS(with_config("[1]"), doctest::Contains("not a JSON object"), ng::Error);
    CHECK_THROWS_WITH_AS(with_config("{\"vocab_size\": 10}"),
                         doctest::Contains("'n_positions' is required"), ng::Error);
    const std::string ok = "\"vocab_size\": 10, \"n_positions\": 8, \"n_embd\": 12, \"n_layer\": 1";
    CHECK_THROWS_WITH_AS(with_config("{" + ok + ", \"n_head\": 5}"),
                         doctest::Contains("not a multiple of n_head"), ng::Error);
    CHECK_THROWS_WITH_AS(with_config("{" + ok + ", \"n_head\": -2}"), doctest::Contains("outside"),
                         ng::Error);
    CHECK_THROWS_WITH_AS(
        with_config("{" + ok + ", \"n_head\": 2, \"activation_function\": \"relu\"}"),
        doctest::Contains("activation_function 'relu'"), ng::Error);
    CHECK_THROWS_WITH_AS(with_config("{" + ok + ", \"n_head\": 2, \"n_inner\": 7}"),
                         doctest::Contains("n_inner 7"), ng::Error);
    CHECK_THROWS_WITH_AS(with_config("{" + ok + ", \"n_head\": 2}"),
                         doctest::Contains("model.safetensors is missing"), ng::Error);
    // weights that do not fit the config: named by load_state_dict
    ng::nn::GPTConfig g;
    g.vocab = 10, g.n_layer = 1, g.n_head = 2, g.n_embd = 12, g.block_size = 4;
    ng::nn::write_hf_gpt2(ng::nn::GPT(g), "hostile_hf");
    std::ofstream("hostile_hf/config.json") << "{" + ok + ", \"n_head\": 2}";
    ng::nn::HFGPT2 hf = ng::nn::read_hf_gpt2("hostile_hf");
    ng::nn::GPT m(hf.config);
    CHECK_THROWS_WITH_AS(m.load_state_dict(hf.weights), doctest::Contains("transformer.wpe.weight"),
                         ng::Error);
  }

  TEST_CASE("Hugging Face GPT-2 -> import: the same logits and loss as transformers") {
    const std::string py = hf_python();
    if (py.empty()) return;
    const std::string ref_dir = reference_dir(py);
    const ImportResult r = import_hf(ref_dir + "/hf_tiny", "imported", true);
    CHECK(r.tokenizer == "ids");
    const json ref = json::parse(std::ifstream(ref_dir + "/hf_tiny/reference.json"));
    auto m = load_model(r.ckpt);
    const std::vector<double> ours = logits_of(*m, ref["ids"]), theirs = flat(ref["logits"]);
    const double err = relative_error(ours, theirs);
    const double loss = next_token_loss(ours, ref["ids"], 97), ref_loss = ref["loss"].get<double>();
    MESSAGE("HF -> normgrad: logits relative error ", err, "; loss ", loss, " vs transformers ",
            ref_loss);
    CHECK(err < 1e-4);
    CHECK(std::fabs(loss - ref_loss) / ref_loss < 1e-4);

    // and back: normgrad export -> GPT2LMHeadModel.from_pretrained
    export_hf(r.ckpt, "exported", true);
    reference(py, "logits exported " + ref_dir + "/hf_tiny/reference.json", "exported_logits.json");
    const json back = json::parse(std::ifstream("exported_logits.json"));
    const double err_back = relative_error(flat(back["logits"]), ours);
    MESSAGE("normgrad -> HF: logits relative error ", err_back);
    CHECK(err_back < 1e-4);
  }

  TEST_CASE("GPT-2 BPE matches transformers' GPT2Tokenizer and GPT2TokenizerFast") {
    const std::string py = hf_python();
    if (py.empty()) return;
    const std::string ref_dir = reference_dir(py);
    const json ref = json::parse(std::ifstream(ref_dir + "/bpe_ref.json"));
    const std::string text = kBpeTestText + kBpeUnseen;
    std::vector<std::string> pieces;
    size_t at = 0;
    for (size_t nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1)
      pieces.push_back(text.substr(at, nl - at));
    pieces.push_back(text.substr(at));
    pieces.push_back(text);
    for (const std::string& source : {ref_dir + "/bpe", ref_dir + "/bpe/tokenizer.json"}) {
      const Gpt2Bpe bpe = Gpt2Bpe::from_folder(source);
      REQUIRE(ref["slow"].size() == pieces.size());
      int64_t tokens = 0;
      for (size_t i = 0; i < pieces.size(); ++i) {
        CAPTURE(pieces[i]);
        const auto ids = bpe.encode(pieces[i]);
        CHECK(ids == ref["slow"][i].get<std::vector<int64_t>>());
        CHECK(ids == ref["fast"][i].get<std::vector<int64_t>>());
        CHECK(bpe.decode(ids) == pieces[i]);
        tokens += (int64_t)ids.size();
      }
      MESSAGE(source, ": ", pieces.size(), " texts, ", tokens,
              " tokens, all equal to the reference");
    }
  }

  TEST_CASE("an imported GPT-2 with its tokenizer: eval, sample, grads, convert, fine-tune") {
    const std::string py = hf_python();
    if (py.empty()) return;
    const ImportResult r = import_hf(reference_dir(py) + "/hf_bpe", "imported_bpe", true);
    CHECK(r.tokenizer == "gpt2-bpe");
    const double before = eval_command(r.ckpt, corpus_file(), 0);
    CHECK(std::isfinite(before));
    ng::Generator gen(1);
    CHECK(!sample_command(r.ckpt, {.prompt = "the quick", .tokens = 5, .seed = 1})[0].text.empty());
    GradsOptions go;
    go.data = corpus_file(), go.seed = 3, go.out = "imported_grads.safetensors";
    grads_command(r.ckpt, go);
    CHECK(ng::nn::load_safetensors(go.out).tensors.count("grad.transformer.h.0.ln_1.weight") == 1);
    // fine-tuning from the imported weights lowers the loss on the corpus
    TrainConfig c = tiny_cfg("finetuned");
    c.init_from = r.ckpt, c.data = corpus_file(), c.max_steps = 30, c.dropout = 0, c.lr = 3e-3;
    train(c);  // the model settings (3 layers, width 48, tanh GELU) come from the checkpoint
    CHECK(read_saved_run("finetuned/ckpt.safetensors", false).cfg.gelu == "tanh");
    TrainConfig wrong = c;
    wrong.out = "finetuned_wrong", wrong.n_layer = 4, wrong.given = {"n_layer"};
    CHECK_THROWS_WITH_AS(
        train(wrong), doctest::Contains("--n-layer 4 conflicts with the starting checkpoint's 3"),
        ng::Error);
    const double after = eval_command("finetuned/ckpt.safetensors", corpus_file(), 0);
    MESSAGE("imported tiny GPT-2 on the test corpus: ", before, " -> ", after, " after 30 steps");
    CHECK(after < before - 0.5);
    // norm surgery on it
    ConvertOptions o;
    o.ckpt = r.ckpt, o.to = {"dyisru"}, o.inits = {"stats"}, o.steps = 0, o.eval_batches = 2;
    o.data = corpus_file(), o.dir = "imported_surgery", o.quiet = true;
    const ConvertResult cr = convert(o);
    CHECK(cr.source_kind == "layernorm");
    CHECK(std::isfinite(cr.rows.at(0).after));
  }

  TEST_CASE("export -> import: the tokenizer travels (characters, BPE); stale BPE files go") {
    TrainConfig c = tiny_cfg("rt_chars");
    c.max_steps = 6;
    train(c);
    const auto chars_ref = eval_and_sample("rt_chars/ckpt.safetensors");
    write_tiny_bpe("tiny_bpe");
    TrainConfig b = tiny_cfg("rt_bpe");
    b.tokenizer = "tiny_bpe", b.max_steps = 6;
    train(b);
    const auto bpe_ref = eval_and_sample("rt_bpe/ckpt.safetensors");

    export_hf("rt_bpe/ckpt.safetensors", "rt_hf", true);
    std::ofstream("rt_hf/README.md") << "a user's file: export never deletes it\n";
    ImportResult r = import_hf("rt_hf", "rt_bpe_back", true);
    CHECK(r.tokenizer == "gpt2-bpe");
    CHECK(eval_and_sample(r.ckpt) == bpe_ref);

    // a character model exported over it: the earlier export's BPE files must go, or import
    // would attach them to this model
    export_hf("rt_chars/ckpt.safetensors", "rt_hf", true);
    CHECK_FALSE(fs::exists("rt_hf/vocab.json"));
    CHECK_FALSE(fs::exists("rt_hf/merges.txt"));
    CHECK(fs::exists("rt_hf/README.md"));
    r = import_hf("rt_hf", "rt_chars_back", true);
    CHECK(r.tokenizer == "chars");
    CHECK(read_saved_run(r.ckpt, false).tok.decode({0, 1, 2}) ==
          read_saved_run("rt_chars/ckpt.safetensors", false).tok.decode({0, 1, 2}));
    const auto chars_back = eval_and_sample(r.ckpt);
    MESSAGE("characters: eval ", chars_ref.first, " -> ", chars_back.first, ", sample '",
            chars_ref.second, "' -> '", chars_back.second, "'");
    CHECK(chars_back == chars_ref);

    // tokenizer files nobody's export wrote are not deleted: the export stops instead
    fs::create_directories("foreign_hf");
    std::ofstream("foreign_hf/vocab.json") << "{}";
    CHECK_THROWS_WITH_AS(export_hf("rt_chars/ckpt.safetensors", "foreign_hf", true),
                         doctest::Contains("no normgrad export wrote it"), ng::Error);
    CHECK(fs::exists("foreign_hf/vocab.json"));
    CHECK_FALSE(fs::exists("foreign_hf/config.json"));

    // BPE files replaced after the export (one merge less) are not the model's tokenizer
    export_hf("rt_bpe/ckpt.safetensors", "rt_hf2", true);
    std::string merges = read_text("rt_hf2/merges.txt");
    merges.erase(merges.rfind("o w"));
    std::ofstream("rt_hf2/merges.txt") << merges;
    CHECK_THROWS_WITH_AS(import_hf("rt_hf2", "rt_hf2_back", true),
                         doctest::Contains("not the tokenizer the model was exported with"),
                         ng::Error);
  }

  TEST_CASE("export marks a model that is not GPT-2; import restores kinds and options exactly") {
    TrainConfig c = tiny_cfg("rt_mixed");
    c.max_steps = 4, c.norm = "bhyt", c.norm_mlp = "dyt", c.norm_final = "dyisru";
    c.alpha0_attn = 0.8, c.alpha0_other = 0.3, c.kind_options["lambda0_attn"] = 3.0;
    c.scale = "sqrtc", c.embed_scale = true, c.eps = 1e-6, c.beta0 = 2.5;
    train(c);
    const std::string ckpt = "rt_mixed/ckpt.safetensors";
    export_hf(ckpt, "mixed_hf", true);
    const json cfg = json::parse(read_text("mixed_hf/config.json"));
    CHECK(cfg["model_type"] == ng::nn::kNotGpt2ModelType);
    CHECK(cfg["architectures"][0] != "GPT2LMHeadModel");
    CHECK(cfg["normgrad_not_gpt2"].get<std::string>().find("bhyt, dyisru, dyt") !=
          std::string::npos);
    CHECK(ng::nn::load_safetensors("mixed_hf/model.safetensors").metadata.at("format") ==
          ng::nn::kNotGpt2Format);
    const ImportResult r = import_hf("mixed_hf", "rt_mixed_back", true);
    const TrainConfig a = read_saved_run(ckpt, false).cfg, back = read_saved_run(r.ckpt, false).cfg;
#define NG_SAME_FIELD(group, type, name, def, check, help)             \
  if (std::string(#group) == "model" || std::string(#group) == "norm") \
    CHECK_MESSAGE(a.name == back.name, #name);
    NG_TRAIN_FIELDS(NG_SAME_FIELD)
#undef NG_SAME_FIELD
    CHECK(a.kind_options == back.kind_options);
    CHECK(eval_and_sample(r.ckpt) == eval_and_sample(ckpt));

    // a LayerNorm model stays a plain GPT-2
    TrainConfig l = tiny_cfg("rt_layernorm");
    l.max_steps = 2;
    train(l);
    export_hf("rt_layernorm/ckpt.safetensors", "layernorm_hf", true);
    const json lcfg = json::parse(read_text("layernorm_hf/config.json"));
    CHECK(lcfg["model_type"] == "gpt2");
    CHECK(lcfg["architectures"][0] == "GPT2LMHeadModel");
    CHECK_FALSE(lcfg.contains("normgrad_not_gpt2"));
    CHECK(ng::nn::load_safetensors("layernorm_hf/model.safetensors").metadata.at("format") == "pt");
  }

  TEST_CASE("transformers refuses an exported DyT model and loads a LayerNorm one") {
    const std::string py = hf_python();
    if (py.empty()) return;
    for (const std::string kind : {"dyt", "layernorm"}) {
      CAPTURE(kind);
      TrainConfig c = tiny_cfg("hf_refuse_" + kind);
      c.norm = kind, c.max_steps = 2;
      train(c);
      export_hf(c.out + "/ckpt.safetensors", c.out + "_hf", true);
      reference(py, "refuses " + c.out + "_hf", c.out + "_refused.json");
      const json errors = json::parse(std::ifstream(c.out + "_refused.json"));
      MESSAGE(kind, ": GPT2LMHeadModel.from_pretrained: ", errors["gpt2"].dump(),
              "; AutoModelForCausalLM.from_pretrained: ", errors["auto"].dump());
      if (kind == "layernorm") {
        CHECK(errors["gpt2"].is_null());
        CHECK(errors["auto"].is_null());
      } else {  // both refuse, and their messages point at normgrad
        REQUIRE(errors["gpt2"].is_string());
        CHECK(errors["gpt2"].get<std::string>().find("normgrad import") != std::string::npos);
        REQUIRE(errors["auto"].is_string());
        CHECK(errors["auto"].get<std::string>().find(ng::nn::kNotGpt2ModelType) !=
              std::string::npos);
      }
    }
  }
}

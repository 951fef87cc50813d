#include "normgrad/train/tokenizer.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "normgrad/error.h"
#include "normgrad/train/files.h"
#include "normgrad/train/train.h"

namespace ngcli {
using ng::fail;

Tokenizer Tokenizer::chars(CharTokenizer t) {
  Tokenizer k;
  k.kind_ = "chars";
  k.chars_ = std::move(t);
  return k;
}
Tokenizer Tokenizer::bpe(Gpt2Bpe b) {
  Tokenizer k;
  k.kind_ = "gpt2-bpe";
  k.bpe_ = std::make_shared<const Gpt2Bpe>(std::move(b));
  return k;
}
Tokenizer Tokenizer::ids(int64_t vocab) {
  if (vocab < 1 || vocab > (1 << 24))
    fail("tokenizer", "vocabulary size ", vocab, " is outside [1, 2^24]");
  Tokenizer k;
  k.kind_ = "ids";
  k.ids_vocab_ = vocab;
  return k;
}

int64_t Tokenizer::size() const {
  return kind_ == "chars" ? chars_.size() : kind_ == "gpt2-bpe" ? bpe_->size() : ids_vocab_;
}

std::vector<int64_t> Tokenizer::encode(const std::string& utf8) const {
  if (kind_ == "chars") return chars_.encode(utf8);
  if (kind_ == "gpt2-bpe") return bpe_->encode(utf8);
  fail("tokenizer",
       "this run reads token files and has no text tokenizer: give token ids, or "
       "train with --tokenizer (a GPT-2 vocab.json + merges.txt folder)");
}

TokenIds Tokenizer::encode_corpus(std::string_view utf8) const {
  if (kind_ != "chars" && kind_ != "gpt2-bpe") encode(std::string());  // its error
  // At most one id per byte (a character or a BPE piece is at least one byte; the one space
  // add_prefix_space puts in front merges into the first piece).
  TokenIdsBuilder ids(size(), (int64_t)utf8.size() + 1);
  const auto push = [&](int64_t id) { ids.push(id); };
  if (kind_ == "chars")
    chars_.encode(utf8, push);
  else
    bpe_->encode(utf8, push);
  return ids.finish();
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids) const {
  if (kind_ == "chars") return chars_.decode(ids);
  if (kind_ == "gpt2-bpe") return bpe_->decode(ids);
  std::string out;
  for (int64_t id : ids) {  // appended piece by piece (GCC 12 warns on "<" + to_string)
    out += '<';
    out += std::to_string(id);
    out += '>';
  }
  return out;
}

int64_t Tokenizer::start_token() const {
  if (kind_ == "gpt2-bpe")
    for (int64_t i = bpe_->size() - 1; i >= 0; --i)
      if (bpe_->token(i) == "<|endoftext|>") return i;
  return 0;
}

void Tokenizer::to_metadata(ng::nn::Metadata& meta) const {
  if (kind_ == "chars")
    meta["vocab"] = chars_.vocab_string();
  else if (kind_ == "gpt2-bpe")
    meta["tokenizer"] = bpe_->to_json();
  else
    meta["tokenizer"] = nlohmann::json{{"kind", "ids"}, {"size", ids_vocab_}}.dump();
}

Tokenizer Tokenizer::from_metadata(const ng::nn::Metadata& meta) {
  if (!meta.count("tokenizer")) {
    if (!meta.count("vocab")) fail("tokenizer", "neither 'vocab' nor 'tokenizer' metadata");
    return chars(CharTokenizer::from_vocab_string(meta.at("vocab")));
  }
  const std::string& t = meta.at("tokenizer");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(t);
  } catch (const nlohmann::json::exception& e) {
    fail("tokenizer", "metadata 'tokenizer' is not JSON: ", e.what());
  }
  const std::string kind = j.is_object() ? j.value("kind", "") : "";
  if (kind == "gpt2-bpe") return bpe(Gpt2Bpe::from_json(t, "tokenizer"));
  if (kind == "ids" && j.contains("size") && j["size"].is_number_integer())
    return ids(j["size"].get<int64_t>());
  fail("tokenizer", "unknown tokenizer metadata (gpt2-bpe or ids)");
}

// The largest vocabulary a token file may imply without --vocab-size (see new_run_tokenizer).
constexpr int64_t kMaxImpliedVocab = int64_t(1) << 20;

bool is_token_file(const std::string& path) {
  return path.size() > 4 && path.compare(path.size() - 4, 4, ".bin") == 0;
}

namespace {
// A token file mapped, and its ids within the mapping.
struct TokenFile {
  MappedFile file;
  TokenIds ids;
};

TokenFile map_token_file(const std::string& path) {
  TokenFile f{MappedFile(path, kMaxCorpusBytes, "token file"), {}};
  const std::string_view bytes = f.file.bytes();
  const uint8_t* p = (const uint8_t*)bytes.data();
  int32_t header[256] = {};
  if (bytes.size() >= 4) std::memcpy(header, p, 4);
  size_t width = 2, offset = 0, count = 0;
  if (header[0] == 20240520) {  // llm.c
    if (bytes.size() < sizeof header)
      fail("data", path, ": llm.c token file shorter than its 1024-byte header");
    std::memcpy(header, p, sizeof header);
    if (header[1] != 1 && header[1] != 2)
      fail("data", path, ": llm.c header version ", header[1], " (1: uint16 tokens, 2: uint32)");
    width = header[1] == 1 ? 2 : 4;
    offset = sizeof header;
    if (header[2] < 0) fail("data", path, ": llm.c header token count ", header[2], " < 0");
    count = (size_t)header[2];
    if (bytes.size() != offset + count * width)
      fail("data", path, ": llm.c header says ", count, " tokens of ", width,
           " bytes, the file holds ", bytes.size() - offset, " bytes after the header");
  } else {  // nanoGPT: raw uint16
    // An llm.c file whose magic was damaged would otherwise be read as uint16 tokens, header
    // included. Decisive, not a guess: its version and token count describe the file's size
    // to the byte, which raw tokens do by chance only.
    if (bytes.size() >= sizeof header) {
      std::memcpy(header, p, sizeof header);
      const size_t w = header[1] == 1 ? 2 : header[1] == 2 ? 4 : 0;
      if (w && header[2] >= 0 && bytes.size() == sizeof header + (size_t)header[2] * w)
        fail("data", path, ": its first 1024 bytes are an llm.c header (version ", header[1], ", ",
             header[2], " tokens: exactly the file's size) but the magic is ", header[0],
             ", not 20240520: a damaged llm.c file, not nanoGPT's raw uint16");
    }
    if (bytes.size() % 2)
      fail("data", path, ": ", bytes.size(),
           " bytes is not a whole number of uint16 tokens "
           "(nanoGPT's format; llm.c files start with the magic 20240520)");
    count = bytes.size() / 2;
  }
  if (count < 2) fail("data", path, ": ", count, " tokens, too few to train or evaluate on");
  f.ids = TokenIds(f.file.owner(), p + offset, (int)width, (int64_t)count);
  return f;
}
}  // namespace

TokenIds read_token_file(const std::string& path) { return map_token_file(path).ids; }

RunData load_run_data(const std::string& path, const Tokenizer& tok,
                      const std::string& resumed_fingerprint, const std::string& flag) {
  RunData d;
  auto check_same = [&] {
    if (!resumed_fingerprint.empty() && d.fingerprint != resumed_fingerprint)
      fail("train", "--resume: the corpus ", d.source,
           " is not the text this run was trained on (fingerprint ", d.fingerprint, ", saved ",
           resumed_fingerprint, "); pass ", flag, " with the original file");
  };
  if (!path.empty() && is_token_file(path)) {
    const TokenFile f = map_token_file(path);
    d.ids = f.ids;
    d.fingerprint = corpus_fingerprint(f.file.bytes());
    d.source = path;
    check_same();
    for (int64_t i = 0; i < d.ids.size(); ++i)
      if (d.ids[i] >= tok.size())
        fail("data", path, ": token ", i, " is ", d.ids[i], ", outside the vocabulary of ",
             tok.size(), " (", tok.kind(), ")");
    return d;
  }
  const CorpusText text(path);
  d.fingerprint = corpus_fingerprint(text.text());
  d.source = path.empty() ? default_corpus_path_description() : path;
  check_same();
  d.ids = tok.encode_corpus(text.text());
  return d;
}

Tokenizer new_run_tokenizer(const std::string& data, const std::string& tokenizer,
                            int64_t vocab_size, const std::string& val_data) {
  if (!tokenizer.empty()) {
    Tokenizer t = Tokenizer::bpe(Gpt2Bpe::from_folder(tokenizer));
    if (vocab_size > 0 && vocab_size != t.size())
      fail("config", "vocab_size ", vocab_size, " differs from the tokenizer's ", t.size());
    return t;
  }
  if (!data.empty() && is_token_file(data)) {
    if (vocab_size > 0) return Tokenizer::ids(vocab_size);
    int64_t top = 0;
    for (const std::string& f : {data, val_data})
      if (!f.empty() && is_token_file(f)) {
        const TokenIds ids = read_token_file(f);
        int64_t at = 0;
        for (int64_t i = 1; i < ids.size(); ++i)
          if (ids[i] > ids[at]) at = i;
        // The vocabulary is the largest id + 1: one stray id must not build an embedding of
        // millions of rows. 2^20 is 8x GPT-2's and Llama 3's vocabularies.
        if (ids[at] >= kMaxImpliedVocab)
          fail("data", f, ": token ", at, " is ", ids[at],
               ", which would make the "
               "vocabulary ",
               ids[at] + 1,
               " tokens (the largest id + 1; over 2^20): a stray id? "
               "Pass --vocab-size if a vocabulary that large is meant");
        top = std::max(top, ids[at]);
      }
    return Tokenizer::ids(top + 1);
  }
  if (vocab_size > 0)
    fail("config", "vocab_size is for token files; text gets its characters' count");
  const CorpusText text(data);
  if (val_data.empty()) return Tokenizer::chars(CharTokenizer::from_text(text.text()));
  return Tokenizer::chars(CharTokenizer::from_texts({text.text(), CorpusText(val_data).text()}));
}

}  // namespace ngcli

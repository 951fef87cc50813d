// The tokenizer of a run, and the data it reads: text (characters or GPT-2 BPE) or token
// files written by nanoGPT's and llm.c's data scripts.
//
// Token files (`--data x.bin`):
//   llm.c:   a header of 256 little-endian int32 (magic 20240520, version 1 = uint16 tokens
//            or 2 = uint32 tokens, token count), then the tokens; every header field is
//            checked against the file's size.
//   nanoGPT: train.bin / val.bin, raw little-endian uint16 tokens, no header (any .bin file
//            that does not start with llm.c's magic).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "normgrad/nn/safetensors.h"
#include "normgrad/train/bpe.h"
#include "normgrad/train/data.h"
#include "normgrad/train/token_ids.h"

namespace ngcli {

class Tokenizer {
 public:
  static Tokenizer chars(CharTokenizer t);
  static Tokenizer bpe(Gpt2Bpe b);
  // Ids only (token files without a text tokenizer): decode writes "<id>" per token.
  static Tokenizer ids(int64_t vocab);
  Tokenizer() = default;

  const std::string& kind() const { return kind_; }  // chars, gpt2-bpe, ids
  int64_t size() const;
  std::vector<int64_t> encode(const std::string& utf8) const;
  // A whole corpus in one pass, each id in the narrowest width the vocabulary allows.
  TokenIds encode_corpus(std::string_view utf8) const;
  std::string decode(const std::vector<int64_t>& ids) const;
  // The vocabulary text (chars: "abc", gpt2-bpe: its JSON, ids: the size) as it goes into a
  // checkpoint's metadata, and back: chars under "vocab", the others under "tokenizer".
  void to_metadata(ng::nn::Metadata& meta) const;
  static Tokenizer from_metadata(const ng::nn::Metadata& meta);
  const Gpt2Bpe* bpe_model() const { return bpe_.get(); }
  // Where sampling without a prompt starts: GPT-2's <|endoftext|> when the BPE has it, else 0.
  int64_t start_token() const;

 private:
  std::string kind_ = "chars";
  CharTokenizer chars_;
  std::shared_ptr<const Gpt2Bpe> bpe_;
  int64_t ids_vocab_ = 0;
};

bool is_token_file(const std::string& path);  // ends in .bin
// The file's ids as they lie in it: mapped, not read into memory, after every header field
// is checked against the file's size.
TokenIds read_token_file(const std::string& path);

// A run's data as token ids, with a fingerprint of the file (or built-in corpus) it came from.
struct RunData {
  TokenIds ids;
  std::string fingerprint;
  std::string source;  // the file, or the built-in corpus's description
};
// `tok` encodes text; token files are taken as they are, every id checked < tok.size().
// `resumed_fingerprint` (non-empty on --resume): the data must be the saved run's, checked
// before anything is encoded; `flag` names the option in that error (--data, --val-data).
RunData load_run_data(const std::string& path, const Tokenizer& tok,
                      const std::string& resumed_fingerprint = "",
                      const std::string& flag = "--data");
// The tokenizer a new run builds: --tokenizer's BPE; else for a token file ids() with
// `vocab_size` (0: the largest id + 1); else the characters of the text. With `val_data`
// (--val-data) the ids or characters of both files count, so the validation file encodes.
Tokenizer new_run_tokenizer(const std::string& data, const std::string& tokenizer,
                            int64_t vocab_size, const std::string& val_data = "");

}  // namespace ngcli

// GPT-2's byte-level BPE: the tokenizer of GPT-2 model folders (vocab.json + merges.txt, or
// a tokenizer.json of type BPE with a ByteLevel pre-tokenizer).
//
//   Gpt2Bpe bpe = Gpt2Bpe::from_folder("gpt2");
//   std::vector<int64_t> ids = bpe.encode("Hello world");   // {15496, 995}
//   std::string text = bpe.decode(ids);
//
// Encoding, as the reference does it: special tokens (<|endoftext|>, ...) are split off
// first; the rest is cut into pieces by GPT-2's pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// (PCRE2 with Unicode properties); each piece's bytes become printable characters (GPT-2's
// byte-to-unicode table), then the merges are applied, lowest rank first, until none applies.
// Decoding maps the characters back to bytes (the result may end inside a UTF-8 sequence).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace ngcli {

class Gpt2Bpe {
 public:
  // vocab.json + merges.txt in `dir`, else tokenizer.json there (`dir` may also be the
  // tokenizer.json file itself).
  static Gpt2Bpe from_folder(const std::string& dir);
  static Gpt2Bpe from_files(const std::string& vocab_json, const std::string& merges_txt);
  static Gpt2Bpe from_tokenizer_json(const std::string& path);
  // The whole tokenizer as one JSON text (checkpoint metadata) and back, validated.
  std::string to_json() const;
  static Gpt2Bpe from_json(const std::string& text, const std::string& source);

  int64_t size() const { return (int64_t)tokens_.size(); }
  std::vector<int64_t> encode(const std::string& utf8) const;
  std::string decode(const std::vector<int64_t>& ids) const;
  const std::string& token(int64_t id) const { return tokens_.at((size_t)id); }
  const std::vector<std::string>& merges() const { return merges_; }  // in rank order

 private:
  // tokens: id -> token text (byte-mapped characters, UTF-8); merges: "left right" in rank order
  Gpt2Bpe(std::vector<std::string> tokens, std::vector<std::string> merges, bool add_prefix_space,
          const std::string& source);
  void encode_piece(const std::string& piece, std::vector<int64_t>& out) const;

  std::vector<std::string> tokens_, merges_;
  std::unordered_map<std::string, int64_t> ids_;
  std::unordered_map<std::string, int64_t> ranks_;  // "left right" -> rank
  std::vector<std::string> specials_;               // <|...|> tokens, split off before BPE
  bool add_prefix_space_ = false;
  std::shared_ptr<void> regex_;  // compiled pattern (pcre2_code), shared by copies
  mutable std::shared_ptr<std::unordered_map<std::string, std::vector<int64_t>>> cache_;
};

}  // namespace ngcli

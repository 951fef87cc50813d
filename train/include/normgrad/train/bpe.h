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
// Each round merges every occurrence of the lowest-ranked pair, left to right; the rounds run
// off a heap of candidate pairs over a linked list of symbols, so a piece of n bytes costs
// O(n log n), not a scan of the piece per merge.
// Decoding maps the characters back to bytes (the result may end inside a UTF-8 sequence).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
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
  // The same ids handed to `emit` one by one: a corpus is read where it lies (a mapped
  // file) and encoded without a copy of it or a vector of its ids.
  void encode(std::string_view utf8, const std::function<void(int64_t)>& emit) const;
  std::string decode(const std::vector<int64_t>& ids) const;
  const std::string& token(int64_t id) const { return tokens_.at((size_t)id); }
  const std::vector<std::string>& merges() const { return merges_; }  // in rank order
  // Work done so far by this object's encode calls: how many times the rank of an adjacent
  // pair was looked up (the unit of BPE's work; a piece of n bytes takes at most 3n).
  int64_t pair_lookups() const { return pair_lookups_; }

 private:
  // tokens: id -> token text (byte-mapped characters, UTF-8); merges: "left right" in rank order
  // vocab_source, merges_source: where they were read (named in errors).
  Gpt2Bpe(std::vector<std::string> tokens, std::vector<std::string> merges, bool add_prefix_space,
          const std::string& vocab_source, const std::string& merges_source);
  void encode_piece(std::string_view piece, const std::function<void(int64_t)>& emit) const;
  struct Merge {
    int32_t rank, merged;  // merged: the vocabulary id of left + right
  };
  const Merge* find_merge(int32_t left, int32_t right) const;

  std::vector<std::string> tokens_, merges_;
  std::unordered_map<std::string, int64_t> ids_;
  // Symbols are numbered: the vocabulary's ids, then the merges' parts that are not tokens
  // (ids from tokens_.size() on, texts in parts_). A byte whose character is neither has
  // no number (-1 in byte_symbol_) and takes part in no merge.
  std::vector<std::string> parts_;
  int32_t byte_symbol_[256] = {};
  std::unordered_map<uint64_t, Merge> pair_merges_;  // (left << 32 | right) -> first rank
  std::vector<std::string> specials_;                // <|...|> tokens, split off before BPE
  bool add_prefix_space_ = false;
  std::shared_ptr<void> regex_;  // compiled pattern (pcre2_code), shared by copies
  mutable std::shared_ptr<std::unordered_map<std::string, std::vector<int64_t>>> cache_;
  mutable int64_t pair_lookups_ = 0;
};

}  // namespace ngcli

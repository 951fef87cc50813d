// Text data for the normgrad command: a character-level tokenizer (Unicode code points),
// the built-in corpus, and seeded random batches of block_size tokens.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "normgrad/random.h"
#include "normgrad/tensor.h"
#include "normgrad/train/token_ids.h"

namespace ngcli {

class CharTokenizer {
 public:
  CharTokenizer() = default;
  // The vocabulary is every distinct code point of the texts, sorted (read in one pass,
  // nothing the size of a text is built).
  static CharTokenizer from_text(std::string_view utf8) { return from_texts({utf8}); }
  static CharTokenizer from_texts(const std::vector<std::string_view>& utf8);
  // Round trip through checkpoint metadata: the vocabulary as a UTF-8 string.
  static CharTokenizer from_vocab_string(const std::string& utf8_vocab);
  std::string vocab_string() const;
  int64_t size() const { return (int64_t)chars_.size(); }
  // Throws naming the first character that is not in the vocabulary.
  std::vector<int64_t> encode(const std::string& utf8) const;
  // The same ids handed to `emit` one by one (a corpus is encoded without a vector of them).
  void encode(std::string_view utf8, const std::function<void(int64_t)>& emit) const;
  std::string decode(const std::vector<int64_t>& ids) const;

 private:
  std::vector<char32_t> chars_;  // id -> code point, sorted
};

std::vector<char32_t> utf8_decode(std::string_view s, const std::string& source);
// The code point at byte i of s, and i moved past it; well-formed UTF-8 only, else an error
// naming `source` and the byte.
char32_t utf8_next(std::string_view s, size_t& i, const std::string& source);
// Checks that s is well-formed UTF-8 and counts its code points, without decoding into memory.
int64_t utf8_count(std::string_view s, const std::string& source);
std::string utf8_encode(const std::vector<char32_t>& cps);

// The built-in corpus: the English text files of Debian's `fortunes` package
// (/usr/share/games/fortunes, without the .dat/.u8 indexes), concatenated in name order.
std::string default_corpus_path_description();
std::string load_default_corpus();
// Reads a UTF-8 text file; missing, unreadable, empty or invalid files are clear errors.
std::string load_text(const std::string& path);

// A corpus's text, checked like load_text's: the file at `path` mapped (see MappedFile), or
// the built-in corpus when `path` is empty. Copies share it.
class CorpusText {
 public:
  explicit CorpusText(const std::string& path);
  std::string_view text() const { return text_; }

 private:
  std::shared_ptr<const void> keep_;  // the mapping, or the built-in corpus's string
  std::string_view text_;
};

// Token ids split 90/10 into train and validation; batches start at random offsets drawn
// from the batcher's own generator (its state goes into checkpoints for an exact resume).
class Batcher {
 public:
  // The ids are shared, not copied (a mapped token file stays a mapping).
  Batcher(const TokenIds& ids, int64_t block_size, uint64_t seed, double val_fraction = 0.1);
  // A validation set of its own (--val-data, nanoGPT's train.bin / val.bin): every id of
  // `train` is training data and every id of `val` validation data.
  Batcher(const TokenIds& train, const TokenIds& val, int64_t block_size, uint64_t seed);
  // x, y: int64 [batch, block_size]; y is x shifted by one. Offsets come from `gen`, or
  // from the batcher's own generator (training batches) when null.
  std::pair<ng::Tensor, ng::Tensor> batch(int64_t batch_size, bool validation,
                                          ng::Generator* gen = nullptr);
  // Draws the offsets of `batches` training batches of `batch_size` and drops them: the
  // generator ends where that many batch() calls would leave it, nothing else is built.
  void skip(int64_t batches, int64_t batch_size);
  int64_t train_tokens() const { return split_; }
  int64_t val_tokens() const { return val_.size(); }
  // The whole validation split as consecutive, non-overlapping windows of block_size
  // (window k starts at the split's token k * block_size): they predict every val token
  // but the first and the < block_size after the last whole window. The same for every
  // seed, so a reported val loss does not move with the seed's draw of batches.
  int64_t val_windows() const { return (val_tokens() - 1) / block_; }
  // Windows [first, first + count) as x, y [count, block_size].
  std::pair<ng::Tensor, ng::Tensor> val_window_batch(int64_t first, int64_t count) const;
  ng::Generator& generator() { return gen_; }

 private:
  int64_t draw_start(ng::Generator& gen, bool validation) const;  // one sequence's offset
  // Token i of the training ids followed by the validation ids (the offsets' numbering).
  int64_t at(int64_t i) const { return i < split_ ? train_[i] : val_[i - split_]; }
  TokenIds train_, val_;
  int64_t block_, split_;
  ng::Generator gen_;
};

// The unigram baseline: cross-entropy (nats per character) on the validation split of a
// model that knows only the training split's character frequencies (add-one smoothed, so a
// character unseen in training costs log(train count + vocab), not infinity). A language
// model whose val loss stays at this level has learned nothing beyond them.
double unigram_val_loss(const TokenIds& ids, int64_t vocab, double val_fraction = 0.1);
// The same with a validation set of its own (--val-data).
double unigram_val_loss(const TokenIds& train, const TokenIds& val, int64_t vocab);

}  // namespace ngcli

#include "normgrad/train/data.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "normgrad/error.h"
#include "normgrad/train/files.h"

namespace ngcli {
namespace fs = std::filesystem;
using ng::fail;

char32_t utf8_next(std::string_view s, size_t& i, const std::string& source) {
  // Well-formed UTF-8 only (Unicode 15, table 3-7): no overlong forms, no surrogates, nothing
  // above U+10FFFF; any of them would decode to a character that cannot be written back.
  static constexpr char32_t kMinOfLength[5] = {0, 0, 0x80, 0x800, 0x10000};
  const unsigned char c = (unsigned char)s[i];
  if (c < 0x80) return ++i, c;
  const int len = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len == 0) fail("data", source, ": invalid UTF-8 at byte ", i, " (lead byte ", (int)c, ")");
  if (i + len > s.size()) fail("data", source, ": truncated UTF-8 sequence at byte ", i);
  char32_t cp = c & (0x7f >> len);
  for (int k = 1; k < len; ++k) {
    const unsigned char cc = (unsigned char)s[i + k];
    if ((cc >> 6) != 2) fail("data", source, ": invalid UTF-8 at byte ", i + k);
    cp = (cp << 6) | (cc & 0x3f);
  }
  if (cp < kMinOfLength[len])
    fail("data", source, ": overlong UTF-8 form at byte ", i, " (", len, " bytes for U+", std::hex,
         (uint32_t)cp, ")");
  if (cp >= 0xD800 && cp <= 0xDFFF)
    fail("data", source, ": UTF-8 encoded surrogate U+", std::hex, (uint32_t)cp, std::dec,
         " at byte ", i);
  if (cp > 0x10FFFF)
    fail("data", source, ": code point U+", std::hex, (uint32_t)cp, std::dec,
         " above U+10FFFF at byte ", i);
  i += len;
  return cp;
}

std::vector<char32_t> utf8_decode(std::string_view s, const std::string& source) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) out.push_back(utf8_next(s, i, source));
  return out;
}

int64_t utf8_count(std::string_view s, const std::string& source) {
  int64_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) utf8_next(s, i, source);
  return n;
}

std::string utf8_encode(const std::vector<char32_t>& cps) {
  std::string s;
  for (char32_t c : cps) {
    if (c < 0x80) {
      s += (char)c;
    } else if (c < 0x800) {
      s += (char)(0xc0 | (c >> 6));
      s += (char)(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
      s += (char)(0xe0 | (c >> 12));
      s += (char)(0x80 | ((c >> 6) & 0x3f));
      s += (char)(0x80 | (c & 0x3f));
    } else {
      s += (char)(0xf0 | (c >> 18));
      s += (char)(0x80 | ((c >> 12) & 0x3f));
      s += (char)(0x80 | ((c >> 6) & 0x3f));
      s += (char)(0x80 | (c & 0x3f));
    }
  }
  return s;
}

CharTokenizer CharTokenizer::from_texts(const std::vector<std::string_view>& texts) {
  std::vector<bool> seen(0x110000);  // one bit per code point
  for (std::string_view t : texts)
    for (size_t i = 0; i < t.size();) seen[utf8_next(t, i, "text")] = true;
  CharTokenizer k;
  for (char32_t c = 0; c < (char32_t)seen.size(); ++c)
    if (seen[c]) k.chars_.push_back(c);
  return k;
}

CharTokenizer CharTokenizer::from_vocab_string(const std::string& v) {
  CharTokenizer t;
  t.chars_ = utf8_decode(v, "vocabulary");
  if (t.chars_.empty() || !std::is_sorted(t.chars_.begin(), t.chars_.end()) ||
      std::adjacent_find(t.chars_.begin(), t.chars_.end()) != t.chars_.end())
    fail("tokenizer", "vocabulary string must be non-empty, sorted and without repeats");
  return t;
}

std::string CharTokenizer::vocab_string() const { return utf8_encode(chars_); }

std::vector<int64_t> CharTokenizer::encode(const std::string& utf8) const {
  std::vector<int64_t> ids;
  encode(utf8, [&](int64_t id) { ids.push_back(id); });
  return ids;
}

void CharTokenizer::encode(std::string_view utf8, const std::function<void(int64_t)>& emit) const {
  for (size_t i = 0; i < utf8.size();) {
    const char32_t c = utf8_next(utf8, i, "text");
    auto it = std::lower_bound(chars_.begin(), chars_.end(), c);
    if (it == chars_.end() || *it != c)
      fail("tokenizer", "character U+", std::hex, (uint32_t)c, " is not in the ", std::dec,
           chars_.size(), "-character vocabulary");
    emit(it - chars_.begin());
  }
}

std::string CharTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::vector<char32_t> cps;
  for (int64_t i : ids) {
    if (i < 0 || i >= size())
      fail("tokenizer", "token id ", i, " out of range for vocabulary of ", size());
    cps.push_back(chars_[i]);
  }
  return utf8_encode(cps);
}

namespace {
const char* kFortunes = "/usr/share/games/fortunes";
}

std::string default_corpus_path_description() {
  return std::string(kFortunes) + "/* (Debian's fortunes package, .dat/.u8 excluded)";
}

std::string load_text(const std::string& path) { return std::string(CorpusText(path).text()); }

CorpusText::CorpusText(const std::string& path) {
  if (path.empty()) {
    auto text = std::make_shared<const std::string>(load_default_corpus());
    text_ = *text;
    keep_ = std::move(text);
    return;
  }
  const MappedFile file(path, kMaxCorpusBytes, "data");
  if (file.bytes().empty()) fail("data", path, " is empty");
  utf8_count(file.bytes(), path);  // validates
  keep_ = file.owner();
  text_ = file.bytes();
}

std::string load_default_corpus() {
  std::error_code ec;
  if (!fs::is_directory(kFortunes, ec))
    fail("data", "the default corpus ", kFortunes,
         " is missing: install Debian's 'fortunes' package (tools/setup.sh does) or pass --data "
         "FILE");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(kFortunes)) {
    const auto ext = e.path().extension();
    if (ext == ".dat" || ext == ".u8" || !fs::is_regular_file(e.path())) continue;
    files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::string all;
  for (const auto& p : files) {
    std::string t = load_text(p.string());
    all += t;
    if (!t.empty() && t.back() != '\n') all += '\n';
  }
  if (all.empty()) fail("data", "the default corpus in ", kFortunes, " is empty");
  return all;
}

Batcher::Batcher(const TokenIds& ids, int64_t block, uint64_t seed, double val_fraction)
    : block_(block), gen_(seed) {
  const int64_t n = ids.size();
  if (block_ <= 0 || !(val_fraction > 0 && val_fraction < 1))
    fail("data", "block_size must be > 0 and the validation fraction in (0, 1), got ", block_,
         " and ", val_fraction);
  split_ = (int64_t)((1.0 - val_fraction) * n);
  if (block_ > n || split_ < block_ + 2 || n - split_ < block_ + 2)
    fail("data", "text too short: ", n, " tokens cannot give train and validation sequences of ",
         "block_size ", block_, " (need at least ", std::ceil(((double)block_ + 2) / val_fraction),
         " tokens)");
  train_ = ids.slice(0, split_);
  val_ = ids.slice(split_, n);
}

Batcher::Batcher(const TokenIds& train, const TokenIds& val, int64_t block, uint64_t seed)
    : train_(train), val_(val), block_(block), split_(train.size()), gen_(seed) {
  // Offsets number the training ids, then the validation ids: the draws and windows of the
  // 90/10 split apply unchanged (no training window reaches past split_, see draw_start).
  if (block_ <= 0) fail("data", "block_size must be > 0, got ", block_);
  if (split_ < block_ + 2 || val.size() < block_ + 2)
    fail("data", "too short for block_size ", block_, ": ", split_, " training and ", val.size(),
         " validation tokens (each needs at least ", block_ + 2, ")");
}

std::pair<ng::Tensor, ng::Tensor> Batcher::batch(int64_t B, bool validation, ng::Generator* g) {
  ng::Generator& gen = g ? *g : gen_;
  int64_t tokens = 0;
  if (B <= 0 || __builtin_mul_overflow(B, block_, &tokens) || tokens > (int64_t)1 << 32)
    fail("data", "batch of ", B, " sequences of ", block_, " tokens is not a valid size");
  std::vector<int64_t> x(B * block_), y(B * block_);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t start = draw_start(gen, validation);
    for (int64_t t = 0; t < block_; ++t) {
      x[b * block_ + t] = at(start + t);
      y[b * block_ + t] = at(start + t + 1);
    }
  }
  return {ng::from_vector(x, {B, block_}), ng::from_vector(y, {B, block_})};
}

int64_t Batcher::draw_start(ng::Generator& gen, bool validation) const {
  const int64_t lo = validation ? split_ : 0, hi = validation ? split_ + val_.size() : split_;
  return gen.randint(lo, hi - block_ - 1);
}

void Batcher::skip(int64_t batches, int64_t batch_size) {
  for (int64_t k = 0; k < batches; ++k)
    for (int64_t b = 0; b < batch_size; ++b) draw_start(gen_, false);
}

std::pair<ng::Tensor, ng::Tensor> Batcher::val_window_batch(int64_t first, int64_t count) const {
  if (first < 0 || count <= 0 || first + count > val_windows())
    fail("data", "validation windows [", first, ", ", first + count, ") outside the split's ",
         val_windows());
  std::vector<int64_t> x(count * block_), y(count * block_);
  for (int64_t w = 0; w < count; ++w) {
    const int64_t start = split_ + (first + w) * block_;
    for (int64_t t = 0; t < block_; ++t) {
      x[w * block_ + t] = at(start + t);
      y[w * block_ + t] = at(start + t + 1);
    }
  }
  return {ng::from_vector(x, {count, block_}), ng::from_vector(y, {count, block_})};
}

namespace {
// Add-one smoothed unigram cross-entropy of `val` under the counts of `train`.
double unigram_after(const TokenIds& train, const TokenIds& val, int64_t vocab) {
  if (train.empty() || val.empty())
    ng::fail("unigram", "corpus of ", train.size() + val.size(), " tokens has no val split");
  std::vector<double> count(vocab, 1.0);  // add-one
  for (int64_t i = 0; i < train.size(); ++i) count.at(train[i]) += 1;
  const double total = (double)train.size() + (double)vocab;
  double nll = 0;
  for (int64_t i = 0; i < val.size(); ++i) nll -= std::log(count.at(val[i]) / total);
  return nll / (double)val.size();
}
}  // namespace

double unigram_val_loss(const TokenIds& ids, int64_t vocab, double val_fraction) {
  const int64_t split = (int64_t)((1.0 - val_fraction) * (double)ids.size());
  if (split < 1 || split >= ids.size())
    ng::fail("unigram", "corpus of ", ids.size(), " tokens has no val split");
  return unigram_after(ids.slice(0, split), ids.slice(split, ids.size()), vocab);
}

double unigram_val_loss(const TokenIds& train, const TokenIds& val, int64_t vocab) {
  return unigram_after(train, val, vocab);
}

}  // namespace ngcli

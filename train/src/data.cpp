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

std::vector<char32_t> utf8_decode(const std::string& s, const std::string& source) {
  // Well-formed UTF-8 only (Unicode 15, table 3-7): no overlong forms, no surrogates, nothing
  // above U+10FFFF; any of them would decode to a character that cannot be written back.
  static constexpr char32_t kMinOfLength[5] = {0, 0, 0x80, 0x800, 0x10000};
  std::vector<char32_t> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = (unsigned char)s[i];
    const int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0) fail("data", source, ": invalid UTF-8 at byte ", i, " (lead byte ", (int)c, ")");
    if (i + len > s.size()) fail("data", source, ": truncated UTF-8 sequence at byte ", i);
    char32_t cp = len == 1 ? c : c & (0x7f >> len);
    for (int k = 1; k < len; ++k) {
      const unsigned char cc = (unsigned char)s[i + k];
      if ((cc >> 6) != 2) fail("data", source, ": invalid UTF-8 at byte ", i + k);
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < kMinOfLength[len])
      fail("data", source, ": overlong UTF-8 form at byte ", i, " (", len, " bytes for U+",
           std::hex, (uint32_t)cp, ")");
    if (cp >= 0xD800 && cp <= 0xDFFF)
      fail("data", source, ": UTF-8 encoded surrogate U+", std::hex, (uint32_t)cp, std::dec,
           " at byte ", i);
    if (cp > 0x10FFFF)
      fail("data", source, ": code point U+", std::hex, (uint32_t)cp, std::dec,
           " above U+10FFFF at byte ", i);
    out.push_back(cp);
    i += len;
  }
  return out;
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

CharTokenizer CharTokenizer::from_text(const std::string& utf8) {
  const auto cps = utf8_decode(utf8, "text");
  std::set<char32_t> uniq(cps.begin(), cps.end());
  CharTokenizer t;
  t.chars_.assign(uniq.begin(), uniq.end());
  return t;
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
  for (char32_t c : utf8_decode(utf8, "text")) {
    auto it = std::lower_bound(chars_.begin(), chars_.end(), c);
    if (it == chars_.end() || *it != c)
      fail("tokenizer", "character U+", std::hex, (uint32_t)c, " is not in the ", std::dec,
           chars_.size(), "-character vocabulary");
    ids.push_back(it - chars_.begin());
  }
  return ids;
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

std::string load_text(const std::string& path) {
  std::string text = read_regular_file(path, kMaxCorpusBytes, "data");
  if (text.empty()) fail("data", path, " is empty");
  utf8_decode(text, path);  // validates
  return text;
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

Batcher::Batcher(std::vector<int64_t> ids, int64_t block, uint64_t seed, double val_fraction)
    : ids_(std::move(ids)), block_(block), gen_(seed) {
  const int64_t n = (int64_t)ids_.size();
  if (block_ <= 0 || !(val_fraction > 0 && val_fraction < 1))
    fail("data", "block_size must be > 0 and the validation fraction in (0, 1), got ", block_,
         " and ", val_fraction);
  split_ = (int64_t)((1.0 - val_fraction) * n);
  if (block_ > n || split_ < block_ + 2 || n - split_ < block_ + 2)
    fail("data", "text too short: ", n, " tokens cannot give train and validation sequences of ",
         "block_size ", block_, " (need at least ", std::ceil(((double)block_ + 2) / val_fraction),
         " tokens)");
}

Batcher::Batcher(std::vector<int64_t> train, const std::vector<int64_t>& val, int64_t block,
                 uint64_t seed)
    : ids_(std::move(train)), block_(block), split_((int64_t)ids_.size()), gen_(seed) {
  // One array, the validation ids after the training ids: the draws and windows of the
  // 90/10 split apply unchanged (no training window reaches past split_, see draw_start).
  if (block_ <= 0) fail("data", "block_size must be > 0, got ", block_);
  if (split_ < block_ + 2 || (int64_t)val.size() < block_ + 2)
    fail("data", "too short for block_size ", block_, ": ", split_, " training and ", val.size(),
         " validation tokens (each needs at least ", block_ + 2, ")");
  ids_.insert(ids_.end(), val.begin(), val.end());
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
      x[b * block_ + t] = ids_[start + t];
      y[b * block_ + t] = ids_[start + t + 1];
    }
  }
  return {ng::from_vector(x, {B, block_}), ng::from_vector(y, {B, block_})};
}

int64_t Batcher::draw_start(ng::Generator& gen, bool validation) const {
  const int64_t lo = validation ? split_ : 0, hi = validation ? (int64_t)ids_.size() : split_;
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
      x[w * block_ + t] = ids_[start + t];
      y[w * block_ + t] = ids_[start + t + 1];
    }
  }
  return {ng::from_vector(x, {count, block_}), ng::from_vector(y, {count, block_})};
}

namespace {
// Add-one smoothed unigram cross-entropy of ids [split, end) under the counts of [0, split).
double unigram_after(const std::vector<int64_t>& ids, int64_t split, int64_t vocab) {
  const int64_t n = (int64_t)ids.size();
  if (split < 1 || split >= n) ng::fail("unigram", "corpus of ", n, " tokens has no val split");
  std::vector<double> count(vocab, 1.0);  // add-one
  for (int64_t i = 0; i < split; ++i) count.at(ids[i]) += 1;
  const double total = (double)split + (double)vocab;
  double nll = 0;
  for (int64_t i = split; i < n; ++i) nll -= std::log(count.at(ids[i]) / total);
  return nll / (double)(n - split);
}
}  // namespace

double unigram_val_loss(const std::vector<int64_t>& ids, int64_t vocab, double val_fraction) {
  return unigram_after(ids, (int64_t)((1.0 - val_fraction) * (double)ids.size()), vocab);
}

double unigram_val_loss(const std::vector<int64_t>& train, const std::vector<int64_t>& val,
                        int64_t vocab) {
  std::vector<int64_t> all = train;
  all.insert(all.end(), val.begin(), val.end());
  return unigram_after(all, (int64_t)train.size(), vocab);
}

}  // namespace ngcli

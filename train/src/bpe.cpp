#include "normgrad/train/bpe.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "normgrad/error.h"
#include "normgrad/train/data.h"
#include "normgrad/train/files.h"

namespace ngcli {
namespace {

using json = nlohmann::json;
using ng::fail;
constexpr uint64_t kMaxTokenizerBytes = 256ull << 20;
constexpr size_t kMaxCachedPieces = 1 << 18;  // about 40 MB of pieces and their ids
constexpr const char* kPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// GPT-2's byte -> printable character table: printable Latin-1 bytes map to themselves, the
// other 68 bytes to U+0100 upwards in byte order.
const std::vector<std::string>& byte_to_text() {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t(256);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      t[b] = utf8_encode({(char32_t)(printable ? b : next++)});
    }
    return t;
  }();
  return table;
}
const std::unordered_map<char32_t, uint8_t>& text_to_byte() {
  static const std::unordered_map<char32_t, uint8_t> table = [] {
    std::unordered_map<char32_t, uint8_t> t;
    for (int b = 0; b < 256; ++b) t[utf8_decode(byte_to_text()[b], "bpe")[0]] = (uint8_t)b;
    return t;
  }();
  return table;
}

json parse_json(const std::string& text, const std::string& source) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    fail("bpe", source, ": not valid JSON (", e.what(), ")");
  }
}

bool is_special(const std::string& t) {
  return t.size() >= 4 && t.rfind("<|", 0) == 0 && t.compare(t.size() - 2, 2, "|>") == 0;
}

// A byte-level vocabulary spells every byte as one of the 256 characters of byte_to_text
// (space is U+0120 'Ġ'): a token with any other character could be trained on (its id is
// just a number) but never decoded back into bytes, so `sample` would fail after training.
// Refused where the vocabulary is read, naming the file, the token and the character (both
// JSON-escaped: a newline in them must not split the one-line error).
void check_byte_level(const std::string& token, size_t id, const std::string& source) {
  for (char32_t c : utf8_decode(token, source))
    if (!text_to_byte().count(c)) {
      char code[16];
      std::snprintf(code, sizeof code, "U+%04X", (unsigned)c);
      fail("bpe", source, ": token ", id, " ", json(token).dump(), " holds ",
           json(utf8_encode({c})).dump(), " (", code,
           "), a character outside GPT-2's byte table: a byte-level BPE spells every byte as "
           "one of 256 characters (a space is U+0120), so this token could never be decoded");
    }
}

}  // namespace

Gpt2Bpe::Gpt2Bpe(std::vector<std::string> tokens, std::vector<std::string> merges,
                 bool add_prefix_space, const std::string& vocab_source,
                 const std::string& merges_source)
    : tokens_(std::move(tokens)), merges_(std::move(merges)), add_prefix_space_(add_prefix_space) {
  if (tokens_.empty()) fail("bpe", vocab_source, ": empty vocabulary");
  if (tokens_.size() > (1u << 24)) fail("bpe", vocab_source, ": more than 2^24 tokens");
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i].empty()) fail("bpe", vocab_source, ": token ", i, " is empty");
    utf8_count(tokens_[i], vocab_source + " token " + std::to_string(i));
    if (!ids_.emplace(tokens_[i], (int64_t)i).second)
      fail("bpe", vocab_source, ": token '", tokens_[i], "' appears twice");
    if (is_special(tokens_[i]))
      specials_.push_back(tokens_[i]);
    else
      check_byte_level(tokens_[i], i, vocab_source);
  }
  if (merges_.size() > (size_t)INT32_MAX) fail("bpe", merges_source, ": more than 2^31 merges");
  // Number every merge part: a token by its id, any other text after the vocabulary.
  std::unordered_map<std::string, int32_t> part_symbols;
  auto symbol_of = [&](const std::string& text) {
    auto t = ids_.find(text);
    if (t != ids_.end()) return (int32_t)t->second;
    auto [p, added] = part_symbols.emplace(text, (int32_t)(tokens_.size() + parts_.size()));
    if (added) parts_.push_back(text);
    return p->second;
  };
  for (size_t r = 0; r < merges_.size(); ++r) {
    const std::string& m = merges_[r];
    const size_t sp = m.find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 >= m.size() ||
        m.find(' ', sp + 1) != std::string::npos)
      fail("bpe", merges_source, ": merge ", r + 1, " '", m,
           "' is not two symbols separated by a space");
    auto merged = ids_.find(m.substr(0, sp) + m.substr(sp + 1));
    if (merged == ids_.end())
      fail("bpe", merges_source, ": merge ", r + 1, " '", m,
           "' makes a token that is not in the vocabulary");
    const uint64_t key = (uint64_t)(uint32_t)symbol_of(m.substr(0, sp)) << 32 |
                         (uint32_t)symbol_of(m.substr(sp + 1));
    pair_merges_.emplace(key, Merge{(int32_t)r, (int32_t)merged->second});  // first rank kept
  }
  for (int b = 0; b < 256; ++b) {
    auto t = ids_.find(byte_to_text()[b]);
    auto p = part_symbols.find(byte_to_text()[b]);
    byte_symbol_[b] = t != ids_.end()           ? (int32_t)t->second
                      : p != part_symbols.end() ? p->second
                                                : -1;
  }
  int code = 0;
  PCRE2_SIZE at = 0;
  pcre2_code* re = pcre2_compile((PCRE2_SPTR)kPattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                                 &code, &at, nullptr);
  if (!re) fail("bpe", "cannot compile GPT-2's pattern (PCRE2 error ", code, ")");
  regex_ = std::shared_ptr<void>(re, [](void* p) { pcre2_code_free((pcre2_code*)p); });
  cache_ = std::make_shared<std::unordered_map<std::string, std::vector<int64_t>>>();
}

Gpt2Bpe Gpt2Bpe::from_files(const std::string& vocab_json, const std::string& merges_txt) {
  const json v = parse_json(read_regular_file(vocab_json, kMaxTokenizerBytes, "vocab"), vocab_json);
  if (!v.is_object()) fail("bpe", vocab_json, ": must be a JSON object token -> id");
  std::vector<std::string> tokens(v.size());
  std::vector<bool> seen(v.size());
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it.value().is_number_integer())
      fail("bpe", vocab_json, ": the id of '", it.key(), "' is not an integer");
    const int64_t id = it.value().get<int64_t>();
    if (id < 0 || id >= (int64_t)v.size() || seen[(size_t)id])
      fail("bpe", vocab_json, ": ids must be 0..", v.size() - 1, " each once; '", it.key(),
           "' has ", id);
    seen[(size_t)id] = true;
    tokens[(size_t)id] = it.key();
  }
  const std::string text = read_regular_file(merges_txt, kMaxTokenizerBytes, "merges");
  std::vector<std::string> merges;
  size_t start = 0;
  for (size_t line = 1; start < text.size(); ++line) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string l = text.substr(start, end - start);
    if (!l.empty() && l.back() == '\r') l.pop_back();
    start = end + 1;
    if (l.empty() || (line == 1 && l.rfind("#version", 0) == 0)) continue;
    merges.push_back(l);
  }
  return Gpt2Bpe(std::move(tokens), std::move(merges), false, vocab_json, merges_txt);
}

Gpt2Bpe Gpt2Bpe::from_tokenizer_json(const std::string& path) {
  const json j = parse_json(read_regular_file(path, kMaxTokenizerBytes, "tokenizer"), path);
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
    fail("bpe", path, ": no 'model' object");
  const json& m = j["model"];
  if (!m.contains("type") || m["type"] != "BPE") fail("bpe", path, ": model type must be BPE");
  // The pre-tokenizer must be ByteLevel (alone or in a sequence); its add_prefix_space is used.
  bool byte_level = false, prefix = false;
  std::vector<json> pres;
  if (j.contains("pre_tokenizer") && j["pre_tokenizer"].is_object()) {
    pres.push_back(j["pre_tokenizer"]);
    if (j["pre_tokenizer"].contains("pretokenizers") &&
        j["pre_tokenizer"]["pretokenizers"].is_array())
      for (const json& p : j["pre_tokenizer"]["pretokenizers"]) pres.push_back(p);
  }
  for (const json& p : pres)
    if (p.is_object() && p.value("type", "") == "ByteLevel") {
      byte_level = true;
      prefix = p.value("add_prefix_space", false);
    }
  if (!byte_level) fail("bpe", path, ": the pre-tokenizer must be ByteLevel (GPT-2's)");
  if (!m.contains("vocab") || !m["vocab"].is_object()) fail("bpe", path, ": no model.vocab");
  std::map<int64_t, std::string> by_id;
  for (auto it = m["vocab"].begin(); it != m["vocab"].end(); ++it) {
    if (!it.value().is_number_integer())
      fail("bpe", path, ": id of '", it.key(), "' is not an integer");
    by_id[it.value().get<int64_t>()] = it.key();
  }
  if (j.contains("added_tokens") && j["added_tokens"].is_array())
    for (const json& a : j["added_tokens"])
      if (a.is_object() && a.contains("id") && a["id"].is_number_integer() &&
          a.contains("content") && a["content"].is_string())
        by_id[a["id"].get<int64_t>()] = a["content"].get<std::string>();
  std::vector<std::string> tokens;
  for (auto& [id, t] : by_id) {
    if (id != (int64_t)tokens.size())
      fail("bpe", path, ": ids must be 0..N-1, missing ", tokens.size());
    tokens.push_back(t);
  }
  std::vector<std::string> merges;
  if (m.contains("merges") && m["merges"].is_array())
    for (const json& x : m["merges"]) {
      if (x.is_string())
        merges.push_back(x.get<std::string>());
      else if (x.is_array() && x.size() == 2 && x[0].is_string() && x[1].is_string())
        merges.push_back(x[0].get<std::string>() + " " + x[1].get<std::string>());
      else
        fail("bpe", path, ": a merge is neither \"a b\" nor [\"a\", \"b\"]");
    }
  return Gpt2Bpe(std::move(tokens), std::move(merges), prefix, path, path);
}

Gpt2Bpe Gpt2Bpe::from_folder(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(dir, ec)) return from_tokenizer_json(dir);
  if (fs::is_regular_file(dir + "/vocab.json", ec) && fs::is_regular_file(dir + "/merges.txt", ec))
    return from_files(dir + "/vocab.json", dir + "/merges.txt");
  if (fs::is_regular_file(dir + "/tokenizer.json", ec))
    return from_tokenizer_json(dir + "/tokenizer.json");
  fail("bpe", dir, " has neither vocab.json + merges.txt nor tokenizer.json");
}

std::string Gpt2Bpe::to_json() const {
  return json{{"kind", "gpt2-bpe"},
              {"tokens", tokens_},
              {"merges", merges_},
              {"add_prefix_space", add_prefix_space_}}
      .dump();
}

Gpt2Bpe Gpt2Bpe::from_json(const std::string& text, const std::string& source) {
  const json j = parse_json(text, source);
  if (!j.is_object() || j.value("kind", "") != "gpt2-bpe" || !j.contains("tokens") ||
      !j["tokens"].is_array() || !j.contains("merges") || !j["merges"].is_array() ||
      !j.contains("add_prefix_space") || !j["add_prefix_space"].is_boolean())
    fail("bpe", source, ": needs kind gpt2-bpe, tokens, merges and add_prefix_space");
  std::vector<std::string> tokens, merges;
  for (const json& t : j["tokens"]) {
    if (!t.is_string()) fail("bpe", source, ": a token is not a string");
    tokens.push_back(t.get<std::string>());
  }
  for (const json& m : j["merges"]) {
    if (!m.is_string()) fail("bpe", source, ": a merge is not a string");
    merges.push_back(m.get<std::string>());
  }
  return Gpt2Bpe(std::move(tokens), std::move(merges), j["add_prefix_space"].get<bool>(), source,
                 source);
}

const Gpt2Bpe::Merge* Gpt2Bpe::find_merge(int32_t left, int32_t right) const {
  if (left < 0 || right < 0) return nullptr;
  ++pair_lookups_;
  auto m = pair_merges_.find((uint64_t)(uint32_t)left << 32 | (uint32_t)right);
  return m == pair_merges_.end() ? nullptr : &m->second;
}

namespace {
struct Symbol {
  int32_t id, prev, next;  // prev, next: neighbours' indexes in the piece, -1 at the ends
  bool alive;              // false once merged into its left neighbour
};
// An adjacent pair whose merge has `rank`, as it was when found: stale once either side
// changed (the ids of symbols only grow, so a changed side never looks the same again).
struct Candidate {
  int32_t rank, left, right, left_id, right_id, merged;
  bool operator>(const Candidate& o) const {
    return rank != o.rank ? rank > o.rank : left > o.left;  // lowest rank, then leftmost
  }
};
}  // namespace

// One pre-tokenized piece: bytes -> characters -> merges by rank -> ids. Every round takes
// the lowest rank among the adjacent pairs and merges its occurrences left to right (a run
// "a a a" gives "aa a"); the pairs that round creates wait until it ends.
void Gpt2Bpe::encode_piece(std::string_view piece, const std::function<void(int64_t)>& emit) const {
  std::string key(piece);
  auto hit = cache_->find(key);
  if (hit != cache_->end()) {
    for (int64_t id : hit->second) emit(id);
    return;
  }
  const int32_t n = (int32_t)piece.size();  // pieces come from a text under 2^31 bytes
  std::vector<Symbol> sym((size_t)n);
  for (int32_t i = 0; i < n; ++i)
    sym[(size_t)i] = {byte_symbol_[(uint8_t)piece[(size_t)i]], i - 1, i + 1 < n ? i + 1 : -1, true};
  std::vector<Candidate> heap, created;
  auto consider = [&](int32_t left, std::vector<Candidate>& into) {
    const int32_t right = sym[(size_t)left].next;
    if (right < 0) return;
    const Symbol &l = sym[(size_t)left], &r = sym[(size_t)right];
    if (const Merge* m = find_merge(l.id, r.id))
      into.push_back({m->rank, left, right, l.id, r.id, m->merged});
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i, heap);
  std::make_heap(heap.begin(), heap.end(), std::greater<>());
  while (!heap.empty()) {
    const int32_t rank = heap.front().rank;
    while (!heap.empty() && heap.front().rank == rank) {
      std::pop_heap(heap.begin(), heap.end(), std::greater<>());
      const Candidate c = heap.back();
      heap.pop_back();
      Symbol& l = sym[(size_t)c.left];
      if (!l.alive || l.id != c.left_id || l.next != c.right ||
          sym[(size_t)c.right].id != c.right_id)
        continue;
      l.id = c.merged;
      sym[(size_t)c.right].alive = false;
      l.next = sym[(size_t)c.right].next;
      if (l.next >= 0) sym[(size_t)l.next].prev = c.left;
      if (l.prev >= 0) consider(l.prev, created);
      consider(c.left, created);
    }
    for (const Candidate& c : created) {
      heap.push_back(c);
      std::push_heap(heap.begin(), heap.end(), std::greater<>());
    }
    created.clear();
  }
  std::vector<int64_t> ids;
  for (int32_t i = 0; i >= 0 && i < n; i = sym[(size_t)i].next) {
    const int32_t id = sym[(size_t)i].id;
    if (id < 0 || id >= size()) {
      const std::string& text =
          id < 0 ? byte_to_text()[(uint8_t)piece[(size_t)i]] : parts_[(size_t)id - tokens_.size()];
      fail("bpe", "the symbol '", text, "' of '", piece, "' is not in the vocabulary");
    }
    ids.push_back(id);
  }
  for (int64_t id : ids) emit(id);
  // Bounded: the frequent pieces come early; a corpus of rare ones must not grow it without end.
  if (cache_->size() < kMaxCachedPieces) cache_->emplace(std::move(key), std::move(ids));
}

std::vector<int64_t> Gpt2Bpe::encode(const std::string& utf8) const {
  std::vector<int64_t> out;
  encode(utf8, [&](int64_t id) { out.push_back(id); });
  return out;
}

void Gpt2Bpe::encode(std::string_view utf8, const std::function<void(int64_t)>& emit) const {
  utf8_count(utf8, "bpe input");  // valid UTF-8 only, with the offending offset named
  auto* re = (pcre2_code*)regex_.get();
  std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> md(
      pcre2_match_data_create_from_pattern(re, nullptr), pcre2_match_data_free);
  // GPT-2's pattern at byte `at` of `text`: the end of the piece that starts there.
  auto match = [&](std::string_view text, size_t at) {
    const int rc = pcre2_match(re, (PCRE2_SPTR)text.data(), text.size(), at, PCRE2_NO_UTF_CHECK,
                               md.get(), nullptr);
    if (rc < 0) fail("bpe", "the pattern matched nothing at byte ", at, " (PCRE2 error ", rc, ")");
    const PCRE2_SIZE* v = pcre2_get_ovector_pointer(md.get());
    if (v[1] <= at) fail("bpe", "empty match at byte ", at);
    return (size_t)v[1];
  };
  auto split = [&](std::string_view text, size_t at) {
    for (size_t end; at < text.size(); at = end) {
      end = match(text, at);
      encode_piece(text.substr(at, end - at), emit);
    }
  };
  // add_prefix_space: the pieces of " " + the first segment, without copying the segment.
  // The pattern looks back at nothing, so after the first piece (read from a prefixed copy
  // of the segment's start, long enough that the piece ends 4 bytes, one character, before
  // the copy does) the pieces are the segment's own from that point on.
  auto split_prefixed = [&](std::string_view text) {
    for (size_t take = 256;; take *= 2) {
      std::string head(1, ' ');  // (GCC 12 warns on " " + a string)
      head.append(text.substr(0, take));
      if (take >= text.size()) return split(head, 0);
      const size_t end = match(head, 0);
      if (end + 4 <= head.size()) {
        encode_piece(std::string_view(head).substr(0, end), emit);
        return split(text, end - 1);
      }
    }
  };
  const bool prefix = add_prefix_space_ && !utf8.empty() && utf8[0] != ' ';
  // Special tokens are cut out first and encoded as themselves (the longest of those at the
  // same place); each one's next place is looked for again only once passed.
  std::vector<size_t> next_of(specials_.size());
  std::vector<bool> looked(specials_.size());
  for (size_t at = 0, segment = 0; at < utf8.size(); ++segment) {
    size_t next = std::string_view::npos;
    const std::string* which = nullptr;
    for (size_t k = 0; k < specials_.size(); ++k) {
      if (!looked[k] || (next_of[k] != std::string_view::npos && next_of[k] < at))
        next_of[k] = utf8.find(specials_[k], at), looked[k] = true;
      const size_t p = next_of[k];
      if (p < next || (p == next && which && specials_[k].size() > which->size()))
        next = p, which = &specials_[k];
    }
    const std::string_view text =
        utf8.substr(at, next == std::string_view::npos ? std::string_view::npos : next - at);
    if (prefix && segment == 0)
      split_prefixed(text);
    else
      split(text, 0);
    if (!which) break;
    emit(ids_.at(*which));
    at = next + which->size();
  }
}

std::string Gpt2Bpe::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (int64_t id : ids) {
    if (id < 0 || id >= size()) fail("bpe", "token id ", id, " is outside [0, ", size(), ")");
    const std::string& t = tokens_[(size_t)id];
    if (is_special(t)) {
      out += t;
      continue;
    }
    for (char32_t c : utf8_decode(t, "bpe token")) {
      auto b = text_to_byte().find(c);
      if (b == text_to_byte().end())
        fail("bpe", "token ", id, " holds a character outside GPT-2's byte table");
      out.push_back((char)b->second);
    }
  }
  return out;
}

}  // namespace ngcli

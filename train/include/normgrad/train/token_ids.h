// A corpus's token ids as they are kept in memory: each id in the narrowest unsigned width
// its vocabulary fits (1 byte up to 256 tokens, 2 up to 65536, else 4), in a read-only
// mapping of a token file or in a buffer that encoding filled. A 100 MB text costs 100 MB of
// ids at 1 byte each, not 800 MB of int64; a token file costs no copy at all.
//
//   TokenIdsBuilder b(vocab_size, max_count);   // room reserved, pages taken as they fill
//   b.push(7);
//   TokenIds ids = b.finish();                  // ids[0] == 7, ids.size() == 1
//
// Copies and slices share the storage (read-only), which lives while one of them does.
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace ngcli {

// The bytes per id for a vocabulary of `vocab` tokens: 1, 2 or 4.
int id_width(int64_t vocab);

class TokenIds {
 public:
  TokenIds() = default;
  // A copy of `ids` (each in [0, 2^32)) at the narrowest width that holds the largest.
  TokenIds(const std::vector<int64_t>& ids);  // NOLINT: implicit, vectors are ids too
  // `count` ids of `width` bytes (2 or 4, little-endian) at `data`, kept alive by `owner`.
  TokenIds(std::shared_ptr<const void> owner, const uint8_t* data, int width, int64_t count);

  int64_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  int width() const { return width_; }
  int64_t operator[](int64_t i) const {
    if (width_ == 1) return data_[i];
    if (width_ == 2) {
      uint16_t v;
      std::memcpy(&v, data_ + 2 * i, 2);
      return v;
    }
    uint32_t v;
    std::memcpy(&v, data_ + 4 * i, 4);
    return v;
  }
  // Ids [begin, end) sharing this storage.
  TokenIds slice(int64_t begin, int64_t end) const;
  std::vector<int64_t> to_vector() const;

 private:
  std::shared_ptr<const void> owner_;
  const uint8_t* data_ = nullptr;
  int width_ = 1;
  int64_t count_ = 0;
};

// Fills ids one at a time into room for `max_count` reserved up front as address space
// only: memory is taken page by page as ids arrive and the unused rest is given back by
// finish(), so an upper bound (a text's byte count) costs nothing and the ids are never
// copied into a larger buffer as a growing vector would.
class TokenIdsBuilder {
 public:
  TokenIdsBuilder(int64_t vocab, int64_t max_count);
  TokenIdsBuilder(const TokenIdsBuilder&) = delete;
  TokenIdsBuilder& operator=(const TokenIdsBuilder&) = delete;
  ~TokenIdsBuilder();
  void push(int64_t id);  // id in [0, vocab); more than max_count ids is an error
  int64_t size() const { return count_; }
  TokenIds finish();  // the builder is empty afterwards

 private:
  uint8_t* data_ = nullptr;
  size_t reserved_ = 0;  // bytes of address space
  int width_ = 1;
  int64_t vocab_ = 0, max_count_ = 0, count_ = 0;
};

}  // namespace ngcli

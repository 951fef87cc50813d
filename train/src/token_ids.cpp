#include "normgrad/train/token_ids.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "normgrad/error.h"

namespace ngcli {
using ng::fail;

int id_width(int64_t vocab) { return vocab <= 256 ? 1 : vocab <= 65536 ? 2 : 4; }

TokenIds::TokenIds(const std::vector<int64_t>& ids) {
  int64_t top = 0;
  for (int64_t id : ids) {
    if (id < 0 || id > (int64_t)UINT32_MAX) fail("data", "token id ", id, " is outside [0, 2^32)");
    top = std::max(top, id);
  }
  TokenIdsBuilder b(top + 1, (int64_t)ids.size());
  for (int64_t id : ids) b.push(id);
  *this = b.finish();
}

TokenIds::TokenIds(std::shared_ptr<const void> owner, const uint8_t* data, int width, int64_t count)
    : owner_(std::move(owner)), data_(data), width_(width), count_(count) {
  if (width != 1 && width != 2 && width != 4) fail("data", "token width ", width, " bytes");
}

TokenIds TokenIds::slice(int64_t begin, int64_t end) const {
  if (begin < 0 || end < begin || end > count_)
    fail("data", "token ids [", begin, ", ", end, ") outside [0, ", count_, ")");
  TokenIds t = *this;
  t.data_ = data_ ? data_ + (size_t)begin * (size_t)width_ : nullptr;
  t.count_ = end - begin;
  return t;
}

std::vector<int64_t> TokenIds::to_vector() const {
  std::vector<int64_t> v((size_t)count_);
  for (int64_t i = 0; i < count_; ++i) v[(size_t)i] = (*this)[i];
  return v;
}

TokenIdsBuilder::TokenIdsBuilder(int64_t vocab, int64_t max_count)
    : width_(id_width(vocab)), vocab_(vocab), max_count_(max_count) {
  if (vocab < 1 || vocab > (int64_t)UINT32_MAX + 1 || max_count < 0)
    fail("data", "token buffer for a vocabulary of ", vocab, " and ", max_count, " ids");
  reserved_ = std::max<size_t>((size_t)max_count * (size_t)width_, 1);
  // Address space only (MAP_NORESERVE): untouched pages take no memory.
  void* p = ::mmap(nullptr, reserved_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    fail("data", "cannot reserve ", reserved_, " bytes for ", max_count, " token ids");
  data_ = (uint8_t*)p;
}

TokenIdsBuilder::~TokenIdsBuilder() {
  if (data_) ::munmap(data_, reserved_);
}

void TokenIdsBuilder::push(int64_t id) {
  if (count_ >= max_count_) fail("data", "more than the ", max_count_, " token ids reserved");
  if (id < 0 || id >= vocab_)
    fail("data", "token id ", id, " is outside the vocabulary of ", vocab_);
  const uint32_t v = (uint32_t)id;
  std::memcpy(data_ + (size_t)count_ * (size_t)width_, &v, (size_t)width_);  // little-endian
  ++count_;
}

TokenIds TokenIdsBuilder::finish() {
  // The pages past the last id go back; the rest become the ids' read-only storage.
  const size_t page = (size_t)::sysconf(_SC_PAGESIZE);
  const size_t used =
      std::max<size_t>(((size_t)count_ * (size_t)width_ + page - 1) / page * page, page);
  if (used < reserved_) ::munmap(data_ + used, reserved_ - used);
  uint8_t* data = data_;
  data_ = nullptr;
  const size_t n = std::min(used, reserved_);
  std::shared_ptr<const void> owner(data, [n](const void* p) { ::munmap((void*)p, n); });
  TokenIds ids(std::move(owner), data, width_, count_);
  count_ = max_count_ = 0;
  return ids;
}

}  // namespace ngcli

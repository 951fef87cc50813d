// Files the normgrad command reads and folders it writes, checked before they are used.
#pragma once
#include <cstdint>
#include <string>

namespace ngcli {

// The largest text corpus read (bytes): the token ids take 8x this in memory.
constexpr uint64_t kMaxCorpusBytes = 1ull << 30;

// The whole file at `path`, which must be a regular file (not a device, FIFO or folder) of
// at most max_bytes; `what` names it in errors ("data", "checkpoint").
std::string read_regular_file(const std::string& path, uint64_t max_bytes, const char* what);

// Creates `dir` (and parents) if needed and proves it writable by creating and removing a
// file in it: a read-only or full place fails here, before any training step, not later.
void ensure_writable_dir(const std::string& dir, const char* what);

}  // namespace ngcli

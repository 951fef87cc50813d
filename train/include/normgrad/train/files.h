// Files the normgrad command reads and folders it writes, checked before they are used.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ngcli {

// The largest corpus (text or token file) read, in bytes.
constexpr uint64_t kMaxCorpusBytes = 1ull << 30;

// The whole file at `path`, which must be a regular file (not a device, FIFO or folder) of
// at most max_bytes; `what` names it in errors ("data", "checkpoint").
std::string read_regular_file(const std::string& path, uint64_t max_bytes, const char* what);

// The same file, checked alike, mapped read-only instead of read: its pages are the page
// cache's, loaded as they are touched and dropped by the kernel when memory is short, so a
// corpus of 1 GB costs no 1 GB of this process's own memory. Copies share the mapping,
// which lives while one of them does.
class MappedFile {
 public:
  MappedFile() = default;
  MappedFile(const std::string& path, uint64_t max_bytes, const char* what);
  std::string_view bytes() const { return {data_, size_}; }
  // Keeps the mapping alive (for views into it that outlive this object).
  const std::shared_ptr<const void>& owner() const { return map_; }

 private:
  std::shared_ptr<const void> map_;
  const char* data_ = "";
  size_t size_ = 0;
};

// Creates `dir` (and parents) if needed and proves it writable by creating and removing a
// file in it: a read-only or full place fails here, before any training step, not later.
void ensure_writable_dir(const std::string& dir, const char* what);

// The lock file that makes a folder one process's: a run's (train) or a report's (compare,
// sweep, convert). Its content is the holder's pid, so that the one refused can name it.
constexpr const char* kLockFile = ".normgrad.lock";

// An exclusive flock on DIR/.normgrad.lock, held while the object lives. The kernel drops it
// on every exit path (return, exception, signal, kill -9), so a stale lock file never blocks
// a later run. Not inherited by programs this process starts (close-on-exec): compare's
// child runs lock their own folders. A folder someone holds is a one-line error naming
// their pid, never a wait.
class FolderLock {
 public:
  FolderLock() = default;
  FolderLock(const std::string& dir, const char* what);  // dir must exist
  FolderLock(FolderLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FolderLock& operator=(FolderLock&& o) noexcept;
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;
  ~FolderLock();

 private:
  int fd_ = -1;
};

// The files a training run writes in its folder that are there now: ckpt.safetensors,
// metrics.jsonl, probes.jsonl, TensorBoard event files, train.log (what compare and sweep
// capture of a run) and outcome.json (sweep's record of how it ended). A train.log that is
// this process's own output is not listed: compare's child run writes to it.
std::vector<std::string> run_files(const std::string& dir);
// Removes those files (a new run replaces an old one: --overwrite); nothing else in dir.
void clear_run_files(const std::string& dir);

}  // namespace ngcli

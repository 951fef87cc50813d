#include "normgrad/train/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "normgrad/error.h"

namespace ngcli {
namespace fs = std::filesystem;
using ng::fail;

namespace {
// Opens `path` for reading if it is a regular file of at most max_bytes; returns the
// descriptor and sets `size` (open first, then fstat the descriptor: the file checked is
// the file read).
int open_regular_file(const std::string& path, uint64_t max_bytes, const char* what, size_t& size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    fail(what, errno == ENOENT ? "file not found: " : "cannot open ", path,
         errno == ENOENT ? "" : std::string(": ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(what, path,
         S_ISDIR(st.st_mode) ? " is a directory, expected a file"
                             : " is not a regular file (a device, pipe or socket is not read)");
  }
  if ((uint64_t)st.st_size > max_bytes) {
    ::close(fd);
    fail(what, path, " is ", (uint64_t)st.st_size, " bytes, over the limit of ", max_bytes);
  }
  size = (size_t)st.st_size;
  return fd;
}
}  // namespace

std::string read_regular_file(const std::string& path, uint64_t max_bytes, const char* what) {
  size_t size = 0;
  const int fd = open_regular_file(path, max_bytes, what, size);
  std::string out(size, '\0');
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t r = ::read(fd, out.data() + done, out.size() - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      const std::string err = r < 0 ? std::strerror(errno) : "file shrank while being read";
      ::close(fd);
      fail(what, "reading ", path, " failed: ", err);
    }
    done += (size_t)r;
  }
  ::close(fd);
  return out;
}

MappedFile::MappedFile(const std::string& path, uint64_t max_bytes, const char* what) {
  const int fd = open_regular_file(path, max_bytes, what, size_);
  if (size_ == 0) {  // nothing to map (mmap refuses a length of 0)
    ::close(fd);
    return;
  }
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);  // the mapping keeps the file
  if (p == MAP_FAILED) fail(what, "cannot map ", path, ": ", std::strerror(err));
  const size_t n = size_;
  map_ = std::shared_ptr<const void>(p, [n](const void* q) { ::munmap((void*)q, n); });
  data_ = (const char*)p;
}

void ensure_writable_dir(const std::string& dir, const char* what) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    fail(what, dir, " exists and is not a folder");
  fs::create_directories(dir, ec);
  if (ec) fail(what, "cannot create the folder ", dir, ": ", ec.message());
  const std::string probe = dir + "/.normgrad-write-test." + std::to_string(::getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(what, "cannot write in ", dir, ": ", std::strerror(errno));
  const bool wrote = ::write(fd, "x", 1) == 1;
  const int err = errno;
  ::close(fd);
  ::unlink(probe.c_str());
  if (!wrote) fail(what, "cannot write in ", dir, ": ", std::strerror(err));
}

namespace {
// The pid a lock holder wrote, or "unknown" (it may be between taking the lock and writing).
std::string holder_pid(int fd) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    char b[32] = {};
    const ssize_t n = ::pread(fd, b, sizeof b - 1, 0);
    if (n > 0 && b[n - 1] == '\n') return std::string(b, (size_t)n - 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return "unknown";
}
}  // namespace

FolderLock::FolderLock(const std::string& dir, const char* what) {
  const std::string path = dir + "/" + kLockFile;
  // Not O_TRUNC: the file may hold the current holder's pid, read below.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) fail(what, "cannot open the lock file ", path, ": ", std::strerror(errno));
  int r;
  while ((r = ::flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
  }
  if (r != 0) {
    const int err = errno;
    const std::string pid = err == EWOULDBLOCK ? holder_pid(fd) : "";
    ::close(fd);
    if (err != EWOULDBLOCK) fail(what, "cannot lock ", path, ": ", std::strerror(err));
    fail(what, dir, " is in use by another normgrad process (pid ", pid,
         "): one folder holds one run or report at a time");
  }
  const std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) != (ssize_t)me.size()) {
    const std::string err = std::strerror(errno);
    ::close(fd);
    fail(what, "cannot write the lock file ", path, ": ", err);
  }
  fd_ = fd;
}

FolderLock& FolderLock::operator=(FolderLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_, o.fd_ = -1;
  }
  return *this;
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the only descriptor releases the flock
}

namespace {
bool is_run_file(const std::string& name) {
  return name == "ckpt.safetensors" || name == "metrics.jsonl" || name == "probes.jsonl" ||
         name == "train.log" || name == "outcome.json" ||
         name.rfind("events.out.tfevents.", 0) == 0;
}
// True when `path` is the file this process's stdout or stderr writes to.
bool is_own_output(const fs::path& path) {
  struct stat file {};
  if (::stat(path.c_str(), &file) != 0) return false;
  for (int fd : {1, 2}) {
    struct stat out {};
    if (::fstat(fd, &out) == 0 && out.st_dev == file.st_dev && out.st_ino == file.st_ino)
      return true;
  }
  return false;
}
}  // namespace

std::vector<std::string> run_files(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (is_run_file(name) && !is_own_output(it->path())) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void clear_run_files(const std::string& dir) {
  for (const auto& name : run_files(dir)) {
    std::error_code ec;
    fs::remove(dir + "/" + name, ec);
    if (ec) fail("train", "cannot remove ", dir, "/", name, ": ", ec.message());
  }
}

}  // namespace ngcli

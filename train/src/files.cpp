#include "normgrad/train/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "normgrad/error.h"

namespace ngcli {
namespace fs = std::filesystem;
using ng::fail;

std::string read_regular_file(const std::string& path, uint64_t max_bytes, const char* what) {
  // open first, then fstat the descriptor: the file checked is the file read
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
  std::string out((size_t)st.st_size, '\0');
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

}  // namespace ngcli

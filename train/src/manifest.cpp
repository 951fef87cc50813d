#include "normgrad/train/manifest.h"

#include <cblas.h>  // openblas_get_config, openblas_get_corename

#include <fstream>

#include "normgrad/threading.h"
#include "normgrad/train/config.h"

#ifndef NG_GIT_COMMIT  // set by train/CMakeLists.txt for this file
#define NG_GIT_COMMIT "unknown"
#endif
#ifndef NG_BUILD_TYPE
#define NG_BUILD_TYPE "unknown"
#endif
#ifndef NG_VERSION
#define NG_VERSION "unknown"
#endif

namespace ngcli {
namespace {
std::string& command_line() {
  static std::string line;
  return line;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  for (std::string l; std::getline(f, l);)
    if (l.rfind("model name", 0) == 0 && l.find(':') != std::string::npos)
      return l.substr(l.find_first_not_of(" \t", l.find(':') + 1));
  return "unknown";
}

// An argument as a shell reads it back: bare when it is plain, else in single quotes.
std::string quoted(const std::string& a) {
  if (!a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789-_=.,/:+@%") == std::string::npos)
    return a;
  std::string q = "'";
  for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}
}  // namespace

void set_command_line(int argc, char** argv) {
  std::string line;
  for (int i = 0; i < argc; ++i) {
    if (i) line += ' ';
    line += quoted(argv[i]);
  }
  command_line() = line;
}

std::map<std::string, std::string> reproducibility_manifest(ng::Device dev) {
  return {{"normgrad_version", NG_VERSION},
          {"git_commit", NG_GIT_COMMIT},
          {"build_type", *NG_BUILD_TYPE ? NG_BUILD_TYPE : "none"},
          {"blas", openblas_get_config()},
          {"blas_core", openblas_get_corename()},
          {"cpu", cpu_model()},
          {"threads", std::to_string(ng::num_threads())},
          // "cuda, <GPU name, memory, ...>": device_summary without its "device: " label
          {"device", dev == ng::Device::CPU ? "cpu" : device_summary(dev).substr(8)},
          {"command_line", command_line().empty() ? "(library call)" : command_line()}};
}

}  // namespace ngcli

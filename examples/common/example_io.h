// What the reproduction examples share: their two flags and drawing a figure with plots.py.
#pragma once
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

namespace example {

// Reads `--steps N` and `--report DIR` (the training examples' flags), keeping defaults.
inline void parse_steps_report(int argc, char** argv, int64_t& steps, std::string& dir) {
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--steps"))
      steps = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--report"))
      dir = argv[i + 1];
  }
}

// Runs examples/plots.py FIGURE JSON PNG with Debian's python3 (where python3-matplotlib
// lives) when it exists; false when no figure could be drawn.
inline bool draw(const std::string& figure, const std::string& json, const std::string& png) {
  const std::string py =
      std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const std::string cmd = py + " " NG_EXAMPLES_ROOT "/plots.py " + figure + " " + json + " " + png;
  return std::system(cmd.c_str()) == 0;
}

}  // namespace example

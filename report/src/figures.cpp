#include "normgrad/report/figures.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "normgrad/report/runs.h"

namespace ngcli {
namespace fs = std::filesystem;

namespace {

// The names in DIR/figures.json that are plain names of PNGs present in DIR; anything else
// (a path, a missing file, a malformed list) is left out rather than linked.
std::vector<std::string> listed_figures(const std::string& dir) {
  std::vector<std::string> names;
  std::ifstream in(dir + "/figures.json");
  const nlohmann::json list = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!list.is_array()) return names;
  for (const auto& n : list) {
    if (!n.is_string()) continue;
    const std::string name = n.get<std::string>();
    const bool plain = !name.empty() && name.find_first_not_of(
                                            "abcdefghijklmnopqrstuvwxyz"
                                            "0123456789_") == std::string::npos;
    if (plain && fs::is_regular_file(dir + "/" + name + ".png")) names.push_back(name);
  }
  return names;
}

}  // namespace

FigureSection draw_figures(const std::string& script, const std::string& dir,
                           const std::string& intro, const std::string& runs_dir) {
  FigureSection s;
  std::error_code ec;
  fs::remove(dir + "/figures.json", ec);  // an earlier run's list must not pass for this one's
  s.drawn = run_plot_script(script, dir, runs_dir);
  if (!s.drawn) {
    s.markdown = "\n(Figures skipped: python3 with matplotlib is needed; see plot.log.)\n";
    return s;
  }
  s.markdown = figures_markdown(dir, intro);
  if (s.markdown.empty()) s.markdown = "\n(No figures: " + script + " drew none; see plot.log.)\n";
  return s;
}

FigureSection figures_not_drawn() { return {false, "\n(Figures not drawn: --figures 0.)\n"}; }

std::string figures_markdown(const std::string& dir, const std::string& intro) {
  const std::vector<std::string> names = listed_figures(dir);
  if (names.empty()) return "";
  std::string md = "\n## Figures\n\n" + intro;
  for (const auto& n : names) md += "![" + n + "](" + n + ".png)\n\n";
  return md;
}

}  // namespace ngcli

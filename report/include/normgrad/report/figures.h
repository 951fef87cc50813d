// The one figure step of every report (compare, sweep, convert): run the report's script
// over its folder, then build the markdown "Figures" section from the list of figures the
// script wrote (figures.json, in drawing order), so no figure name is kept in two places.
#pragma once
#include <string>

namespace ngcli {

struct FigureSection {
  bool drawn = false;    // the script ran (python3 with matplotlib was there)
  std::string markdown;  // the section, or the line saying why there are no figures
};

// `script`: plot_report.py, plot_sweep.py or plot_surgery.py (found by find_script);
// `dir`: the folder with summary.json that receives the figures (a report's staging folder,
// staging.h); `intro`: a paragraph put before the figures; `runs_dir`: what the summary's
// run folders are relative to ("": dir).
FigureSection draw_figures(const std::string& script, const std::string& dir,
                           const std::string& intro = "", const std::string& runs_dir = "");
// The section when the user asked for none (--figures 0): one line saying so.
FigureSection figures_not_drawn();
// The section from DIR/figures.json as it is: each listed plain name whose PNG exists, in
// order; "" when none is (a path, a missing file or a malformed list is never linked).
std::string figures_markdown(const std::string& dir, const std::string& intro = "");

}  // namespace ngcli

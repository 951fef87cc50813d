// `normgrad compare`: one training run per norm kind with the same seed, data and batches,
// then a report folder: report.md, summary.json, and PNG figures drawn by plot_report.py.
#pragma once
#include <string>
#include <vector>

#include "train.h"

namespace ngcli {

struct CompareResult {
  std::vector<std::string> kinds;
  std::vector<TrainResult> runs;
  bool figures = false;  // false when python3 / matplotlib are missing
};

CompareResult compare(const TrainConfig& base, const std::vector<std::string>& kinds,
                      const std::string& report_dir);

}  // namespace ngcli

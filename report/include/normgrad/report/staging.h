// A report folder holds its runs and one report about them (report.md, summary.json,
// figures.json, sweep.csv, the figure PNGs, plot.log). The report is written where no one
// sees it half done, DIR/.report-staging-<pid>/, and moved into DIR at the end, report.md
// last: a command killed at any point leaves either no report.md or a complete report
// that describes the runs beside it (the earlier report went when the runs started).
#pragma once
#include <string>

namespace ngcli {

// Before a report's first run: removes the report an earlier command left in DIR (report.md
// first, then summary.json, figures.json, sweep.csv, plot.log and the PNGs its figures.json
// lists) and the staging folders of killed commands (the caller holds DIR's lock, so none
// is alive), so that no old report passes for runs that are about to be replaced.
void retract_report(const std::string& dir);

class StagedReport {
 public:
  explicit StagedReport(const std::string& dir);  // makes DIR/.report-staging-<pid>/
  ~StagedReport();  // removes the staging folder and whatever publish() did not move
  StagedReport(const StagedReport&) = delete;
  StagedReport& operator=(const StagedReport&) = delete;

  const std::string& folder() const { return staging_; }  // where the report is written
  std::string file(const std::string& name) const { return staging_ + "/" + name; }
  // Moves every file of the staging folder into DIR (each rename replaces the file there at
  // once), report.md last.
  void publish();

 private:
  std::string dir_, staging_;
};

}  // namespace ngcli

#include "normgrad/report/staging.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "normgrad/error.h"

namespace ngcli {
namespace fs = std::filesystem;

namespace {
const std::string kStagingPrefix = ".report-staging-";

// The PNGs an earlier report's figures.json lists (plain names only: nothing outside DIR).
std::vector<std::string> listed_pngs(const std::string& dir) {
  std::vector<std::string> pngs;
  std::ifstream in(dir + "/figures.json");
  const nlohmann::json list = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!list.is_array()) return pngs;
  for (const auto& n : list)
    if (n.is_string() && !n.get<std::string>().empty() &&
        n.get<std::string>().find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") ==
            std::string::npos)
      pngs.push_back(n.get<std::string>() + ".png");
  return pngs;
}
}  // namespace

void retract_report(const std::string& dir) {
  std::error_code ec;  // a file that is not there is what we want
  const std::vector<std::string> pngs = listed_pngs(dir);
  fs::remove(dir + "/report.md", ec);  // first: from here on DIR holds no report
  for (const auto& f : pngs) fs::remove(dir + "/" + f, ec);
  for (const char* f : {"summary.json", "figures.json", "sweep.csv", "plot.log"})
    fs::remove(dir + "/" + f, ec);
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename().string().rfind(kStagingPrefix, 0) == 0) fs::remove_all(e.path(), ec);
}

StagedReport::StagedReport(const std::string& dir)
    : dir_(dir), staging_(dir + "/" + kStagingPrefix + std::to_string(getpid())) {
  std::error_code ec;
  fs::remove_all(staging_, ec);  // a killed command's of the same pid
  fs::create_directories(staging_, ec);
  if (ec) ng::fail("report", "cannot create the staging folder ", staging_, ": ", ec.message());
}

StagedReport::~StagedReport() {
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

void StagedReport::publish() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(staging_))
    if (e.is_regular_file() && e.path().filename() != "report.md" &&
        e.path().filename().string().find(".tmp") == std::string::npos)  // a writer's leftover
      files.push_back(e.path());
  if (fs::exists(file("report.md"))) files.push_back(file("report.md"));  // the report is there
  for (const auto& f : files) {
    std::error_code ec;
    fs::rename(f, dir_ + "/" + f.filename().string(), ec);
    if (ec) ng::fail("report", "cannot move ", f.string(), " into ", dir_, ": ", ec.message());
  }
}

}  // namespace ngcli

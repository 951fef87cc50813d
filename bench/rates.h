// A Google Benchmark reporter that also remembers each run's rate (bytes/s or a named
// counter) so a benchmark's main() can print ratios measured in the same run.
#pragma once
#include <benchmark/benchmark.h>

#include <map>
#include <string>

class RateReporter : public benchmark::ConsoleReporter {
 public:
  explicit RateReporter(std::string counter = "") : counter_(std::move(counter)) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      if (r.error_occurred) continue;
      std::string name = r.benchmark_name();
      if (r.run_type == Run::RT_Aggregate) {  // with --benchmark_repetitions: use the median
        if (r.aggregate_name != "median") continue;
        name = name.substr(0, name.size() - std::string("_median").size());
      }
      seconds[name] = r.GetAdjustedRealTime() * 1e-6;  // benchmarks here report microseconds
      auto bps = r.counters.find("bytes_per_second");
      auto c = counter_.empty() ? r.counters.end() : r.counters.find(counter_);
      if (bps != r.counters.end())
        rate[name] = bps->second.value;
      else if (c != r.counters.end())
        rate[name] = c->second.value;
    }
    ConsoleReporter::ReportRuns(runs);
  }
  // a / b of two runs' rates; -1 when either is missing
  double ratio(const std::string& a, const std::string& b) const {
    auto x = rate.find(a), y = rate.find(b);
    return (x == rate.end() || y == rate.end() || y->second == 0) ? -1.0 : x->second / y->second;
  }
  std::map<std::string, double> rate, seconds;

 private:
  std::string counter_;
};

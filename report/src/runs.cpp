#include "normgrad/report/runs.h"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "normgrad/error.h"
#include "normgrad/nn/safetensors.h"
#include "normgrad/threading.h"
#include "normgrad/train/files.h"
#include "normgrad/train/saved_run.h"

namespace ngcli {
namespace fs = std::filesystem;
using json = nlohmann::json;

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> out;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);)
    if (!line.empty()) try {
        out.push_back(json::parse(line));
      } catch (...) {
      }
  return out;
}

namespace {
std::string last_line(const std::string& path) {
  std::ifstream f(path);
  std::string line, last;
  while (std::getline(f, line))
    if (!line.empty()) last = line;
  return last;
}
}  // namespace

std::string slug(const std::string& spec) {
  std::string s;
  for (char c : spec) s += std::isalnum((unsigned char)c) || c == '.' || c == '-' ? c : '_';
  return s;
}

std::string fmt(const char* f, double x) {
  char b[64];
  std::snprintf(b, sizeof b, f, x);
  return b;
}

Stats stats(const std::vector<double>& v) {
  Stats s;
  std::vector<double> ok;
  for (double x : v)
    if (std::isfinite(x)) ok.push_back(x);
  s.n = (int)ok.size();
  if (ok.empty()) return s;
  double sum = 0;
  for (double x : ok) sum += x;
  s.mean = sum / s.n;
  double ss = 0;
  for (double x : ok) ss += (x - s.mean) * (x - s.mean);
  s.sd = s.n > 1 ? std::sqrt(ss / (s.n - 1)) : 0.0;
  return s;
}
double median(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t m = v.size();
  return m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
}
std::string pm(const Stats& s, const char* f) {
  if (s.n == 0) return "n/a";
  return fmt(f, s.mean) + (s.n > 1 ? " ± " + fmt(f, s.sd) : "");
}

std::string common_settings(const std::vector<std::string>& described) {
  if (described.empty()) return "";
  std::map<std::string, size_t> seen;  // item -> in how many descriptions
  for (const auto& d : described) {
    std::istringstream in(d);
    std::set<std::string> once;  // an item twice in one description counts once
    for (std::string item; in >> item;)
      if (once.insert(item).second) ++seen[item];
  }
  std::istringstream first(described.front());
  std::string out;
  for (std::string item; first >> item;)
    if (seen[item] == described.size()) out += (out.empty() ? "" : " ") + item, seen[item] = 0;
  return out;
}

std::string differing_keys(const std::vector<std::string>& described, const std::string& common) {
  std::set<std::string> shared;
  std::istringstream c(common);
  for (std::string item; c >> item;) shared.insert(item);
  std::vector<std::string> keys;
  for (const auto& d : described) {
    std::istringstream in(d);
    for (std::string item; in >> item;) {
      const std::string key = item.substr(0, item.find('='));
      if (!shared.count(item) && std::find(keys.begin(), keys.end(), key) == keys.end())
        keys.push_back(key);
    }
  }
  std::string out;
  for (const auto& k : keys) out += (out.empty() ? "" : ", ") + k;
  return out.empty() ? "none" : out;
}

void write_text(const std::string& path, const std::string& text) {
  ng::nn::write_file_atomic(path, std::vector<uint8_t>(text.begin(), text.end()));
}

namespace {
std::string& script_dir() {
  static std::string dir;
  return dir;
}
}  // namespace

void set_script_dir(const std::string& dir) { script_dir() = dir; }

std::string find_script(const std::string& name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!script_dir().empty()) {
    const fs::path p = fs::path(script_dir()) / name;
    if (fs::is_regular_file(p, ec)) return p.lexically_normal().string();
  }
  const fs::path exe_dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
  if (ec) return "";
  for (const fs::path& p : {exe_dir / name, exe_dir / ".." / "share" / "normgrad" / name,
                            exe_dir / ".." / "bin" / name})
    if (fs::is_regular_file(p, ec)) return p.lexically_normal().string();
  return "";
}

namespace {
// `text` as one word of a POSIX shell command line.
std::string shell_word(const std::string& text) {
  std::string quoted = "'";
  for (char ch : text) quoted += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return quoted + "'";
}
}  // namespace

bool run_plot_script(const std::string& script_name, const std::string& dir,
                     const std::string& runs_dir) {
  const std::string script = find_script(script_name);
  if (script.empty()) {
    write_text(dir + "/plot.log", script_name + " not found" +
                                      (script_dir().empty() ? "" : " in " + script_dir() + ",") +
                                      " beside the program, in ../share/normgrad or ../bin\n");
    return false;
  }
  const std::string py =
      std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  return std::system((py + " -c 'import matplotlib' > /dev/null 2>&1").c_str()) == 0 &&
         std::system((py + " " + shell_word(script) + " " + shell_word(dir) + " " +
                      shell_word(runs_dir.empty() ? dir : runs_dir) + " > " +
                      shell_word(dir + "/plot.log") + " 2>&1")
                         .c_str()) == 0;
}

std::string count_labels(const std::map<std::string, int>& count) {
  std::string out;
  for (const auto& [label, n] : count)
    out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + label;
  return out;
}

LateDrop late_drop(const std::map<int64_t, double>& loss) {
  LateDrop d;
  const size_t q = loss.size() / 4;
  if (q < 2) return d;
  std::vector<double> third, last;
  size_t i = 0;
  for (const auto& [step, l] : loss) {
    if (i == loss.size() - 2 * q) d.from = step;
    if (i >= loss.size() - 2 * q) (i < loss.size() - q ? third : last).push_back(l);
    d.to = step, ++i;
  }
  const Stats a = stats(third), b = stats(last);
  if (a.n < 2 || b.n < 2) return d;  // non-finite losses: nothing to judge
  d.drop = a.mean - b.mean;
  d.se = std::sqrt(a.sd * a.sd / a.n + b.sd * b.sd / b.n);
  return d;
}

bool stopped_improving(const LateDrop& d, double margin) {
  return std::isfinite(d.drop) && d.drop + 2 * d.se < margin;
}

std::string health_label(bool diverged, bool interrupted, double val_loss, double unigram,
                         const RunCurve& curve, double margin) {
  if (diverged) return "diverged";
  if (interrupted) return "interrupted";
  if (!std::isfinite(val_loss)) return "failed";
  if (val_loss <= unigram - margin) return "learning";
  if (curve.max_steps > curve.warmup && stopped_improving(late_drop(curve.loss), margin))
    return "collapsed";
  return "under-trained";
}

std::string health_rules() {
  return "A run whose final val loss is more than 0.1 nats below the unigram baseline is "
         "*learning*. One within 0.1 nats of it (or above) is *collapsed* when it stopped "
         "improving there, having learned character frequencies only: its schedule left warmup "
         "and its mean training loss over the last quarter of its steps is less than 0.1 nats "
         "below the mean over the quarter before, even at two standard errors (drop + 2 SE < "
         "0.1). Otherwise it is *under-trained*: still in warmup, or its loss was still falling "
         "or too noisy (or its run too short: under 8 steps) to show that it stopped. "
         "*Diverged*: its loss or a gradient went non-finite (the step is named).";
}

namespace {
// What the last probe record says about a run's gradients and saturation.
std::string probe_evidence(const std::vector<json>& probes) {
  if (probes.empty()) return "no probes recorded";
  const json& last = probes.back();
  std::ostringstream o;
  int zero = 0, block_params = 0;
  for (const auto& p : last["params"]) {
    const std::string n = p.value("name", "");
    if (n.find(".h.") == std::string::npos) continue;
    ++block_params;
    if (p.value("grad_norm", 1.0) == 0.0) ++zero;
  }
  o << "at step " << last["step"].get<int64_t>() << ": " << zero << " of " << block_params
    << " block parameters have an exactly zero gradient";
  double rmax = 0;
  bool all_zero = true;
  for (const auto& r : last["residual_grad"])
    if (r.is_number()) {
      rmax = std::max(rmax, r.get<double>());
      all_zero &= r.get<double>() == 0.0;
    }
  // the first probed step from which no gradient reached any block, to the end
  auto no_flow = [](const json& rec) {
    if (!rec.contains("residual_grad") || rec["residual_grad"].empty()) return false;
    for (const auto& r : rec["residual_grad"])
      if (!r.is_number() || r.get<double>() != 0.0) return false;
    return true;
  };
  int64_t dead_from = -1;
  for (const auto& rec : probes)
    dead_from = no_flow(rec) ? (dead_from < 0 ? rec["step"].get<int64_t>() : dead_from) : -1;
  o << (all_zero ? "; no gradient reaches the residual stream of any block" +
                       (dead_from >= 0 ? " (from step " + std::to_string(dead_from) + " on)"
                                       : std::string())
                 : "; largest residual-stream gradient " + fmt("%.2e", rmax));
  // DyT: the fraction of saturated inputs, and when it first passed one half
  auto saturation = [](const json& rec, const char* t) {
    double s = 0;
    int n = 0;
    for (const auto& nrm : rec["norms"])
      if (nrm.contains("saturation")) s += nrm["saturation"].value(t, 0.0), ++n;
    return n ? s / n : -1.0;
  };
  const double sat = saturation(last, "3.0");
  if (sat >= 0) {
    o << "; DyT inputs with |alpha x| > 3 (tanh' < 0.01): " << fmt("%.0f%%", 100 * sat)
      << " of elements, mean over layers";
    for (const auto& rec : probes)
      if (saturation(rec, "3.0") > 0.5) {
        o << " (above 50% from step " << rec["step"].get<int64_t>() << ")";
        break;
      }
  }
  // Rule: the final norm saturated (over half its inputs past |alpha x| > 2, where tanh' <
  // 0.071) while the relative gradient at every block, ||dL/dx|| RMS(x), is under 1e-6 (a
  // learning run's is ~1e-2 in the default model): the mechanism examples/dyt_collapse
  // isolates.
  double rel_max = -1;
  if (last.contains("relative_grad"))
    for (const auto& r : last["relative_grad"])
      rel_max = std::max(rel_max, r.is_number() ? r.get<double>() : INFINITY);
  const json& lnf = last["norms"].empty() ? json() : last["norms"].back();
  const double lnf_sat =
      lnf.is_object() && lnf.contains("saturation") ? lnf["saturation"].value("2.0", 0.0) : 0.0;
  if (lnf_sat > 0.5 && rel_max >= 0 && rel_max < 1e-6)
    o << ". Why: the final norm ln_f saturated (" << fmt("%.0f%%", 100 * lnf_sat)
      << " of its inputs with |alpha x| > 2, where tanh' < 0.071"
      << (lnf.contains("rms") ? "; its input RMS " + fmt("%.3g", lnf.value("rms", 0.0)) : "")
      << ") and the relative gradient ||dL/dx|| RMS(x) at every block is under 1e-6 (largest "
      << fmt("%.1e", rel_max)
      << "): nothing upstream of ln_f learns (plain DyT's output is bounded by |weight| ~ 1; "
         "examples/dyt_collapse puts LayerNorm at ln_f alone and the model learns, or plain DyT "
         "at ln_f alone and it collapses: docs/paper_numbers.md)";
  return o.str();
}

// A run that ended (done or diverged) records how, and with which settings, the moment it
// ends: a rerun of a killed compare or sweep keeps it rather than training it again.
void write_outcome(const Job& j, int code, const std::string& message) {
  if (!j.outcome_file.empty() && (code == 0 || code == 3))
    write_text(j.outcome_file,
               json{{"code", code}, {"message", message}, {"config", json::parse(j.cfg.to_json())}}
                       .dump() +
                   "\n");
}

// The signals that stop compare and sweep, as they stop train (train.cpp): SIGINT (Ctrl-C),
// SIGTERM, SIGHUP. The first one received; 0: none.
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};
std::atomic<int> g_runs_signal{0};
void on_runs_signal(int sig) {
  int none = 0;
  g_runs_signal.compare_exchange_strong(none, sig);
}

// Installs the stop handlers for the pool's lifetime, without SA_RESTART: a signal must wake
// the wait() for children, so that they are told to stop at once.
struct RunsSignals {
  struct sigaction previous[std::size(kStopSignals)]{};
  RunsSignals() {
    g_runs_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_runs_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < std::size(kStopSignals); ++i)
      sigaction(kStopSignals[i], &sa, &previous[i]);
  }
  ~RunsSignals() {
    for (size_t i = 0; i < std::size(kStopSignals); ++i)
      sigaction(kStopSignals[i], &previous[i], nullptr);
  }
};

// Runs jobs as child `normgrad train` processes, `jobs` at a time; returns exit codes. On
// a stop signal every running child gets the same signal (a terminal sends Ctrl-C to them
// too; a `kill -TERM` of this process alone does not), saves a checkpoint and exits 128 +
// the signal; no new run starts.
std::vector<int> run_processes(const std::vector<Job>& all, int jobs, bool quiet,
                               const std::string& exe) {
  std::vector<int> codes(all.size(), 130);  // never started: interrupted
  std::map<pid_t, size_t> running;
  size_t next = 0, done = 0;
  bool forwarded = false;
  while (done < all.size()) {
    if (g_runs_signal != 0 && !forwarded) {
      for (const auto& [pid, index] : running) kill(pid, g_runs_signal);
      forwarded = true;
    }
    while ((int)running.size() < jobs && next < all.size() && g_runs_signal == 0) {
      const Job& j = all[next];
      ensure_writable_dir(j.cfg.out, "runs");
      std::vector<std::string> args = {"normgrad", "train"};
      for (auto& f : j.cfg.to_flags()) args.push_back(f);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      const std::string log = j.cfg.out + "/train.log";
      std::fflush(stdout);  // or the child would write our buffered lines again
      std::fflush(stderr);
      const pid_t parent = getpid();
      const pid_t pid = fork();
      if (pid < 0) ng::fail("compare", "cannot start a training process (fork failed)");
      if (pid == 0) {
        // If this process dies (even by kill -9), the run gets SIGINT: it saves a checkpoint
        // and stops, so a rerun of the sweep can continue it and no orphan writes on.
        prctl(PR_SET_PDEATHSIG, SIGINT);
        if (getppid() != parent) _exit(130);
        FILE* f = std::freopen(log.c_str(), j.cfg.resume ? "a" : "w", stdout);
        if (f) dup2(fileno(stdout), fileno(stderr));
        execv(exe.c_str(), argv.data());
        _exit(127);
      }
      if (!quiet)
        std::printf("started %s seed %llu (%zu/%zu)\n", j.variant.c_str(),
                    (unsigned long long)j.cfg.seed, next + 1, all.size());
      std::fflush(stdout);
      running[pid] = next++;
    }
    if (running.empty()) break;  // interrupted before the rest started
    int status = 0;
    const pid_t pid = wait(&status);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    auto it = running.find(pid);
    if (it == running.end()) continue;
    codes[it->second] = WIFEXITED(status)     ? WEXITSTATUS(status)
                        : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                              : -1;
    const Job& j = all[it->second];
    write_outcome(j, codes[it->second], last_line(j.cfg.out + "/train.log"));
    running.erase(it);
    ++done;
  }
  return codes;
}

}  // namespace

namespace {
// One rank's share of the jobs, then every rank's results merged and shared.
JobsResult run_distributed(const std::vector<Job>& jobs, bool quiet, ng::dist::Communicator& comm) {
  comm.barrier();  // every rank has planned from the same files before any run writes one
  const int rank = comm.rank(), size = comm.size();
  const int threads = std::max(1, ng::available_cores() / std::max(1, comm.local_size()));
  nlohmann::json mine = nlohmann::json::array();
  bool interrupted = false;
  for (size_t i = (size_t)rank; i < jobs.size() && !interrupted; i += (size_t)size) {
    TrainConfig c = jobs[i].cfg;
    c.quiet = true;
    if (c.threads == 0) c.threads = threads;
    if (!quiet)
      std::printf("rank %d: %s, seed %llu\n", rank, jobs[i].variant.c_str(),
                  (unsigned long long)c.seed);
    int code = 1;
    std::string message;
    try {
      const TrainResult t = train(c);
      code = t.diverged ? 3 : t.interrupted ? 130 : 0;
      message = t.message;
      interrupted = t.interrupted || g_runs_signal != 0;
    } catch (const std::exception& e) {  // one bad run must not stop this rank's others
      message = e.what();
    }
    write_outcome(jobs[i], code, message);
    mine.push_back({{"i", i}, {"code", code}, {"message", message}});
  }
  const auto all =
      comm.gather_bytes(nlohmann::json{{"runs", mine}, {"interrupted", interrupted}}.dump());
  std::string merged;
  if (rank == 0) {
    std::vector<int> c(jobs.size(), 130);
    std::vector<std::string> m(jobs.size());
    bool any = false;
    for (const auto& text : all) {
      const auto j = nlohmann::json::parse(text);
      any = any || j["interrupted"].get<bool>();
      for (const auto& run : j["runs"])
        c[run["i"].get<size_t>()] = run["code"], m[run["i"].get<size_t>()] = run["message"];
    }
    merged = nlohmann::json{{"codes", c}, {"messages", m}, {"interrupted", any}}.dump();
  }
  const auto j = nlohmann::json::parse(comm.broadcast_bytes(merged));
  JobsResult r;
  r.codes = j["codes"].get<std::vector<int>>();
  r.messages = j["messages"].get<std::vector<std::string>>();
  r.interrupted = j["interrupted"].get<bool>();
  return r;
}
}  // namespace

JobsResult run_jobs(const std::vector<Job>& jobs, int parallel, bool quiet, const std::string& exe,
                    std::shared_ptr<ng::dist::Communicator> comm) {
  JobsResult r;
  r.codes.assign(jobs.size(), 130);  // a run that never starts: interrupted
  r.messages.assign(jobs.size(), "");
  RunsSignals signals;
  if (comm && comm->size() > 1) {
    r = run_distributed(jobs, quiet, *comm);
    if (r.interrupted) r.signal = g_runs_signal != 0 ? g_runs_signal.load() : SIGINT;
    return r;
  }
  if (parallel > 1) {
    r.codes = run_processes(jobs, parallel, quiet, exe);
    for (size_t i = 0; i < jobs.size(); ++i)
      r.messages[i] = last_line(jobs[i].cfg.out + "/train.log");
  } else {
    for (size_t i = 0; i < jobs.size(); ++i) {
      if (!quiet)
        std::printf("\n== %s, seed %llu ==\n", jobs[i].variant.c_str(),
                    (unsigned long long)jobs[i].cfg.seed);
      const TrainResult t = train(jobs[i].cfg);  // its own handler saves a checkpoint on Ctrl-C
      r.codes[i] = t.diverged ? 3 : t.interrupted ? 128 + t.signal : 0;
      r.messages[i] = t.message;
      write_outcome(jobs[i], r.codes[i], r.messages[i]);
      if (t.interrupted) r.signal = t.signal;     // train()'s own handlers caught it
      if (t.interrupted || g_runs_signal != 0) {  // the rest never start
        r.interrupted = true;
        break;
      }
    }
  }
  if (g_runs_signal != 0 && r.signal == 0) r.signal = g_runs_signal;
  r.interrupted = r.interrupted || r.signal != 0;
  return r;
}

namespace {
// The first setting in which two configs (TrainConfig::to_json) differ, in words.
std::string first_difference(const json& recorded, const json& wanted) {
  for (const auto& [key, value] : wanted.items())
    if (!recorded.contains(key) || recorded[key] != value)
      return key + " " + value.dump() + " here, " +
             (recorded.contains(key) ? recorded[key].dump() : std::string("unset")) + " there";
  for (const auto& [key, value] : recorded.items())
    if (!wanted.contains(key)) return key + " unset here, " + value.dump() + " there";
  return "";
}
}  // namespace

EarlierRun plan_rerun(Job& job, bool replace, const char* command) {
  TrainConfig& c = job.cfg;
  job.outcome_file = c.out + "/outcome.json";
  const std::string ckpt = c.out + "/ckpt.safetensors";
  EarlierRun earlier;
  std::optional<json> recorded;  // the settings the run in the folder was trained with
  if (fs::exists(job.outcome_file)) {
    const json o = json::parse(read_regular_file(job.outcome_file, 1 << 20, command), nullptr,
                               /*allow_exceptions=*/false);
    if (o.is_object() && o.contains("code") && o["code"].is_number_integer() &&
        o.contains("message") && o["message"].is_string()) {
      earlier.code = o["code"].get<int>();
      earlier.message = o["message"].get<std::string>();
      earlier.finished = earlier.code == 0 || earlier.code == 3;
      if (o.contains("config"))  // through the parser: a field's older spelling reads as now
        recorded = json::parse(TrainConfig::from_json(o["config"].dump()).to_json());
    }
  }
  const bool has_ckpt = fs::exists(ckpt);
  if (!recorded && has_ckpt) recorded = json::parse(read_saved_run(ckpt, false).cfg.to_json());
  if (recorded) {
    const std::string diff = first_difference(*recorded, json::parse(c.to_json()));
    if (!diff.empty()) {
      if (!replace)
        ng::fail(command, c.out, " holds a run with other settings (", diff,
                 "): rerun with that run's settings to continue it, pass --overwrite to "
                 "replace it, or choose another --report");
      earlier = EarlierRun{};  // replaced: trained anew
      c.resume = false;
      c.overwrite = true;
      return earlier;
    }
  }
  // A run cut before its first checkpoint starts again: the report folder's lock makes the
  // runs in it this command's, so their partial files are replaced.
  c.resume = !earlier.finished && has_ckpt;
  c.overwrite = true;
  return earlier;
}

JobsResult run_unfinished(const std::vector<Job>& jobs, const std::vector<EarlierRun>& earlier,
                          const std::function<JobsResult(std::vector<Job>&)>& run) {
  std::vector<Job> todo;
  std::vector<size_t> index;  // todo[k] is jobs[index[k]]
  for (size_t i = 0; i < jobs.size(); ++i)
    if (!earlier[i].finished) todo.push_back(jobs[i]), index.push_back(i);
  const JobsResult ran = run(todo);  // also when empty: every MPI rank takes part
  JobsResult all = ran;
  all.codes.assign(jobs.size(), 130);
  all.messages.assign(jobs.size(), "");
  for (size_t i = 0; i < jobs.size(); ++i)
    if (earlier[i].finished) all.codes[i] = earlier[i].code, all.messages[i] = earlier[i].message;
  for (size_t k = 0; k < index.size(); ++k)
    all.codes[index[k]] = ran.codes[k], all.messages[index[k]] = ran.messages[k];
  return all;
}

namespace {
// Why a run near the baseline is under-trained or collapsed, from its curve.
std::string curve_evidence(const RunCurve& c) {
  if (c.max_steps <= c.warmup)
    return "its schedule never left warmup (" + std::to_string(c.max_steps) + " steps, warmup " +
           std::to_string(c.warmup) + ")";
  const LateDrop d = late_drop(c.loss);
  if (!std::isfinite(d.drop))
    return "too few steps (" + std::to_string(c.loss.size()) + ") to tell whether it stopped";
  return "its training loss fell " + fmt("%.3f", d.drop) + " ± " + fmt("%.3f", d.se) +
         " (standard error) nats from the third to the last quarter of steps " +
         std::to_string(d.from) + ".." + std::to_string(d.to) +
         (stopped_improving(d) ? " (stopped: under 0.1 even at two standard errors)"
                               : " (not shown to have stopped: drop + 2 SE >= 0.1)");
}
}  // namespace

RunOutcome read_outcome(const Job& j, int code, const std::string& message, double unigram) {
  RunOutcome r{j.variant, j.cfg.out, j.cfg.seed};
  RunCurve curve{{}, j.cfg.warmup, j.cfg.max_steps};
  std::vector<double> grad_norms;
  for (const auto& m : read_jsonl(j.cfg.out + "/metrics.jsonl")) {
    r.steps = m.value("step", r.steps);
    if (m.contains("grad_norm") && m["grad_norm"].is_number())
      grad_norms.push_back(m["grad_norm"].get<double>());
    if (m.contains("loss") && m["loss"].is_number()) curve.loss[r.steps] = m["loss"].get<double>();
    if (m.contains("tokens_per_s")) r.tokens_per_s = m["tokens_per_s"].get<double>();
    r.train_s = m.value("train_s", r.train_s);
    r.probe_s = m.value("probe_s", r.probe_s);
    r.eval_s = m.value("time_eval_s", r.eval_s);
    if (m.contains("val_loss")) {
      r.val_loss = m["val_loss"].get<double>();
      r.train_loss = m.value("train_loss_eval", NAN);
      r.val_whole_split = false;
    }
    if (m.contains("val_loss_full")) {  // the last evaluation: the whole split
      r.val_loss = m["val_loss_full"].get<double>();
      r.val_whole_split = true;
    }
  }
  if (!grad_norms.empty()) {
    const auto clipped = std::count_if(grad_norms.begin(), grad_norms.end(),
                                       [&](double g) { return g > j.cfg.grad_clip; });
    r.clipped_fraction = (double)clipped / (double)grad_norms.size();
    r.median_grad_norm = median(grad_norms);
  }
  const bool diverged = code == 3,
             interrupted = code == 128 + SIGINT || code == 128 + SIGTERM || code == 128 + SIGHUP;
  r.label = health_label(diverged, interrupted, r.val_loss, unigram, curve);
  if (code != 0 && !diverged && !interrupted) r.label = "failed";
  const std::string vs_unigram =
      "val " + fmt("%.4f", r.val_loss) + " vs unigram baseline " + fmt("%.4f", unigram);
  if (r.label == "diverged")
    r.evidence = message.substr(0, message.find("; checkpoint:"));
  else if (r.label == "failed")
    r.evidence = "exit code " + std::to_string(code) + ": " + message;
  else if (r.label == "interrupted")
    r.evidence = r.steps > 0 ? "stopped by Ctrl-C at step " + std::to_string(r.steps)
                             : "not started: interrupted before it began";
  else if (r.label == "under-trained")
    r.evidence = vs_unigram + ", but " + curve_evidence(curve) +
                 ": train it longer before calling it collapsed";
  else if (r.label == "collapsed")
    r.evidence = vs_unigram + " and " + curve_evidence(curve) +
                 ": it learned character frequencies only; " +
                 probe_evidence(read_jsonl(j.cfg.out + "/probes.jsonl"));
  else
    r.evidence = "val " + fmt("%.4f", r.val_loss) + ", " + fmt("%.2f", unigram - r.val_loss) +
                 " nats below the unigram baseline";
  return r;
}

}  // namespace ngcli

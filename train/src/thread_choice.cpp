#include "normgrad/train/thread_choice.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "normgrad/backend.h"
#include "normgrad/nn/safetensors.h"
#include "normgrad/normgrad.h"
#include "normgrad/threading.h"
#include "normgrad/train/files.h"
#include "normgrad/train/manifest.h"

namespace ngcli {
using json = nlohmann::json;

ThreadChoice::ThreadChoice(int cores, int rounds)
    : rounds_(std::max(1, rounds)), cores_(std::max(1, cores)) {
  candidates_.push_back(cores_);
  int p = 1;
  while (p * 2 < cores_) p *= 2;
  for (; p >= 1 && cores_ > 1; p /= 2) candidates_.push_back(p);
  best_s_.assign(candidates_.size(), 1e300);
  current_ = candidates_[0];
  done_ = candidates_.size() == 1;
}

int ThreadChoice::candidate_at(int k) const {
  const int n = (int)candidates_.size(), round = k / n, i = k % n;
  return round % 2 == 0 ? i : n - 1 - i;
}

bool ThreadChoice::record(double seconds) {
  if (done_) return false;
  if (taken_ >= 0) {
    double& best = best_s_[candidate_at(taken_)];
    best = std::min(best, seconds);
  }
  ++taken_;
  if (taken_ < rounds_ * (int)candidates_.size()) {
    current_ = candidates_[candidate_at(taken_)];
    return false;
  }
  // The most threads within kTie of the fastest: a count that only ties with more threads
  // is no gain, and a VM that takes a core away for a moment (steal time) makes fewer
  // threads look as fast; a choice kept in the cache must not rest on such a moment.
  done_ = true;
  const double fastest = *std::min_element(best_s_.begin(), best_s_.end());
  for (size_t i = 0; i < candidates_.size(); ++i)  // largest first
    if (best_s_[i] <= fastest * (1 + kTie)) {
      current_ = candidates_[i];
      break;
    }
  return true;
}

std::string ThreadChoice::summary() const {
  std::string s = std::to_string(current_) + " of " + std::to_string(cores_);
  if (!done_ || candidates_.size() == 1) return s;
  s += " (fastest of " + std::to_string(rounds_) + ", ms:";
  for (size_t i = 0; i < candidates_.size(); ++i) {
    char b[48];
    std::snprintf(b, sizeof b, "%s %d: %.2f", i ? "," : "", candidates_[i], 1000.0 * best_s_[i]);
    s += b;
  }
  return s + ")";
}

ThreadCountScope::ThreadCountScope() : saved_(ng::num_threads()) {}
ThreadCountScope::~ThreadCountScope() { ng::set_num_threads(saved_); }

namespace {

// A step's matrix products as (rows, inner, cols): each block's four Linears (qkv, attention
// output, MLP in, MLP out) and the LM head, forward (x W), input gradient (dy W^T) and
// weight gradient (dy^T x). The attention's own products run inside the fused kernel.
struct Product {
  int64_t m, k, n;
};
std::vector<Product> step_products(int64_t tokens, int64_t C, int64_t V) {
  std::vector<Product> p;
  for (auto [in, out] : {std::pair{C, 3 * C}, {C, C}, {C, 4 * C}, {4 * C, C}, {C, V}}) {
    p.push_back({tokens, in, out});  // forward
    p.push_back({tokens, out, in});  // input gradient
    p.push_back({out, tokens, in});  // weight gradient
  }
  return p;
}

// Scratch operands above this are not allocated for a measurement: products that large
// keep every core busy anyway.
constexpr double kMaxScratchBytes = 256.0 * 1024 * 1024;
// Every product at least this many FLOPs per core: all cores, nothing to measure.
constexpr double kLargeFlopsPerCore = 50e6;

std::function<double()> real_products(const std::vector<Product>& shapes) {
  struct Operands {
    std::vector<ng::Tensor> a, b, c;
  };
  auto ops = std::make_shared<Operands>();
  ng::NoGradGuard no_grad;
  ng::Generator g(11);  // its own stream: the run's are untouched
  for (const auto& s : shapes) {
    ops->a.push_back(ng::randn({s.m, s.k}, {}, &g) * 0.1);
    ops->b.push_back(ng::randn({s.k, s.n}, {}, &g) * 0.1);
    ops->c.push_back(ng::zeros({s.m, s.n}));  // written every time: its pages are touched once
  }
  return [ops] {
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < ops->a.size(); ++i)
      ng::backend(ng::Device::CPU).gemm(ops->a[i], ops->b[i], ops->c[i], /*accumulate=*/false);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
}

// flock on PATH.lock for the scope's lifetime; without a path or a writable folder, none.
class CacheLock {
 public:
  explicit CacheLock(const std::string& path) {
    if (path.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    fd_ = ::open((path + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~CacheLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  CacheLock(const CacheLock&) = delete;
  CacheLock& operator=(const CacheLock&) = delete;

 private:
  int fd_ = -1;
};

std::string cache_key(int64_t tokens, int64_t C, int64_t V, int cores,
                      const std::string& precision) {
  const auto m = reproducibility_manifest(ng::Device::CPU);
  return m.at("cpu") + " | " + std::to_string(cores) + " cores | OpenBLAS " + m.at("blas_core") +
         " | tokens " + std::to_string(tokens) + ", n_embd " + std::to_string(C) + ", vocab " +
         std::to_string(V) + " | " + precision;
}

json read_cache(const std::string& path) {
  std::error_code ec;  // an unreadable folder (HOME of another user) is no cache, not an error
  if (path.empty() || !std::filesystem::is_regular_file(path, ec)) return json::object();
  try {
    json j = json::parse(read_regular_file(path, 1 << 20, "thread cache"));
    return j.is_object() ? j : json::object();
  } catch (const std::exception&) {
    return json::object();  // unreadable: measured again and rewritten
  }
}

// The cached count for `key`, or 0 when there is none (or it does not fit these cores).
int cached_threads(const json& cache, const std::string& key, int cores) {
  const auto it = cache.find(key);
  if (it == cache.end() || !it->is_object() || !it->contains("threads")) return 0;
  const json& t = (*it)["threads"];
  if (!t.is_number_integer()) return 0;
  const int n = t.get<int>();
  return n >= 1 && n <= cores ? n : 0;
}

}  // namespace

std::string thread_cache_path() {
  auto env = [](const char* k) -> std::string {
    const char* v = std::getenv(k);
    return v && *v ? v : "";
  };
  std::string dir = env("NG_CACHE_DIR");
  if (dir.empty() && !env("XDG_CACHE_HOME").empty()) dir = env("XDG_CACHE_HOME") + "/normgrad";
  if (dir.empty() && !env("HOME").empty()) dir = env("HOME") + "/.cache/normgrad";
  return dir.empty() ? "" : dir + "/threads.json";
}

ThreadPick pick_threads(const TrainConfig& run, int64_t vocab, int saved_threads,
                        const std::function<double()>& measure) {
  const int cores = ng::available_cores();
  if (saved_threads > 0) {
    const int n = std::min(saved_threads, cores);
    return {n, std::to_string(n) + ", as the run being resumed" +
                   (saved_threads > cores
                        ? " (" + std::to_string(saved_threads) + ", more than this machine's cores)"
                        : "")};
  }
  if (cores == 1) return {1, "1 (one core)"};
  const int64_t tokens = run.batch * run.block_size, C = run.n_embd;
  const std::vector<Product> shapes = step_products(tokens, C, vocab);
  double smallest = 1e300, scratch = 0;
  for (const auto& s : shapes) {
    smallest = std::min(smallest, 2.0 * (double)s.m * (double)s.k * (double)s.n);
    scratch += 4.0 * (double)(s.m * s.k + s.k * s.n + s.m * s.n);
  }
  if (!measure && (smallest >= kLargeFlopsPerCore * cores || scratch > kMaxScratchBytes))
    return {cores, std::to_string(cores) + " of " + std::to_string(cores) +
                       " (this model's matrix products are large: every core)"};

  static std::mutex mu;  // in-process runs (compare --jobs 1, Python) share the cache
  static std::map<std::string, int> seen;
  std::lock_guard<std::mutex> lock(mu);
  const std::string key = cache_key(tokens, C, vocab, cores, run.precision),
                    path = thread_cache_path();
  // Processes of one machine take turns: a second run of the shape waits for the first's
  // measurement and uses it (and two measurements at once would time each other).
  const CacheLock file_lock(path);
  json cache = read_cache(path);
  if (!measure) {
    if (const int n = cached_threads(cache, key, cores))
      return {n, std::to_string(n) + " of " + std::to_string(cores) +
                     ", measured earlier for this model shape on this machine (" + path + ")"};
    if (auto it = seen.find(key); it != seen.end())
      return {it->second, std::to_string(it->second) + " of " + std::to_string(cores) +
                              ", measured earlier in this process"};
  }
  const std::function<double()> time_once = measure ? measure : real_products(shapes);
  ThreadChoice choice(cores);
  {
    const ThreadCountScope restore;  // however the measurement ends
    while (!choice.done()) {
      ng::set_num_threads(choice.next());
      choice.record(time_once());
    }
  }
  seen[key] = choice.next();
  std::string how = choice.summary() + ", measured on this model's matrix products";
  if (!path.empty()) {
    cache[key] = {{"threads", choice.next()}, {"measured", choice.summary()}};
    try {  // the folder: made by the lock above (a missing one fails here, with the reason)
      const std::string text = cache.dump(1) + "\n";
      ng::nn::write_file_atomic(path, std::vector<uint8_t>(text.begin(), text.end()));
      how += "; kept in " + path;
    } catch (const std::exception& e) {
      how += "; not cached (" + std::string(e.what()) + ")";
    }
  }
  return {choice.next(), how};
}

}  // namespace ngcli

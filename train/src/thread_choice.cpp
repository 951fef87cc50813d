#include "normgrad/train/thread_choice.h"

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

ThreadChoice::ThreadChoice(int cores, int reps, double give_up)
    : reps_(std::max(1, reps)), cores_(std::max(1, cores)), give_up_(give_up) {
  candidates_.push_back(cores_);
  int p = 1;
  while (p * 2 < cores_) p *= 2;
  for (; p >= 1 && cores_ > 1; p /= 2) candidates_.push_back(p);
  current_ = candidates_[0];
  done_ = candidates_.size() == 1;
}

bool ThreadChoice::record(double seconds) {
  if (done_) return false;
  if (taken_++ < 0) return false;  // the warm-up: untimed
  if (timed_.size() == at_) timed_.push_back({current_, seconds});
  timed_.back().best_s = std::min(timed_.back().best_s, seconds);
  if (taken_ < reps_) return false;
  // This candidate is measured: go on to the next one unless it is clearly slower.
  const auto best =
      std::min_element(timed_.begin(), timed_.end(),
                       [](const Timed& a, const Timed& b) { return a.best_s < b.best_s; });
  const bool slower = timed_.back().best_s > best->best_s * give_up_;
  ++at_;
  taken_ = 0;
  if (slower || at_ == candidates_.size()) {
    done_ = true;
    current_ = best->threads;
    return true;
  }
  current_ = candidates_[at_];
  return false;
}

std::string ThreadChoice::summary() const {
  std::string s = std::to_string(current_) + " of " + std::to_string(cores_);
  if (timed_.empty()) return s;
  s += " (ms:";
  for (size_t i = 0; i < timed_.size(); ++i) {
    char b[48];
    std::snprintf(b, sizeof b, "%s %d: %.2f", i ? "," : "", timed_[i].threads,
                  1000.0 * timed_[i].best_s);
    s += b;
  }
  return s + ")";
}

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

std::string cache_key(int64_t tokens, int64_t C, int64_t V, int cores,
                      const std::string& precision) {
  const auto m = reproducibility_manifest(ng::Device::CPU);
  return m.at("cpu") + " | " + std::to_string(cores) + " cores | OpenBLAS " + m.at("blas_core") +
         " | tokens " + std::to_string(tokens) + ", n_embd " + std::to_string(C) + ", vocab " +
         std::to_string(V) + " | " + precision;
}

json read_cache(const std::string& path) {
  if (path.empty() || !std::filesystem::is_regular_file(path)) return json::object();
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
  if (saved_threads > 0)
    return {std::min(saved_threads, cores),
            std::to_string(std::min(saved_threads, cores)) + ", as the run being resumed" +
                (saved_threads > cores
                     ? " (" + std::to_string(saved_threads) + ", more than this machine's cores)"
                     : "")};
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
  const int before = ng::num_threads();
  ThreadChoice choice(cores);
  while (!choice.done()) {
    ng::set_num_threads(choice.next());
    choice.record(time_once());
  }
  ng::set_num_threads(before);
  seen[key] = choice.next();
  std::string how = choice.summary() + ", measured on this model's matrix products";
  if (!path.empty()) {
    cache[key] = {{"threads", choice.next()}, {"measured", choice.summary()}};
    try {
      std::filesystem::create_directories(std::filesystem::path(path).parent_path());
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

// Training-step throughput of normgrad's GPT: tokens/s of forward + backward + AdamW +
// zero_grad, median of timed steps after warm-up, for a config and a norm kind; plus the
// time of the step's matrix products alone, called directly through cblas with the same
// shapes (the "GEMM-only" floor), and peak RSS. One JSON line per run on stdout.
//   bench/train_step --config S|M|L|G --norm layernorm [--device cpu|cuda] [--steps 20]
//                    [--warmup 5] [--precision fp32|tf32|bf16]
// On cuda each step ends with a device synchronize (so the time is the GPU's), and the
// GEMM-only floor and RSS are not measured.
//   --serve: after the warm-up, read commands from stdin, one per line: "run K" times K
//   steps and the GEMM-only floor right after them and prints one JSON line; "quit" (or
//   the end of input) exits. bench/compare_torch.py drives one such process per side and
//   alternates them, so that both sides see the same phases of a noisy machine.
//   --threads N sets our OpenMP (and OpenBLAS) threads; --vocab N overrides the config's
//   vocabulary (bench/train_vs_bench.py: the built-in corpus has 113 characters).
//   --precision: the matrix products' precision (normgrad/precision.h), as train --precision.
//   More --serve commands (bench/gpu_train_bench.py): "norm KIND" builds a fresh model and
//   optimizer with that norm kind (the old ones are freed); "precision P" switches the
//   matrix products' precision; "queued K" queues K steps back to back with one wait at the
//   end and prints one JSON line: the step time of that wait-free loop, the host's waits per
//   step meanwhile (cuda::host_syncs, target 0) and on a GPU the peak memory in use by
//   tensors during the K steps (cuda::memory_stats().peak; the model, its gradients and
//   AdamW state included, the CUDA context and cuBLAS's workspace not).
#include <cblas.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "normgrad/nn.h"
#include "normgrad/normgrad.h"
#include "normgrad/optim.h"
#ifdef NG_HAS_CUDA
#include "normgrad/cuda.h"
#endif

using namespace ng;
using Clock = std::chrono::steady_clock;

namespace {

struct Config {
  int64_t n_layer, n_head, n_embd, block, batch, vocab;
};

Config config(const std::string& name) {
  if (name == "S") return {4, 4, 128, 64, 12, 65};
  if (name == "M") return {6, 6, 384, 256, 8, 65};
  if (name == "L") return {6, 6, 384, 256, 32, 65};       // the GPU issue's larger config
  if (name == "G") return {12, 12, 768, 1024, 8, 50257};  // GPT-2 small's shape
  fail("train_step", "unknown --config ", name, " (S, M, L or G)");
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The step's GEMMs with the same shapes: per layer qkv, attention scores and weighted sum,
// attention projection, MLP up and down, plus the tied LM head; forward (1x) and backward
// (2x: one product for the input gradient, one for the weight gradient).
struct Gemm {
  int64_t m, n, k, count;
};

std::vector<Gemm> step_gemms(const Config& c) {
  const int64_t BT = c.batch * c.block, C = c.n_embd, T = c.block, D = C / c.n_head;
  return {{BT, 3 * C, C, c.n_layer},
          {BT, C, C, c.n_layer},
          {BT, 4 * C, C, c.n_layer},
          {BT, C, 4 * C, c.n_layer},
          {T, T, D, c.n_layer * c.batch * c.n_head},  // q k^T
          {T, D, T, c.n_layer * c.batch * c.n_head},  // att v
          {BT, c.vocab, C, 1}};
}

// Floating-point operations of the GEMM-only floor (2 m n k per product, 3 products each).
double gemm_flops(const Config& c) {
  double f = 0;
  for (const auto& g : step_gemms(c)) f += 2.0 * g.m * g.n * g.k * g.count * 3;
  return f;
}

double gemm_only_seconds(const Config& c, int reps) {
  const std::vector<Gemm> gemms = step_gemms(c);
  int64_t biggest = 0;
  for (auto& g : gemms) biggest = std::max({biggest, g.m * g.k, g.k * g.n, g.m * g.n});
  std::vector<float> a(biggest, 0.01f), b(biggest, 0.02f), out(biggest);
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    for (auto& g : gemms)
      for (int64_t i = 0; i < g.count * 3; ++i)  // forward + two backward products
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g.m, g.n, g.k, 1.0f, a.data(), g.k,
                    b.data(), g.n, 0.0f, out.data(), g.n);
    times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return median(times);
}

}  // namespace

int run(int argc, char** argv);

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}

int run(int argc, char** argv) {
  ng::select_blas_core(argv);  // first: may re-run the program with OPENBLAS_CORETYPE set
  std::fprintf(stderr, "%s\n", ng::thread_config().c_str());
  std::string cfg_name = "S", norm = "layernorm", device = "cpu", precision = "fp32";
  int steps = 20, warmup = 5;
  bool serve = false;
  int64_t vocab = 0;  // 0: the config's
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--serve")) serve = true;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--serve") continue;
    if (i + 1 >= argc) fail("train_step", flag, " needs a value");
    const char* v = argv[++i];
    if (flag == "--config")
      cfg_name = v;
    else if (flag == "--norm")
      norm = v;
    else if (flag == "--device")
      device = v;
    else if (flag == "--steps")
      steps = std::atoi(v);
    else if (flag == "--warmup")
      warmup = std::atoi(v);
    else if (flag == "--threads")
      set_num_threads(std::atoi(v));
    else if (flag == "--vocab")
      vocab = std::atoll(v);
    else if (flag == "--precision")
      precision = v;
    else
      fail("train_step", "unknown flag ", flag);
  }
  set_matmul_precision(parse_matmul_precision(precision));
  Config c = config(cfg_name);
  if (vocab > 0) c.vocab = vocab;
  const Device dev = device == "cuda" ? Device::CUDA : Device::CPU;
  auto sync = [&] {
#ifdef NG_HAS_CUDA
    if (dev == Device::CUDA) cuda::synchronize();
#endif
  };
  std::unique_ptr<nn::GPT> model_ptr;
  std::unique_ptr<optim::AdamW> opt_ptr;
  auto build = [&] {  // a fresh model and optimizer for `norm` (the old ones freed first)
    opt_ptr.reset();
    model_ptr.reset();
    model_ptr = std::make_unique<nn::GPT>(nn::GPTConfig{.vocab = c.vocab,
                                                        .n_layer = c.n_layer,
                                                        .n_head = c.n_head,
                                                        .n_embd = c.n_embd,
                                                        .block_size = c.block,
                                                        .norm = norm});
    model_ptr->to(dev);
    opt_ptr =
        std::make_unique<optim::AdamW>(optim::default_groups(model_ptr->named_parameters(), 0.1),
                                       1e-3, optim::AdamOptions{.beta1 = 0.9, .beta2 = 0.95});
  };
  build();
  Generator g(1);
  const Tensor x = randint(0, c.vocab, {c.batch, c.block}, {.dtype = DType::I64}, &g).to(dev);
  const Tensor y = randint(0, c.vocab, {c.batch, c.block}, {.dtype = DType::I64}, &g).to(dev);
  double mean_step = 0;
  auto run_steps = [&](int n) {  // the median step time of n steps (and their mean)
    std::vector<double> times;
    for (int s = 0; s < n; ++s) {
      const auto t0 = Clock::now();
      Tensor loss = model_ptr->loss(x, y);
      loss.backward();
      opt_ptr->step();
      opt_ptr->zero_grad();
      sync();
      times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    if (times.empty()) return 0.0;
    double total = 0;
    for (double t : times) total += t;
    mean_step = total / times.size();
    return median(times);
  };
  // On a GPU: n steps queued back to back with one wait at the end (the throughput when the
  // host never waits), and the host's waits per step counted meanwhile (target: none).
  double queued_step = 0, syncs_per_step = 0;
  auto run_queued = [&](int n) {
#ifdef NG_HAS_CUDA
    if (dev != Device::CUDA || n <= 0) return;
    sync();
    const uint64_t syncs0 = cuda::host_syncs();
    const auto t0 = Clock::now();
    for (int s = 0; s < n; ++s) {
      Tensor loss = model_ptr->loss(x, y);
      loss.backward();
      opt_ptr->step();
      opt_ptr->zero_grad();
    }
    syncs_per_step = (double)(cuda::host_syncs() - syncs0) / n;
    sync();
    queued_step = std::chrono::duration<double>(Clock::now() - t0).count() / n;
#else
    (void)n;
#endif
  };
  auto report = [&](double step, double gemm) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    std::printf(
        "{\"impl\": \"normgrad\", \"device\": \"%s\", \"config\": \"%s\", \"norm\": "
        "\"%s\", \"precision\": \"%s\", \"threads\": %d, \"step_s\": %.6f, "
        "\"tokens_per_s\": %.1f, \"mean_step_s\": %.6f, \"gemm_only_s\": %.6f, "
        "\"gemm_flops\": %.0f, \"peak_rss_mb\": %.1f",
        device.c_str(), cfg_name.c_str(), norm.c_str(), to_string(matmul_precision()).c_str(),
        num_threads(), step, c.batch * c.block / step, mean_step, gemm, gemm_flops(c),
        ru.ru_maxrss / 1024.0);
    if (queued_step > 0)
      std::printf(
          ", \"queued_step_s\": %.6f, \"queued_tokens_per_s\": %.1f, "
          "\"host_syncs_per_step\": %.2f",
          queued_step, c.batch * c.block / queued_step, syncs_per_step);
    std::printf("}\n");
    std::fflush(stdout);
  };
  run_steps(warmup);
  if (!serve) {
    const double step = run_steps(steps);
    run_queued(steps);
    report(step, dev == Device::CPU ? gemm_only_seconds(c, 5) : 0.0);
    return 0;
  }
  // "queued K": K steps back to back, one wait at the end (see the header).
  auto queued = [&](int k) {
    sync();
#ifdef NG_HAS_CUDA
    if (dev == Device::CUDA) cuda::reset_peak();
    const uint64_t syncs0 = cuda::host_syncs();
#endif
    const auto t0 = Clock::now();
    for (int s = 0; s < k; ++s) {
      Tensor loss = model_ptr->loss(x, y);
      loss.backward();
      opt_ptr->step();
      opt_ptr->zero_grad();
    }
    double waits = 0, peak_mb = 0;
#ifdef NG_HAS_CUDA
    waits = (double)(cuda::host_syncs() - syncs0) / k;
#endif
    sync();
    const double step = std::chrono::duration<double>(Clock::now() - t0).count() / k;
#ifdef NG_HAS_CUDA
    if (dev == Device::CUDA) peak_mb = cuda::memory_stats().peak / 1048576.0;
#endif
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    std::printf(
        "{\"impl\": \"normgrad\", \"device\": \"%s\", \"config\": \"%s\", \"norm\": "
        "\"%s\", \"precision\": \"%s\", \"steps\": %d, \"step_s\": %.6f, "
        "\"tokens_per_s\": %.1f, \"host_syncs_per_step\": %.2f, \"peak_mem_mb\": %.1f, "
        "\"peak_rss_mb\": %.1f}\n",
        device.c_str(), cfg_name.c_str(), norm.c_str(), to_string(matmul_precision()).c_str(), k,
        step, c.batch * c.block / step, waits, peak_mb, ru.ru_maxrss / 1024.0);
    std::fflush(stdout);
  };
  auto ack = [](const char* what, const std::string& v) {
    std::printf("{\"ok\": \"%s %s\"}\n", what, v.c_str());
    std::fflush(stdout);
  };
  // gpu_train_bench.py's commands answer a failure as {"error": "..."} and keep serving.
  auto answer_errors = [](const auto& f) {
    try {
      f();
    } catch (const std::exception& e) {
      std::string m;
      for (const char* p = e.what(); *p; ++p)
        if (*p == '"' || *p == '\\')
          m += std::string("\\") + *p;
        else if ((unsigned char)*p >= 0x20)
          m += *p;
      std::printf("{\"error\": \"%s\"}\n", m.c_str());
      std::fflush(stdout);
    }
  };
  char line[256];
  while (std::fgets(line, sizeof line, stdin)) {
    int k = 0;
    char word[200] = {0};
    if (std::sscanf(line, "run %d", &k) == 1 && k > 0) {
      const double step = run_steps(k);
      report(step, dev == Device::CPU ? gemm_only_seconds(c, 3) : 0.0);
    } else if (std::sscanf(line, "queued %d", &k) == 1 && k > 0) {
      answer_errors([&] { queued(k); });
    } else if (std::sscanf(line, "norm %199s", word) == 1) {
      answer_errors([&] {
        norm = word;
        build();
        ack("norm", norm);
      });
    } else if (std::sscanf(line, "precision %199s", word) == 1) {
      answer_errors([&] {
        set_matmul_precision(parse_matmul_precision(word));
        ack("precision", to_string(matmul_precision()));
      });
    } else if (!std::strncmp(line, "quit", 4)) {
      break;
    } else {
      std::fprintf(stderr, "train_step --serve: unknown command %s", line);
      return 2;
    }
  }
  return 0;
}

// Every normgrad subcommand with --device cuda, run as the program a user runs: train and
// resume across devices (a GPU checkpoint resumes on the CPU and back), eval, sample, grads,
// convert, compare (child processes), sweep, and import followed by train --init-from. Each
// GPU result is checked against the same command on the CPU. Without a GPU each case prints
// why it was skipped. The "cli" suite at the end checks, without a GPU, that these commands
// take --device like train, and refuse cuda with one clear error where there is none.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../core/src/cpu/cpu_backend.h"
#include "cli_helpers.h"
#include "gpu_ready.h"
#include "normgrad/backend.h"
#include "normgrad/nn/gpt.h"
#include "normgrad/nn/hf_gpt2.h"
#include "normgrad/nn/probes.h"
#include "normgrad/nn/safetensors.h"
#include "normgrad/norm_kind.h"
#include "normgrad/ops.h"
#include "normgrad/optim.h"
#include "normgrad/train/inspect.h"
#include "normgrad/train/saved_run.h"
#include "normgrad/train/train.h"

#ifdef NG_HAS_CUDA
#include "normgrad/cuda.h"
#endif

using namespace ngt;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// One run of the normgrad program: exit code, stdout, stderr (kept in TAG.out / TAG.err). An
// exit code other than `expect` prints the command and its stderr.
struct Ran {
  int rc = -1;
  std::string out, err;
};
Ran normgrad(const std::string& args, const std::string& tag, int expect = 0) {
  const std::string o = tag + ".out", e = tag + ".err";
  const int status =
      std::system((std::string(NG_CLI_BINARY) + " " + args + " > " + o + " 2> " + e).c_str());
  Ran r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(o), slurp(e)};
  if (r.rc != expect) MESSAGE("normgrad " << args << "\nexit " << r.rc << ", stderr:\n" << r.err);
  return r;
}

// A corpus with enough text for a few hundred distinct 32-character windows.
std::string gpu_corpus() {
  const std::string path = "cuda_cli_corpus.txt";
  std::ofstream f(path);
  for (int i = 0; i < 400; ++i)
    f << "line " << i << ": the quick brown fox jumps over " << (i * 7919 % 1000) << " lazy dogs, "
      << (i % 3 ? "twice" : "once") << ".\n";
  return path;
}

// A small run's flags (no dropout: the CPU and GPU runs see the same arithmetic).
std::string run_flags(const std::string& data, const std::string& out) {
  return "--data " + data + " --out " + out +
         " --n-layer 2 --n-head 2 --n-embd 32 --block-size 32 --batch 8 --max-steps 20"
         " --warmup 4 --eval-interval 10 --eval-iters 2 --ckpt-interval 10 --dropout 0"
         " --tensorboard false --overwrite";  // the folders of the suite's previous run
}

// The checkpoint the eval / sample / grads / convert cases read: 20 CPU steps of layernorm,
// trained once per test process.
const std::string& trained_ckpt() {
  static const std::string path = [] {
    ngcli::TrainConfig c;
    c.data = gpu_corpus();
    c.out = "cuda_cli_trained";
    c.quiet = true, c.tensorboard = false;
    c.n_layer = 2, c.n_head = 2, c.n_embd = 32, c.block_size = 32, c.batch = 8;
    c.max_steps = 20, c.warmup = 4, c.eval_interval = 10, c.eval_iters = 2, c.ckpt_interval = 10;
    c.dropout = 0;
    ngcli::train(c);
    return c.out + "/ckpt.safetensors";
  }();
  return path;
}

// The last "val_loss" of a run's metrics.jsonl (NaN when it has none).
double last_val_loss(const std::string& run_dir) {
  double v = NAN;
  for (const auto& l : lines(run_dir + "/metrics.jsonl")) {
    const json m = json::parse(l);
    if (m.contains("val_loss")) v = m["val_loss"].get<double>();
  }
  return v;
}

// Every run folder below `dir` (relative path -> its last val loss).
std::map<std::string, double> val_losses_below(const std::string& dir) {
  std::map<std::string, double> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename() == "metrics.jsonl") {
      const fs::path run = e.path().parent_path();
      out[fs::relative(run, dir).string()] = last_val_loss(run.string());
    }
  return out;
}

// |a - b| within rel of |b|: the float32 arithmetic of the two devices differs in order.
bool close(double a, double b, double rel = 1e-3) {
  return std::isfinite(a) && std::isfinite(b) && std::fabs(a - b) <= rel * std::fabs(b);
}

// ||a - b|| / ||b|| over the model tensors of two checkpoints, optimizer state aside, and
// c_attn.bias: a third of it (the key bias) has an exactly zero gradient in exact arithmetic,
// so in float32 rounding noise whose sign depends on the summation order, which AdamW scales
// up to a step of about lr in a direction no two devices agree on ("AdamW step on the GPU
// equals the CPU step" in test_cuda.cpp). It shifts every score of a query alike, which the
// softmax ignores: the losses compared beside this check do not see it.
double weights_relative_difference(const std::string& a, const std::string& b) {
  const auto ta = ng::nn::load_safetensors(a).tensors, tb = ng::nn::load_safetensors(b).tensors;
  double diff = 0, ref = 0;
  for (const auto& [name, t] : tb) {
    if (name.rfind("optim.", 0) == 0 || name.find("attn.c_attn.bias") != std::string::npos)
      continue;
    REQUIRE(ta.count(name) == 1);
    const auto x = ta.at(name).to_vector(), y = t.to_vector();
    REQUIRE(x.size() == y.size());
    for (size_t i = 0; i < x.size(); ++i) diff += (x[i] - y[i]) * (x[i] - y[i]), ref += y[i] * y[i];
  }
  return std::sqrt(diff / ref);
}

// The number after "eval: loss " in eval's output.
double printed_eval_loss(const std::string& out) {
  const size_t at = out.find("eval: loss ");
  REQUIRE(at != std::string::npos);
  return std::stod(out.substr(at + 11));
}

void remove_all(std::initializer_list<const char*> paths) {
  for (const char* p : paths) fs::remove_all(p);
}

// A stand-in second device for machines without a GPU: tensors tagged Device::CUDA whose
// memory is host memory and whose every kernel is the CPU backend's (the CPU's fused norm
// kernels for `kinds`). The ops check devices as they do with a GPU, so a tensor made on the
// host and combined with the model's fails here as it would there ("device mismatch").
// Used only where no GPU is usable; the scope restores what it replaced.
class HostStandIn final : public ng::Backend {
 public:
  const char* name() const override { return "host stand-in for cuda"; }
  std::shared_ptr<ng::Storage> allocate(size_t n) override {
    auto st = cpu().allocate(n);
    st->device = ng::Device::CUDA;
    return st;
  }
  void copy_from_host(void* d, const void* s, size_t n) override { cpu().copy_from_host(d, s, n); }
  void copy_to_host(void* d, const void* s, size_t n) override { cpu().copy_to_host(d, s, n); }
  void copy(const ng::Tensor& s, const ng::Tensor& d) override { cpu().copy(s, d); }
  void fill(const ng::Tensor& d, double v) override { cpu().fill(d, v); }
  void unary(ng::UnaryOp op, const ng::Tensor& x, const ng::Tensor& out, double a,
             double b) override {
    cpu().unary(op, x, out, a, b);
  }
  void binary(ng::BinaryOp op, const ng::Tensor& a, const ng::Tensor& b,
              const ng::Tensor& out) override {
    cpu().binary(op, a, b, out);
  }
  void where(const ng::Tensor& c, const ng::Tensor& a, const ng::Tensor& b,
             const ng::Tensor& out) override {
    cpu().where(c, a, b, out);
  }
  void reduce(ng::ReduceOp op, const ng::Tensor& x, const std::vector<int64_t>& dims,
              const ng::Tensor& out) override {
    cpu().reduce(op, x, dims, out);
  }
  void gemm(const ng::Tensor& a, const ng::Tensor& b, const ng::Tensor& out,
            bool accumulate) override {
    cpu().gemm(a, b, out, accumulate);
  }
  void softmax(const ng::Tensor& x, int64_t dim, bool log, const ng::Tensor& out) override {
    cpu().softmax(x, dim, log, out);
  }
  void index_select(const ng::Tensor& x, int64_t dim, const ng::Tensor& i,
                    const ng::Tensor& out) override {
    cpu().index_select(x, dim, i, out);
  }
  void index_add(const ng::Tensor& out, int64_t dim, const ng::Tensor& i,
                 const ng::Tensor& src) override {
    cpu().index_add(out, dim, i, src);
  }
  void gather(const ng::Tensor& x, int64_t dim, const ng::Tensor& i,
              const ng::Tensor& out) override {
    cpu().gather(x, dim, i, out);
  }
  void check_indices(const ng::Tensor& i, int64_t size, int64_t ignore, const char* op) override {
    cpu().check_indices(i, size, ignore, op);
  }
  void scatter_add(const ng::Tensor& out, int64_t dim, const ng::Tensor& i,
                   const ng::Tensor& src) override {
    cpu().scatter_add(out, dim, i, src);
  }
  void adam_step(const ng::AdamParams& a, const ng::Tensor& p, const ng::Tensor& g,
                 const ng::Tensor& m, const ng::Tensor& v) override {
    cpu().adam_step(a, p, g, m, v);
  }
  ng::Tensor attention_forward(const ng::Tensor& qkv, int64_t n_head, double scale,
                               const ng::Tensor& y) override {
    return cpu().attention_forward(qkv, n_head, scale, y);
  }
  void attention_backward(const ng::Tensor& g, const ng::Tensor& qkv, const ng::Tensor& y,
                          const ng::Tensor& saved, int64_t n_head, double scale,
                          const ng::Tensor& dqkv) override {
    cpu().attention_backward(g, qkv, y, saved, n_head, scale, dqkv);
  }

 private:
  static ng::Backend& cpu() { return ng::cpu::cpu_backend(); }
};

struct HostStandInScope {
  HostStandIn device;
  ng::Backend* previous = nullptr;
  std::vector<std::pair<std::string, ng::NormKernels>> replaced;  // the GPU's, restored after
  explicit HostStandInScope(const std::vector<std::string>& kinds) {
    if (ng::has_backend(ng::Device::CUDA)) previous = &ng::backend(ng::Device::CUDA);
    ng::register_backend(ng::Device::CUDA, &device);
    for (const auto& k : kinds) {
      const ng::NormKernels* on_cpu = ng::find_norm_kernels(ng::Device::CPU, k);
      REQUIRE(on_cpu != nullptr);
      if (const ng::NormKernels* gpu = ng::find_norm_kernels(ng::Device::CUDA, k))
        replaced.emplace_back(k, *gpu);
      ng::register_norm_kernels(ng::Device::CUDA, k, *on_cpu);
    }
  }
  // A kind without GPU kernels before keeps the CPU's: harmless, no GPU tensor can exist here.
  ~HostStandInScope() {
    for (const auto& [k, kernels] : replaced)
      ng::register_norm_kernels(ng::Device::CUDA, k, kernels);
    ng::register_backend(ng::Device::CUDA, previous);
  }
};

bool gpu_usable() {
#ifdef NG_HAS_CUDA
  return ng::cuda::is_available();
#else
  return false;
#endif
}

// One probe record of a small GPT (layernorm blocks, DyT final norm: the saturation probes)
// after one AdamW step on `dev`.
json probe_record(ng::Device dev) {
  ng::nn::GPTConfig c;
  c.vocab = 13, c.n_layer = 1, c.n_head = 2, c.n_embd = 16, c.block_size = 8;
  c.norm_final = "dyt";
  ng::nn::GPT m(c);
  m.to(dev);
  ng::optim::AdamW opt(ng::optim::default_groups(m.named_parameters(), 0.1), 1e-3);
  ng::nn::Probes probes(m, {.scatter_points = 8, .jacobian_tokens = 2, .power_iters = 5});
  ng::Generator gen(5);
  const ng::Tensor idx = ng::randint(0, 13, {2, 8}, {.dtype = ng::DType::I64}, &gen);
  const ng::Tensor tgt = ng::randint(0, 13, {2, 8}, {.dtype = ng::DType::I64}, &gen);
  probes.arm();
  m.loss(idx.to(dev), tgt.to(dev)).backward();
  probes.before_update();
  opt.step();
  return json::parse(probes.after_update(1));
}

}  // namespace

TEST_SUITE("cuda") {
  TEST_CASE(
      "normgrad train/resume --device cuda: GPU -> CPU and CPU -> GPU resumes reach the "
      "CPU run's loss") {
    if (!gpu_ready()) return;
    const std::string data = gpu_corpus();
    REQUIRE(
        normgrad("train --quiet --device cpu " + run_flags(data, "cuda_cli_ref"), "cuda_cli_ref")
            .rc == 0);
    // Steps 1-10 on the GPU, 11-20 on the CPU, and the other way round; --stop-at keeps the
    // schedule of the 20-step run.
    // The GPU segment also prints a sample (the model's device, its own host draws).
    const Ran g = normgrad(
        "train --device cuda --stop-at 10 --sample-interval 10 " + run_flags(data, "cuda_cli_g2c"),
        "cuda_cli_g2c_a");
    REQUIRE(g.rc == 0);
    CHECK(g.out.find("device: cuda") != std::string::npos);
    CHECK(g.out.find("sample at step 10:") != std::string::npos);
    REQUIRE(normgrad("train --quiet --device cpu --stop-at 10 " + run_flags(data, "cuda_cli_c2g"),
                     "cuda_cli_c2g_a")
                .rc == 0);
    // The step-10 checkpoints written on the two devices hold the same weights.
    const double w = weights_relative_difference("cuda_cli_g2c/ckpt.safetensors",
                                                 "cuda_cli_c2g/ckpt.safetensors");
    MESSAGE("step 10: GPU vs CPU checkpoint weights, relative difference " << w);
    CHECK(w <= 1e-4);
    REQUIRE(
        normgrad("train --quiet --resume --device cpu --out cuda_cli_g2c", "cuda_cli_g2c_b").rc ==
        0);
    const Ran c = normgrad("train --resume --device cuda --out cuda_cli_c2g", "cuda_cli_c2g_b");
    REQUIRE(c.rc == 0);
    CHECK(c.out.find("resumed from") != std::string::npos);
    const double ref = last_val_loss("cuda_cli_ref"), g2c = last_val_loss("cuda_cli_g2c"),
                 c2g = last_val_loss("cuda_cli_c2g");
    MESSAGE("val loss at step 20: CPU " << ref << ", GPU then CPU " << g2c << ", CPU then GPU "
                                        << c2g);
    CHECK(close(g2c, ref));
    CHECK(close(c2g, ref));
    CHECK(ngcli::read_saved_run("cuda_cli_c2g/ckpt.safetensors", true).step == 20);
    remove_all({"cuda_cli_ref", "cuda_cli_g2c", "cuda_cli_c2g"});
  }

  TEST_CASE("normgrad eval --device cuda prints the CPU's loss") {
    if (!gpu_ready()) return;
    const std::string& ckpt = trained_ckpt();
    const Ran c = normgrad("eval --ckpt " + ckpt + " --device cpu", "cuda_cli_eval_cpu");
    const Ran g = normgrad("eval --ckpt " + ckpt + " --device cuda", "cuda_cli_eval_gpu");
    REQUIRE(c.rc == 0);
    REQUIRE(g.rc == 0);
    // printed with 4 decimals: equal up to one unit of the last digit
    CHECK(std::fabs(printed_eval_loss(g.out) - printed_eval_loss(c.out)) <= 1.5e-4);
    const double lc = ngcli::eval_command(ckpt, "", 0, "cpu"),
                 lg = ngcli::eval_command(ckpt, "", 0, "cuda");
    MESSAGE("eval: CPU " << lc << ", GPU " << lg);
    CHECK(close(lg, lc, 1e-5));
  }

  TEST_CASE("normgrad sample --device cuda draws the CPU's text from the same seed") {
    if (!gpu_ready()) return;
    const std::string args = "sample --ckpt " + trained_ckpt() +
                             " --prompt 'line 1' --tokens 40 --temperature 0.8 --top-k 5 --seed 7";
    const Ran c = normgrad(args + " --device cpu", "cuda_cli_sample_cpu");
    const Ran g = normgrad(args + " --device cuda", "cuda_cli_sample_gpu");
    REQUIRE(c.rc == 0);
    REQUIRE(g.rc == 0);
    MESSAGE("CPU: " << c.out << "GPU: " << g.out);
    // The draws are made on the host from the seed; the logits differ by float rounding only,
    // far less than the gaps between the cumulative probabilities the draws fall in.
    CHECK(g.out.size() > 40);
    CHECK(g.out == c.out);
  }

  TEST_CASE("normgrad grads --device cuda writes the CPU's loss and gradients") {
    if (!gpu_ready()) return;
    const std::string args = "grads --ckpt " + trained_ckpt();
    REQUIRE(normgrad(args + " --device cpu --out cuda_cli_g_cpu.safetensors", "cuda_cli_grads_cpu")
                .rc == 0);
    REQUIRE(normgrad(args + " --device cuda --out cuda_cli_g_gpu.safetensors", "cuda_cli_grads_gpu")
                .rc == 0);
    const auto c = ng::nn::load_safetensors("cuda_cli_g_cpu.safetensors").tensors;
    const auto g = ng::nn::load_safetensors("cuda_cli_g_gpu.safetensors").tensors;
    REQUIRE(c.size() == g.size());
    CHECK(g.at("input_ids").to_vector() == c.at("input_ids").to_vector());  // the same batch
    CHECK(close(g.at("loss").item(), c.at("loss").item(), 1e-5));
    int grads = 0;
    for (const auto& [name, t] : c) {
      if (name.rfind("grad.", 0) != 0) continue;
      CAPTURE(name);
      REQUIRE(g.count(name) == 1);
      const double diff = (g.at(name) - t).norm().item(), ref = t.norm().item();
      CHECK(diff <= 1e-3 * ref + 1e-7);
      ++grads;
    }
    CHECK(grads > 10);
    fs::remove("cuda_cli_g_cpu.safetensors");
    fs::remove("cuda_cli_g_gpu.safetensors");
  }

  TEST_CASE("normgrad convert --device cuda reports the CPU's statistics and losses") {
    if (!gpu_ready()) return;
    const std::string args = "convert --ckpt " + trained_ckpt() +
                             " --to dyt,dyisru --init default,stats --steps 4 --eval-batches 2 "
                             "--tensorboard false";
    REQUIRE(normgrad(args + " --device cpu --report cuda_cli_conv_cpu", "cuda_cli_conv_cpu").rc ==
            0);
    REQUIRE(normgrad(args + " --device cuda --report cuda_cli_conv_gpu", "cuda_cli_conv_gpu").rc ==
            0);
    const json c = json::parse(slurp("cuda_cli_conv_cpu/summary.json"));
    const json g = json::parse(slurp("cuda_cli_conv_gpu/summary.json"));
    CHECK(close(g["before"].get<double>(), c["before"].get<double>(), 1e-5));
    for (const auto& [p, s] : c["stats"].items()) {
      CAPTURE(p);
      CHECK(
          close(g["stats"][p]["mean_square"].get<double>(), s["mean_square"].get<double>(), 1e-4));
    }
    REQUIRE(g["rows"].size() == 4);
    for (size_t i = 0; i < c["rows"].size(); ++i)
      for (const char* k : {"after", "norm_ft", "all_ft"}) {
        CAPTURE(c["rows"][i].dump());
        CAPTURE(k);
        CHECK(close(g["rows"][i][k].get<double>(), c["rows"][i][k].get<double>()));
      }
    remove_all({"cuda_cli_conv_cpu", "cuda_cli_conv_gpu"});
  }

  TEST_CASE(
      "normgrad compare --device cuda --jobs 2: child processes on the GPU, probes "
      "recorded, the CPU's losses") {
    if (!gpu_ready()) return;
    // dyt records the saturation probes too; every run probes every 5 steps (index_select of
    // sampled rows, Jacobian power iterations: tensors made on the host meet GPU ones there)
    // and, with TensorBoard on, writes every gradient's histogram at those steps.
    const std::string args = "compare --data " + gpu_corpus() +
                             " --variant layernorm --variant dyt:scale=sqrtc,alpha0=2 --seeds 1 "
                             "--jobs 2 --max-steps 20 --n-layer 2 --n-head 2 --n-embd 32 "
                             "--block-size 32 --batch 8 --eval-interval 10 --eval-iters 2 "
                             "--ckpt-interval 20 --probe-interval 5";
    REQUIRE(normgrad(args + " --device cpu --report cuda_cli_cmp_cpu", "cuda_cli_cmp_cpu").rc == 0);
    REQUIRE(normgrad(args + " --device cuda --report cuda_cli_cmp_gpu", "cuda_cli_cmp_gpu").rc ==
            0);
    CHECK(fs::exists("cuda_cli_cmp_gpu/report.md"));
    const auto c = val_losses_below("cuda_cli_cmp_cpu"), g = val_losses_below("cuda_cli_cmp_gpu");
    REQUIRE(c.size() == 2);
    REQUIRE(g.size() == 2);
    for (const auto& [run, loss] : c) {
      CAPTURE(run);
      REQUIRE(g.count(run) == 1);
      CHECK(close(g.at(run), loss));
      const auto probes = lines("cuda_cli_cmp_gpu/" + run + "/probes.jsonl");
      CHECK(probes.size() == 4);
      for (const auto& l : probes) {
        const json p = json::parse(l);
        for (const auto& n : p["norms"]) {
          CHECK(n["scatter_x"].size() > 0);
          CHECK(n["jacobian_sigma_max"].size() > 0);
          if (n["kind"] == "dyt") CHECK(n.contains("saturation"));
        }
      }
    }
    remove_all({"cuda_cli_cmp_cpu", "cuda_cli_cmp_gpu"});
  }

  TEST_CASE("normgrad sweep --device cuda: every cell trains on the GPU to the CPU's loss") {
    if (!gpu_ready()) return;
    // --jobs 1: the cells run in this process and print their device.
    const std::string args = "sweep --data " + gpu_corpus() +
                             " --variant dyt:scale=sqrtc --param alpha0 --values 1,2 --widths 32 "
                             "--seeds 1 --jobs 1 --max-steps 20 --n-head 2 --block-size 32 "
                             "--batch 8 --eval-interval 10 --eval-iters 2 --ckpt-interval 20 "
                             "--tensorboard false";
    REQUIRE(normgrad(args + " --device cpu --report cuda_cli_sw_cpu", "cuda_cli_sw_cpu").rc == 0);
    const Ran g = normgrad(args + " --device cuda --report cuda_cli_sw_gpu", "cuda_cli_sw_gpu");
    REQUIRE(g.rc == 0);
    CHECK(g.out.find("device: cuda") != std::string::npos);
    const auto c = val_losses_below("cuda_cli_sw_cpu"), gl = val_losses_below("cuda_cli_sw_gpu");
    REQUIRE(c.size() == 2);
    REQUIRE(gl.size() == 2);
    for (const auto& [run, loss] : c) {
      CAPTURE(run);
      REQUIRE(gl.count(run) == 1);
      CHECK(close(gl.at(run), loss));
    }
    remove_all({"cuda_cli_sw_cpu", "cuda_cli_sw_gpu"});
  }

  TEST_CASE("normgrad import, then train --init-from --device cuda and eval --device cuda on it") {
    if (!gpu_ready()) return;
    // A Hugging Face GPT-2 folder without tokenizer files (imported with an ids tokenizer),
    // and a token file to fine-tune it on.
    std::vector<uint16_t> toks;
    for (int i = 0; i < 3000; ++i) toks.push_back((uint16_t)((i * 7 + i / 13) % 50));
    std::ofstream("cuda_cli_tokens.bin", std::ios::binary)
        .write((const char*)toks.data(), (std::streamsize)(toks.size() * 2));
    ng::nn::GPTConfig gc;
    gc.vocab = 50, gc.n_layer = 2, gc.n_head = 2, gc.n_embd = 32, gc.block_size = 32;
    ng::nn::write_hf_gpt2(ng::nn::GPT(gc), "cuda_cli_hf");
    REQUIRE(normgrad("import --hf cuda_cli_hf --out cuda_cli_imported", "cuda_cli_import").rc == 0);
    const std::string ckpt = "cuda_cli_imported/ckpt.safetensors";
    const std::string tune = "train --init-from " + ckpt +
                             " --data cuda_cli_tokens.bin --batch 8 --max-steps 20 --warmup 4 "
                             "--eval-interval 10 --eval-iters 2 --ckpt-interval 20 --lr 3e-3 "
                             "--tensorboard false --quiet";
    REQUIRE(normgrad(tune + " --device cpu --out cuda_cli_ft_cpu", "cuda_cli_ft_cpu").rc == 0);
    REQUIRE(normgrad(tune + " --device cuda --out cuda_cli_ft_gpu", "cuda_cli_ft_gpu").rc == 0);
    const double c = last_val_loss("cuda_cli_ft_cpu"), g = last_val_loss("cuda_cli_ft_gpu");
    MESSAGE("fine-tuned from the import, val loss at step 20: CPU " << c << ", GPU " << g);
    CHECK(close(g, c));
    CHECK(c < std::log(50.0));  // it learned something beyond uniform guessing
    const Ran ec = normgrad("eval --ckpt " + ckpt + " --data cuda_cli_tokens.bin --device cpu",
                            "cuda_cli_ieval_cpu");
    const Ran eg = normgrad("eval --ckpt " + ckpt + " --data cuda_cli_tokens.bin --device cuda",
                            "cuda_cli_ieval_gpu");
    REQUIRE(ec.rc == 0);
    REQUIRE(eg.rc == 0);
    CHECK(std::fabs(printed_eval_loss(eg.out) - printed_eval_loss(ec.out)) <= 1.5e-4);
    remove_all({"cuda_cli_hf", "cuda_cli_imported", "cuda_cli_ft_cpu", "cuda_cli_ft_gpu",
                "cuda_cli_tokens.bin"});
  }
}  // TEST_SUITE("cuda")

// Without a GPU: the commands that run a model take --device as train does (the same values
// and check), run with cpu, and with cuda where there is no GPU stop with one clear error
// before any work (no report folder), not with "unknown flag" or a failure per run.
TEST_SUITE("cli") {
  TEST_CASE("eval, sample, grads, convert, compare, sweep take --device like train") {
    const std::string& ckpt = trained_ckpt();
    const std::string data = gpu_corpus();
    const std::map<std::string, std::string> commands = {
        {"eval", "eval --ckpt " + ckpt + " --max-windows 2"},
        {"sample", "sample --ckpt " + ckpt + " --tokens 5"},
        {"grads", "grads --ckpt " + ckpt + " --out cuda_cli_dev_grads.safetensors"},
        {"convert", "convert --ckpt " + ckpt +
                        " --to dyt --init default --steps 0 --eval-batches 1 --tensorboard false "
                        "--figures 0 --report cuda_cli_dev_report"},
        {"compare",
         "compare --data " + data +
             " --kinds layernorm --seeds 1 --max-steps 2 --n-layer 1 --n-embd 16 --n-head 2 "
             "--block-size 16 --batch 2 --eval-iters 1 --tensorboard false --jobs 1 "
             "--figures 0 --report cuda_cli_dev_report"},
        {"sweep", "sweep --data " + data +
                      " --values 1 --widths 16 --seeds 1 --max-steps 2 --n-layer 1 --n-head 2 "
                      "--block-size 16 --batch 2 --eval-iters 1 --tensorboard false --jobs 1 "
                      "--figures 0 --report cuda_cli_dev_report"}};
    for (const auto& [name, args] : commands) {
      CAPTURE(name);
      const Ran bad = normgrad(args + " --device tpu", "cuda_cli_dev_" + name, 2);
      CHECK(bad.rc == 2);  // the command line's own check, as train's
      CHECK(bad.err.find("--device") != std::string::npos);
      CHECK(normgrad(args + " --device cpu", "cuda_cli_dev_" + name).rc == 0);
      fs::remove_all("cuda_cli_dev_report");
#ifdef NG_HAS_CUDA
      const bool gpu = ng::cuda::is_available();
#else
      const bool gpu = false;
#endif
      if (gpu) continue;  // the cuda suite runs them there
      const Ran r = normgrad(args + " --device cuda", "cuda_cli_dev_" + name, 1);
      CHECK(r.rc == 1);
      CHECK(r.err.find("--device cuda: ") != std::string::npos);  // no GPU, or no CUDA backend
      CHECK(!fs::exists("cuda_cli_dev_report"));
    }
    fs::remove("cuda_cli_dev_grads.safetensors");
  }

  TEST_CASE("compare and sweep hand the run's --device to their training processes") {
    ngcli::TrainConfig c;
    c.device = "cuda";
    const auto flags = c.to_flags();
    const auto it = std::find(flags.begin(), flags.end(), "--device");
    REQUIRE(it != flags.end());
    REQUIRE(it + 1 != flags.end());
    CHECK(*(it + 1) == "cuda");
  }
}  // TEST_SUITE("cli")

TEST_SUITE("nn") {
  TEST_CASE("probes follow the model's device: a host-memory stand-in for a second device") {
    if (gpu_usable()) {
      MESSAGE("skipped: a GPU is usable here; the cuda suite's compare and probe cases run on it");
      return;
    }
    const json want = probe_record(ng::Device::CPU);
    json got;
    {
      HostStandInScope second({"layernorm", "dyt"});
      // Before the fix: "[index_select] device mismatch: indices [8] on cpu, tensor [16, 16]
      // on cuda" (the sampled rows), then the DyT saturation threshold and the Jacobian's
      // vectors, all made on the host.
      got = probe_record(ng::Device::CUDA);
      // An optimizer with no gradients yet reports a norm on the parameters' device.
      ng::nn::GPT m(
          ng::nn::GPTConfig{.vocab = 5, .n_layer = 1, .n_head = 1, .n_embd = 4, .block_size = 2});
      m.to(ng::Device::CUDA);
      CHECK(ng::optim::grad_norm_tensor(m.parameters()).device() == ng::Device::CUDA);
    }
    REQUIRE(got["norms"].size() == want["norms"].size());
    for (size_t i = 0; i < want["norms"].size(); ++i) {
      const json &g = got["norms"][i], &w = want["norms"][i];
      CAPTURE(w["name"]);
      // the same host draws: the same sampled rows and channels, so the same values
      CHECK(g["scatter_x"] == w["scatter_x"]);
      REQUIRE(g["jacobian_sigma_max"].size() == w["jacobian_sigma_max"].size());
      for (size_t t = 0; t < w["jacobian_sigma_max"].size(); ++t)
        CHECK(close(g["jacobian_sigma_max"][t].get<double>(),
                    w["jacobian_sigma_max"][t].get<double>(), 1e-5));
      CHECK(g.contains("saturation") == (w["kind"] == "dyt"));
      if (w["kind"] == "dyt") CHECK(g["saturation"] == w["saturation"]);
    }
  }
}  // TEST_SUITE("nn")

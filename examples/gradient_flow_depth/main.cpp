// Gradient flow across depth: a deeper, narrow GPT (12 layers, n_embd 64) trained briefly
// with each norm kind (same seed and batches). Plots the relative gradient reaching each
// block's residual stream, ||dL/dx|| RMS(x) (scale-free: the raw ||dL/dx|| shrinks as the
// stream grows, with depth and across norms), at several points in training and each norm
// layer's Jacobian top singular value; prints the first/last block ratio of that gradient.
//   build/release/examples/gradient_flow_depth [--steps N] [--report DIR]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../common/example_io.h"
#include "normgrad/nn.h"
#include "normgrad/normgrad.h"
#include "normgrad/report/compare.h"
#include "normgrad/train/data.h"

using namespace ng;

// Singular values of a square matrix J (row-major, n x n): square roots of the eigenvalues
// of the symmetric J J^T, found by cyclic Jacobi rotations.
static std::vector<double> singular_values(const std::vector<double>& J, int64_t n) {
  std::vector<double> A(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = 0; k < n; ++k) A[i * n + j] += J[i * n + k] * J[j * n + k];
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) off += A[p * n + q] * A[p * n + q];
    if (off < 1e-30) break;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) {
        if (std::fabs(A[p * n + q]) < 1e-300) continue;
        const double theta = (A[q * n + q] - A[p * n + p]) / (2 * A[p * n + q]);
        const double t = (theta >= 0 ? 1 : -1) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int64_t k = 0; k < n; ++k) {  // A <- R^T A R
          const double akp = A[k * n + p], akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (int64_t k = 0; k < n; ++k) {
          const double apk = A[p * n + k], aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
      }
  }
  std::vector<double> sv(n);
  for (int64_t i = 0; i < n; ++i) sv[i] = std::sqrt(std::max(0.0, A[i * n + i]));
  std::sort(sv.rbegin(), sv.rend());
  return sv;
}

// The full Jacobian spectrum of one mid-depth norm layer (ln_1 of block 6) of a trained
// checkpoint, at one token of the first window of the corpus: J built row by row from
// vector-Jacobian products of the layer's pre-affine map.
static std::vector<double> layer_spectrum(const std::string& ckpt) {
  const nn::Safetensors f = nn::load_safetensors(ckpt);
  const ngcli::TrainConfig cfg = ngcli::TrainConfig::from_json(f.metadata.at("config"));
  const ngcli::CharTokenizer tok = ngcli::CharTokenizer::from_vocab_string(f.metadata.at("vocab"));
  nn::GPT model(cfg.gpt(tok.size()));
  nn::StateDict sd;
  for (auto& [k, v] : f.tensors)
    if (k.rfind("optim.", 0) != 0) sd[k] = v;
  model.load_state_dict(sd);
  model.eval();
  auto ids = tok.encode(ngcli::load_default_corpus().substr(0, 4096));
  ids.resize(cfg.block_size);
  nn::Norm& norm = *model.blocks()[cfg.n_layer / 2]->ln_1;
  Tensor captured;
  const int id = norm.register_forward_hook(
      [&](nn::Module&, const Tensor& in, const Tensor&) { captured = in.detach(); });
  {
    NoGradGuard off;
    model(from_vector(ids, {1, cfg.block_size}));
  }
  norm.remove_forward_hook(id);
  const int64_t C = cfg.n_embd;
  const Tensor x =
      captured.select(1, cfg.block_size / 2).reshape({C}).to(DType::F64).requires_grad_();
  norm.to(DType::F64);
  const Tensor y = norm.normalize(x.reshape({1, C})).reshape({C});
  std::vector<double> J(C * C);
  for (int64_t i = 0; i < C; ++i) {
    std::vector<double> e(C, 0.0);
    e[i] = 1.0;
    const Tensor row = autograd::grad({y}, {x}, {from_vector(e, {C}, {.dtype = DType::F64})}, false,
                                      true, true)[0];
    const auto r = row.defined() ? row.to_vector() : std::vector<double>(C, 0.0);
    std::copy(r.begin(), r.end(), J.begin() + i * C);
  }
  return singular_values(J, C);
}

int main(int argc, char** argv) {
  int64_t steps = 150;
  std::string dir = "gradient_flow_depth";
  example::parse_steps_report(argc, argv, steps, dir);
  ngcli::TrainConfig c;
  c.n_layer = 12, c.n_head = 4, c.n_embd = 64, c.batch = 8;
  c.max_steps = steps, c.warmup = steps / 5, c.eval_interval = steps, c.eval_iters = 4;
  c.probe_interval = std::max<int64_t>(1, steps / 6);
  c.scale = "sqrtc", c.alpha0 = 1.0, c.quiet = true;  // the element-wise norms' trainable form
  c.overwrite = true;  // a rerun with other --steps replaces the example's runs
  try {
    ngcli::compare(c, {"layernorm", "rmsnorm", "dyt", "dyisru", "none"}, dir);
  } catch (const ng::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  const auto summary = nlohmann::json::parse(std::ifstream(dir + "/summary.json"));
  std::printf("%-10s %10s %26s   %s\n", "norm", "val loss", "first/last block rel. grad",
              "relative gradient across 12 blocks");
  for (const auto& e : summary["variants"]) {
    // first / last block of the relative residual-stream gradient at the last probe
    std::string line, last;
    std::ifstream pf(ngcli::run_dir(dir, e["spec"], c.seed) + "/probes.jsonl");
    while (std::getline(pf, line))
      if (!line.empty()) last = line;
    std::string q = "n/a";
    if (!last.empty()) {
      const auto r = nlohmann::json::parse(last)["relative_grad"];
      if (r.front().is_number() && r.back().is_number() && r.back().get<double>() > 0)
        q = std::to_string(r.front().get<double>() / r.back().get<double>());
    }
    std::printf("%-10s %10.4f %26s   %s\n", e["spec"].get<std::string>().c_str(),
                e["val_loss_mean"].get<double>(), q.c_str(),
                e["gradient"].get<std::string>().c_str());
  }
  // Full Jacobian spectrum of one norm layer per kind.
  std::ofstream js(dir + "/spectrum.json");
  js << "{";
  std::printf("\nJacobian singular values of h.6.ln_1 (one token): largest / median / smallest\n");
  bool first = true;
  for (const auto& e : summary["variants"]) {
    const std::string k = e["spec"];
    const auto sv = layer_spectrum(ngcli::run_dir(dir, k, c.seed) + "/ckpt.safetensors");
    std::printf("%-10s %12.4g %12.4g %12.4g\n", k.c_str(), sv.front(), sv[sv.size() / 2],
                sv.back());
    js << (first ? "" : ", ") << "\"" << k << "\": [";
    for (size_t i = 0; i < sv.size(); ++i) js << (i ? ", " : "") << sv[i];
    js << "]";
    first = false;
  }
  js << "}\n";
  js.close();
  const bool fig = example::draw("spectrum", dir + "/spectrum.json", dir + "/spectrum.png");
  std::printf(
      "figures: %s/grad_flow.png, %s/jacobian.png%s\n", dir.c_str(), dir.c_str(),
      fig ? (", " + dir + "/spectrum.png").c_str() : " (spectrum figure skipped: no matplotlib)");
  return 0;
}

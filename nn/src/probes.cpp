#include "normgrad/nn/probes.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "normgrad/autograd.h"
#include "normgrad/ops.h"

namespace ng::nn {

using json = nlohmann::json;

struct Probes::NormRecord {
  std::string name;
  Norm* norm;
  json stats;
};
struct Probes::BlockRecord {
  json residual_grad;  // filled by a tensor hook during backward
};

namespace {
// The probes draw on the host (one generator, the same draws on every device) and index or
// compare tensors that live on the model's device: these put the host values there.
Tensor row_indices(const std::vector<int64_t>& rows, const Tensor& like) {
  return from_vector(rows, {(int64_t)rows.size()}).to(like.device());
}
Tensor threshold(double t, const Tensor& like) {
  return full({}, t, {.dtype = like.dtype(), .device = like.device()});
}
}  // namespace

double jacobian_top_singular_value(Norm& norm, const Tensor& x_in, int64_t iters, Generator& gen) {
  GradModeGuard on(true);
  const Tensor x = x_in.detach().reshape({1, -1}).requires_grad_();
  const int64_t C = x.size(1);
  const Tensor y = norm.normalize(x);
  // h(g) = J^T g, kept differentiable in g; then J v = d<h(g), v>/dg. g and v live on x's
  // device (autograd and the ops refuse mixed devices); v is drawn on the host so that the
  // power iteration starts from the same vector on every device.
  const Tensor g = zeros({1, C}, {.dtype = x.dtype(), .device = x.device(), .requires_grad = true});
  const Tensor h = autograd::grad({y}, {x}, {g}, /*create_graph=*/true)[0];
  Tensor v = randn({1, C}, {.dtype = x.dtype()}, &gen).to(x.device());
  double sigma = 0;
  for (int64_t i = 0; i < iters; ++i) {
    v = v / v.norm().item();
    const Tensor jv = autograd::grad({h}, {g}, {v}, false, true, true)[0];
    if (!jv.defined()) return 0.0;  // constant map
    const Tensor jtjv = autograd::grad({y}, {x}, {jv.detach()}, false, true)[0];
    sigma = std::sqrt(jtjv.norm().item());
    v = jtjv.detach();
    if (sigma == 0) break;
  }
  return sigma;
}

Probes::Probes(GPT& model, ProbeOptions o) : model_(model), o_(o), gen_(o.seed) {
  for (auto& [name, m] : model_.named_modules()) {
    if (auto* n = dynamic_cast<Norm*>(m)) {
      norms_.push_back(std::make_unique<NormRecord>(NormRecord{name, n, {}}));
      NormRecord* rec = norms_.back().get();
      const int id =
          n->register_forward_hook([this, rec](Module&, const Tensor& in, const Tensor&) {
            if (!armed_) return;
            NoGradGuard no_grad;
            const Tensor x = in.detach().reshape({-1, in.size(-1)}).to(DType::F64);
            const double mean = ng::mean(x).item(), var = ng::var(x, {}, 0).item();
            json s = {{"name", rec->name},
                      {"kind", rec->norm->kind()},
                      {"mean", mean},
                      {"std", std::sqrt(var)},
                      {"inv_std", 1.0 / std::sqrt(var)},
                      {"max_abs", ng::max(abs(x)).item()}};
            for (auto& [k, v] : rec->norm->scalars()) s[k] = v;
            if (const NormKind& kind = norm_kind(rec->norm->kind()); kind.saturation) {
              const Tensor ax = kind.saturation(x, rec->norm->scalars(), rec->norm->options());
              json sat;
              for (double t : {0.5, 1.0, 1.5, 2.0, 2.5, 3.0})
                sat[std::to_string(t).substr(0, 3)] = ng::mean(gt(ax, threshold(t, ax))).item();
              s["saturation"] = sat;
            }
            // Scatter sample: whole tokens are normalized (LayerNorm needs the row), then one
            // random channel of each sampled token is kept.
            const int64_t N = x.size(0), C = x.size(1), k = std::min(o_.scatter_points, N);
            std::vector<int64_t> rows(k), cols(k);
            for (int64_t i = 0; i < k; ++i)
              rows[i] = gen_.randint(0, N), cols[i] = gen_.randint(0, C);
            const Tensor xr = index_select(in.detach().reshape({-1, C}), 0, row_indices(rows, in));
            const auto yin = xr.to_vector(), yout = rec->norm->normalize(xr).to_vector();
            std::vector<double> px(k), py(k);
            for (int64_t i = 0; i < k; ++i)
              px[i] = yin[i * C + cols[i]], py[i] = yout[i * C + cols[i]];
            s["scatter_x"] = px;
            s["scatter_y"] = py;
            std::vector<double> sv;
            for (int64_t i = 0; i < std::min(o_.jacobian_tokens, N); ++i)
              sv.push_back(
                  jacobian_top_singular_value(*rec->norm, xr.select(0, i), o_.power_iters, gen_));
            s["jacobian_sigma_max"] = sv;
            rec->stats = s;
          });
      hooks_.emplace_back(n, id);
    }
  }
  for (size_t i = 0; i < model_.blocks().size(); ++i) {
    blocks_.push_back(std::make_unique<BlockRecord>());
    BlockRecord* rec = blocks_.back().get();
    Block* b = model_.blocks()[i].get();
    const int id = b->register_forward_hook([this, rec](Module&, const Tensor&, const Tensor& out) {
      if (!armed_ || !out.requires_grad()) return;
      Tensor o = out;
      o.register_hook([rec](const Tensor& g) {
        rec->residual_grad = g.norm().item();
        return Tensor();
      });
    });
    hooks_.emplace_back(b, id);
  }
}

Probes::~Probes() {
  for (auto& [m, id] : hooks_) m->remove_forward_hook(id);
}

void Probes::arm() {
  armed_ = true;
  for (auto& b : blocks_) b->residual_grad = nullptr;
}

void Probes::before_update() {
  before_.clear();
  grad_norms_.clear();
  NoGradGuard no_grad;
  for (auto& [n, p] : model_.named_parameters()) {
    before_.emplace_back(n, p.detach().clone());
    grad_norms_.push_back(p.grad().defined() ? p.grad().norm().item() : 0.0);
  }
}

std::string Probes::after_update(int64_t step) {
  armed_ = false;
  NoGradGuard no_grad;
  json params = json::array();
  auto now = model_.named_parameters();
  for (size_t i = 0; i < now.size(); ++i) {
    const auto& [n, p] = now[i];
    const double w = p.norm().item();
    json e = {{"name", n}, {"weight_norm", w}};
    if (i < grad_norms_.size()) e["grad_norm"] = grad_norms_[i];
    if (i < before_.size()) e["update_ratio"] = (p - before_[i].second).norm().item() / (w + 1e-12);
    params.push_back(e);
  }
  json blocks = json::array(), norms = json::array();
  for (auto& b : blocks_) blocks.push_back(b->residual_grad);
  for (auto& n : norms_) norms.push_back(n->stats);
  return json{{"step", step}, {"params", params}, {"residual_grad", blocks}, {"norms", norms}}
      .dump();
}

}  // namespace ng::nn

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
  // Filled while an armed step runs: the layer's input, the gradient at its output (tensor
  // hook) and the whole gradient at its input (skip path + norm path); the split is computed
  // in before_update(), from these, with the parameters the step saw.
  Tensor input, grad_out, grad_in;
};
struct Probes::BlockRecord {
  json residual_grad;  // ||dL/d out||, filled by a tensor hook during backward
  json residual_rms;   // RMS of the block's output (the stream), filled by the forward hook
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
double rms(const Tensor& x) {
  return std::sqrt(ng::mean(square(x.detach().to(DType::F64))).item());
}
// Keeps the gradient a tensor receives during backward (detached copy), changing nothing.
// Only for non-leaf tensors: a leaf's hooks outlive the step (they sit on the tensor, not on
// the graph that backward frees).
void keep_grad(const Tensor& t, Tensor& into) {
  if (!t.requires_grad() || t.is_leaf()) return;
  Tensor h = t;
  h.register_hook([&into](const Tensor& g) {
    into = g.detach().clone();
    return Tensor();
  });
}
}  // namespace

NormJacobian::NormJacobian(Norm& norm, const Tensor& x_in) {
  GradModeGuard on(true);
  x_ = x_in.detach().reshape({1, -1}).requires_grad_();
  y_ = norm.normalize(x_);
  // h(g) = J^T g, kept differentiable in g; then J v = d<h(g), v>/dg. g lives on x's device
  // (autograd and the ops refuse mixed devices).
  g_ = zeros({1, x_.size(1)}, {.dtype = x_.dtype(), .device = x_.device(), .requires_grad = true});
  h_ = autograd::grad({y_}, {x_}, {g_}, /*create_graph=*/true)[0];
}

Tensor NormJacobian::jv(const Tensor& v) const {
  GradModeGuard on(true);
  const Tensor r = autograd::grad({h_}, {g_}, {v.reshape({1, -1})}, false, true, true)[0];
  return r.defined() ? r.detach() : zeros_like(v.reshape({1, -1}));  // undefined: constant map
}

Tensor NormJacobian::jtu(const Tensor& u) const {
  GradModeGuard on(true);
  return autograd::grad({y_}, {x_}, {u.reshape({1, -1})}, false, true)[0].detach();
}

double NormJacobian::top_singular_value(int64_t iters, Generator& gen) const {
  // v is drawn on the host so that the power iteration starts from the same vector on every
  // device.
  Tensor v = randn({1, x_.size(1)}, {.dtype = x_.dtype()}, &gen).to(x_.device());
  double sigma = 0;
  for (int64_t i = 0; i < iters; ++i) {
    v = v / v.norm().item();
    const Tensor jtjv = jtu(jv(v));
    sigma = std::sqrt(jtjv.norm().item());
    v = jtjv;
    if (sigma == 0) break;
  }
  return sigma;
}

double NormJacobian::radial_gain() const {
  const double n = x_.detach().norm().item();
  return n == 0 ? 0.0 : jv(x_.detach() / n).norm().item();
}

double jacobian_top_singular_value(Norm& norm, const Tensor& x, int64_t iters, Generator& gen) {
  return NormJacobian(norm, x).top_singular_value(iters, gen);
}

Probes::Probes(GPT& model, ProbeOptions o) : model_(model), o_(o), gen_(o.seed) {
  for (auto& [name, m] : model_.named_modules()) {
    if (auto* n = dynamic_cast<Norm*>(m)) {
      norms_.push_back(std::make_unique<NormRecord>(NormRecord{name, n, {}}));
      NormRecord* rec = norms_.back().get();
      const int id =
          n->register_forward_hook([this, rec](Module&, const Tensor& in, const Tensor& out) {
            if (!armed_) return;
            // A layer whose output is its input (the identity kind) has no path to split:
            // both hooks would sit on one node and see the same gradient.
            if (out.impl_ptr() != in.impl_ptr()) {
              keep_grad(out, rec->grad_out);
              keep_grad(in, rec->grad_in);
              rec->input = in.detach();
            }
            NoGradGuard no_grad;
            const Tensor x = in.detach().reshape({-1, in.size(-1)}).to(DType::F64);
            const double mean = ng::mean(x).item(), var = ng::var(x, {}, 0).item();
            json s = {{"name", rec->name},      {"kind", rec->norm->kind()},        {"mean", mean},
                      {"std", std::sqrt(var)},  {"inv_std", 1.0 / std::sqrt(var)},  {"rms", rms(x)},
                      {"output_rms", rms(out)}, {"max_abs", ng::max(abs(x)).item()}};
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
            // The Jacobian of the layer's normalization (before its affine part) at a few
            // tokens: sigma_max, the same times the token's RMS (scale-free: a scale-invariant
            // norm's sigma_max is c / RMS(x)), and the gain along the token's own direction
            // over sigma_max (radial share: 0 for LayerNorm and RMSNorm, which are
            // scale-invariant, J x = 0; near 1 for DyT in its linear range).
            std::vector<double> sv, sv_rel, radial;
            for (int64_t i = 0; i < std::min(o_.jacobian_tokens, N); ++i) {
              const Tensor xt = xr.select(0, i);
              const NormJacobian J(*rec->norm, xt);
              const double sigma = J.top_singular_value(o_.power_iters, gen_);
              sv.push_back(sigma);
              sv_rel.push_back(sigma * rms(xt));
              radial.push_back(sigma > 0 ? J.radial_gain() / sigma : 0.0);
            }
            s["jacobian_sigma_max"] = sv;
            s["jacobian_sigma_rel"] = sv_rel;
            s["jacobian_radial"] = radial;
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
      {
        NoGradGuard no_grad;
        rec->residual_rms = rms(out);
      }
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
  for (auto& b : blocks_) b->residual_grad = b->residual_rms = nullptr;
  for (auto& n : norms_) n->input = n->grad_out = n->grad_in = Tensor();
}

void Probes::split_paths() {
  // A norm layer's input x reaches the loss through the layer (norm path) and, inside a
  // block, through the residual connection (skip path): dL/dx = J^T dL/dy + skip. J^T dL/dy
  // is recomputed here from the saved input (the fused backward keeps no handle to it); the
  // skip path is the rest. ln_f has no skip path: its share is 1.
  for (auto& n : norms_) {
    const bool recorded =
        n->input.defined() && n->grad_out.defined() && n->grad_in.defined() && !n->stats.is_null();
    if (!recorded) {
      n->input = n->grad_out = n->grad_in = Tensor();
      continue;
    }
    Tensor via_norm;
    {
      GradModeGuard on(true);
      const Tensor x = n->input.detach().requires_grad_();
      const Tensor y = n->norm->evaluate(x);  // no TaperNorm EMA update: probes only observe
      via_norm = autograd::grad({y}, {x}, {n->grad_out}, false, false, true)[0];
    }
    NoGradGuard no_grad;
    if (!via_norm.defined()) via_norm = zeros_like(n->grad_in);
    const double total = n->grad_in.norm().item(), through = via_norm.norm().item(),
                 skip = (n->grad_in - via_norm).norm().item();
    n->stats["grad_in"] = total;
    n->stats["grad_norm_path"] = through;
    n->stats["grad_skip_path"] = skip;
    n->stats["norm_path_share"] = through + skip > 0 ? json(through / (through + skip)) : json();
    n->input = n->grad_out = n->grad_in = Tensor();  // the memory is the step's
  }
}

void Probes::before_update() {
  split_paths();
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
  json blocks = json::array(), rms_j = json::array(), relative = json::array(),
       norms = json::array();
  for (auto& b : blocks_) {
    blocks.push_back(b->residual_grad);
    rms_j.push_back(b->residual_rms);
    // ||dL/dx|| RMS(x): scaling the stream by k scales the first by 1/k, the second by k.
    relative.push_back(b->residual_grad.is_number() && b->residual_rms.is_number()
                           ? json(b->residual_grad.get<double>() * b->residual_rms.get<double>())
                           : json());
  }
  for (auto& n : norms_) norms.push_back(n->stats);
  return json{{"step", step},          {"params", params},          {"residual_grad", blocks},
              {"residual_rms", rms_j}, {"relative_grad", relative}, {"norms", norms}}
      .dump();
}

}  // namespace ng::nn

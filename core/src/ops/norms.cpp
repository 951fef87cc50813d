// Normalization kinds: the registries, and the one rule that picks the fused kernel or the
// composed formula for every kind (see normgrad/norm_kind.h).
#include <cmath>
#include <map>
#include <mutex>
#include <sstream>

#include "common.h"
#include "normgrad/norm_kind.h"

namespace ng {
using namespace detail;

namespace {
std::map<std::string, NormKind>& kinds() {
  static std::map<std::string, NormKind> k;
  return k;
}
std::map<std::pair<Device, std::string>, NormKernels>& kernels() {
  static std::map<std::pair<Device, std::string>, NormKernels> k;
  return k;
}
}  // namespace

void register_norm_kind(NormKind kind) {
  const std::string name = kind.name;
  for (auto& o : kind.options) {
    o.kind = name;
#define NG_NORM_CLASH(group, type, member, def, check, help) \
  if (o.name == #member)                                     \
    fail("norm", "kind '", name, "': option '", o.name, "' is a NormOptions member");
    NG_NORM_OPTIONS(NG_NORM_CLASH)
#undef NG_NORM_CLASH
    for (const auto& [other_name, other] : kinds())
      if (other_name != name)
        for (const auto& p : other.options)
          if (p.name == o.name)
            fail("norm", "kind '", name, "': option '", o.name, "' is already kind '", other_name,
                 "''s");
  }
  kinds()[name] = std::move(kind);
}

bool has_norm_kind(const std::string& name) { return kinds().count(name) > 0; }

std::string unknown_norm_kind(const std::string& name) {
  std::ostringstream msg;
  msg << "unknown norm kind '" << name << "'; known:";
  for (auto& k : norm_kind_names()) msg << " " << k;
  return msg.str();
}

std::vector<std::string> norm_kind_names() {
  std::vector<std::string> names;
  for (auto& [name, k] : kinds()) names.push_back(name);
  return names;
}

const NormKind& norm_kind(const std::string& name) {
  auto it = kinds().find(name);
  if (it == kinds().end()) fail("norm", unknown_norm_kind(name));
  return it->second;
}

std::vector<NormOptionSpec> norm_option_specs() {
  std::vector<NormOptionSpec> out;
  for (auto& [name, k] : kinds()) out.insert(out.end(), k.options.begin(), k.options.end());
  return out;
}

const NormOptionSpec* find_norm_option(const std::string& name) {
  for (auto& [kind_name, k] : kinds())
    for (const auto& o : k.options)
      if (o.name == name) return &o;
  return nullptr;
}

std::string norm_option_range_error(const NormOptionSpec& spec, double v) {
  std::ostringstream msg;
  if (!std::isfinite(v))
    msg << spec.name << " must be finite, got " << v;
  else if (spec.min_exclusive ? !(v > spec.min) : !(v >= spec.min))
    msg << spec.name << " must be " << (spec.min_exclusive ? "> " : ">= ") << spec.min << ", got "
        << v;
  else if (!(v <= spec.max))
    msg << spec.name << " must be <= " << spec.max << ", got " << v;
  return msg.str();
}

namespace {
// A numeric NormOptions member as a double (false for the others).
template <class T>
bool member_value(const T& m, double& out) {
  if constexpr (std::is_same_v<T, std::optional<double>>)
    return out = m ? *m : NAN, true;
  else if constexpr (std::is_arithmetic_v<T>)
    return out = (double)m, true;
  else
    return false;
}
template <class T>
bool set_member(T& m, double v) {
  if constexpr (std::is_same_v<T, std::optional<double>> || std::is_arithmetic_v<T>)
    return m = (std::conditional_t<std::is_arithmetic_v<T>, T, double>)v, true;
  else
    return false;
}
}  // namespace

double NormOptions::get(const std::string& name) const {
  double out = 0;
#define NG_NORM_GET(group, type, member, def, check, help) \
  if (name == #member && member_value(member, out)) return out;
  NG_NORM_OPTIONS(NG_NORM_GET)
#undef NG_NORM_GET
  const NormOptionSpec* spec = find_norm_option(name);
  if (!spec) fail("norm", "unknown norm option '", name, "'");
  auto it = extra.find(name);
  return it == extra.end() ? spec->init : it->second;
}

void NormOptions::set(const std::string& name, double v) {
#define NG_NORM_SET(group, type, member, def, check, help) \
  if (name == #member && set_member(member, v)) return;
  NG_NORM_OPTIONS(NG_NORM_SET)
#undef NG_NORM_SET
  const NormOptionSpec* spec = find_norm_option(name);
  if (!spec) fail("norm", "unknown norm option '", name, "'");
  if (const std::string e = norm_option_range_error(*spec, v); !e.empty()) fail("norm", e);
  extra[name] = v;
}

void register_norm_kernels(Device d, const std::string& kind, NormKernels k) {
  kernels()[{d, kind}] = k;
}

const NormKernels* find_norm_kernels(Device d, const std::string& kind) {
  auto it = kernels().find({d, kind});
  return it == kernels().end() ? nullptr : &it->second;
}

namespace detail {
namespace {

// Inputs in a fixed order: x, weight, bias, then the kind's scalars.
enum Slot { kX, kW, kB, kScalar0 };

void check_norm_args(const char* op, const Tensor& x, const Tensor& w, const Tensor& b,
                     const TensorList& scalars, bool fused) {
  check_float(x, op);
  if (x.dim() < 1) fail(op, "input needs at least 1 dim, got a scalar");
  const int64_t C = x.size(-1);
  for (const Tensor* t : {&w, &b})
    if (t->defined()) {
      check_match(x, *t, op);
      if (t->dim() != 1 || t->size(0) != C)
        fail(op, t == &w ? "weight" : "bias", " must have shape [", C, "] for input ",
             shape_str(x.shape()), ", got ", shape_str(t->shape()));
    }
  for (const Tensor& s : scalars) {
    if (!s.defined()) fail(op, "scalar parameter is undefined");
    check_match(x, s, op);
    if (fused && s.numel() != 1)  // (a formula-only kind may hold per-channel tensors too)
      fail(op, "scalar parameter must have one element, got shape ", shape_str(s.shape()));
  }
}

}  // namespace

Tensor apply_norm(const char* op, int n_stats, NormConsts consts, const Tensor& x_in,
                  const Tensor& w, const Tensor& b, const TensorList& scalars,
                  const NormFormula& formula, NormCheck check) {
  const NormKernels* k = find_norm_kernels(x_in.device(), op);
  check_norm_args(op, x_in, w, b, scalars, k != nullptr);
  if (x_in.device() == Device::CPU) check(scalars);
  if (!k) return formula(x_in, w, b, scalars);

  NormCall call{.consts = consts, .x = x_in.contiguous(), .w = w, .b = b};
  for (const Tensor& s : scalars) call.scalars.push_back(s.contiguous());
  const int64_t C = call.x.size(-1), N = call.x.numel() / std::max<int64_t>(C, 1);
  call.y = empty_like_shape(call.x, call.x.shape());
  if (n_stats > 0) call.stats = empty_like_shape(call.x, {N, n_stats});
  k->forward(call);

  TensorList inputs{x_in, w, b};
  inputs.insert(inputs.end(), scalars.begin(), scalars.end());
  TensorList saved{call.x, w, b};
  saved.insert(saved.end(), call.scalars.begin(), call.scalars.end());
  saved.push_back(call.stats);
  const Tensor y = call.y;
  return autograd::record(
      op, y, inputs, saved, [k, consts, formula](const TensorList& s, const Tensor& g) {
        const TensorList in(s.begin(), s.end() - 1);
        const TensorList sc(in.begin() + kScalar0, in.end());
        if (GradMode::enabled()) {  // create_graph: differentiate the formula
          TensorList want;
          std::vector<size_t> slot;
          for (size_t i = 0; i < in.size(); ++i)
            if (in[i].defined() && in[i].requires_grad()) {
              want.push_back(in[i]);
              slot.push_back(i);
            }
          TensorList got = autograd::grad({formula(in[kX], in[kW], in[kB], sc)}, want, {g}, true,
                                          std::nullopt, true);
          TensorList out(in.size());
          for (size_t j = 0; j < slot.size(); ++j) out[slot[j]] = got[j];
          return out;
        }
        const Tensor& x = in[kX];
        auto wanted = [&](size_t i) { return in[i].defined() && in[i].requires_grad(); };
        bool any_scalar = false;
        for (size_t i = kScalar0; i < in.size(); ++i) any_scalar |= wanted(i);
        NormCall c{.consts = consts,
                   .x = x,
                   .w = in[kW],
                   .b = in[kB],
                   .scalars = sc,
                   .stats = s.back(),
                   .g = g.contiguous()};
        c.dx = empty_like_shape(x, x.shape());
        if (wanted(kW)) c.dw = empty_like_shape(x, {x.size(-1)});
        if (wanted(kB)) c.db = empty_like_shape(x, {x.size(-1)});
        if (any_scalar) c.ds = empty_like_shape(x, {(int64_t)sc.size()});
        k->backward(c);
        TensorList out{c.dx, c.dw, c.db};
        for (size_t i = 0; i < sc.size(); ++i)
          out.push_back(wanted(kScalar0 + i) ? c.ds.narrow(0, (int64_t)i, 1).reshape(sc[i].shape())
                                             : Tensor());
        return out;
      });
}

}  // namespace detail
}  // namespace ng

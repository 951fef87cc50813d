// Normalization ops: a fused forward kernel, a fused backward kernel, and the composed
// formula each one implements (used for tests and for double backward).
#include <cmath>

#include "common.h"

namespace ng {
using namespace detail;

namespace composed {

static Tensor affine(const Tensor& v, const Tensor& w, const Tensor& b) {
  Tensor y = w.defined() ? v * w : v;
  return b.defined() ? y + b : y;
}

Tensor layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  const Tensor mu = mean(x, {-1}, true);
  const Tensor var = mean(square(x - mu), {-1}, true);
  return affine((x - mu) * rsqrt(var + eps), w, b);
}

Tensor rms_norm(const Tensor& x, const Tensor& w, double eps) {
  return affine(x * rsqrt(mean(square(x), {-1}, true) + eps), w, Tensor());
}

Tensor dyt(const Tensor& x, const Tensor& alpha, const Tensor& w, const Tensor& b, double pf) {
  return affine(tanh(x * alpha.reshape({})) * pf, w, b);
}

Tensor dyisru(const Tensor& x, const Tensor& beta, const Tensor& w, const Tensor& b, double pf) {
  return affine(x * rsqrt(square(x) + beta.reshape({})) * pf, w, b);
}

Tensor derf(const Tensor& x, const Tensor& alpha, const Tensor& shift, const Tensor& w,
            const Tensor& b, double pf) {
  return affine(erf(x * alpha.reshape({}) + shift.reshape({})) * pf, w, b);
}

}  // namespace composed

namespace {

// Inputs in a fixed order: x, weight, bias, scalar, shift (undefined where absent).
enum Slot { kX, kW, kB, kScalar, kShift, kSlots };
using Composed = std::function<Tensor(const TensorList&)>;

void check_norm_args(const char* op, const TensorList& in) {
  const Tensor& x = in[kX];
  check_float(x, op);
  if (x.dim() < 1) fail(op, "input needs at least 1 dim, got a scalar");
  const int64_t C = x.size(-1);
  for (int s : {kW, kB})
    if (in[s].defined()) {
      check_match(x, in[s], op);
      if (in[s].dim() != 1 || in[s].size(0) != C)
        fail(op, s == kW ? "weight" : "bias", " must have shape [", C, "] for input ",
             shape_str(x.shape()), ", got ", shape_str(in[s].shape()));
    }
  for (int s : {kScalar, kShift})
    if (in[s].defined()) {
      check_match(x, in[s], op);
      if (in[s].numel() != 1)
        fail(op, "scalar parameter must have one element, got shape ", shape_str(in[s].shape()));
    }
}

// Runs the fused forward and records a backward that is the fused kernel normally, and the
// vector-Jacobian product of the composed formula when a graph of the gradient is wanted.
Tensor fused_norm(const char* op, NormParams p, const TensorList& in, const Composed& spec) {
  check_norm_args(op, in);
  const Tensor x = in[kX].contiguous();
  const int64_t C = x.size(-1), N = x.numel() / std::max<int64_t>(C, 1);
  const bool has_stats = p.op == NormOp::LayerNorm || p.op == NormOp::RMSNorm;
  Tensor y = empty_like_shape(x, x.shape());
  Tensor stats = has_stats ? empty_like_shape(x, {N, 2}) : Tensor();
  backend_of(x).norm_forward(p, x, in[kW], in[kB], y, stats);
  TensorList saved = in;
  saved[kX] = x;
  saved.push_back(stats);
  return autograd::record(op, y, in, saved, [p, spec](const TensorList& s, const Tensor& g) {
    TensorList inputs(s.begin(), s.begin() + kSlots);
    if (GradMode::enabled()) {  // create_graph: differentiate the specification
      TensorList want;
      std::vector<int> slot;
      for (int i = 0; i < kSlots; ++i)
        if (inputs[i].defined() && inputs[i].requires_grad()) {
          want.push_back(inputs[i]);
          slot.push_back(i);
        }
      TensorList got = autograd::grad({spec(inputs)}, want, {g}, true, std::nullopt, true);
      TensorList out(kSlots);
      for (size_t k = 0; k < slot.size(); ++k) out[slot[k]] = got[k];
      return out;
    }
    const Tensor& x = inputs[kX];
    const Tensor gc = g.contiguous();
    auto maybe = [&](int i, const Shape& sh) {
      return inputs[i].defined() && inputs[i].requires_grad() ? empty_like_shape(x, sh) : Tensor();
    };
    Tensor dx = empty_like_shape(x, x.shape());
    Tensor dw = maybe(kW, {x.size(-1)}), db = maybe(kB, {x.size(-1)});
    const bool scalars = (inputs[kScalar].defined() && inputs[kScalar].requires_grad()) ||
                         (inputs[kShift].defined() && inputs[kShift].requires_grad());
    Tensor dsc = scalars ? empty_like_shape(x, {2}) : Tensor();
    backend_of(x).norm_backward(p, gc, x, inputs[kW], s[kSlots], dx, dw, db, dsc);
    TensorList out{dx, dw, db, Tensor(), Tensor()};
    if (dsc.defined()) {
      out[kScalar] = dsc.narrow(0, 0, 1).reshape(inputs[kScalar].shape());
      if (inputs[kShift].defined())
        out[kShift] = dsc.narrow(0, 1, 1).reshape(inputs[kShift].shape());
    }
    return out;
  });
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  return fused_norm(
      "layer_norm", {.op = NormOp::LayerNorm, .eps = eps}, {x, w, b, Tensor(), Tensor()},
      [eps](const TensorList& v) { return composed::layer_norm(v[kX], v[kW], v[kB], eps); });
}

Tensor rms_norm(const Tensor& x, const Tensor& w, double eps) {
  return fused_norm("rms_norm", {.op = NormOp::RMSNorm, .eps = eps},
                    {x, w, Tensor(), Tensor(), Tensor()},
                    [eps](const TensorList& v) { return composed::rms_norm(v[kX], v[kW], eps); });
}

Tensor dyt(const Tensor& x, const Tensor& alpha, const Tensor& w, const Tensor& b, double pf) {
  check_float(alpha, "dyt");
  return fused_norm("dyt", {.op = NormOp::DyT, .scalar = alpha.item(), .prefactor = pf},
                    {x, w, b, alpha, Tensor()}, [pf](const TensorList& v) {
                      return composed::dyt(v[kX], v[kScalar], v[kW], v[kB], pf);
                    });
}

Tensor dyisru(const Tensor& x, const Tensor& beta, const Tensor& w, const Tensor& b, double pf) {
  check_float(beta, "dyisru");
  const double bv = beta.item();
  if (!(bv > 0))
    fail("dyisru", "beta must be > 0, got ", bv,
         " (a plain beta left the valid range; use the softplus parametrization)");
  return fused_norm(
      "dyisru", {.op = NormOp::DyISRU, .scalar = bv, .prefactor = pf}, {x, w, b, beta, Tensor()},
      [pf](const TensorList& v) { return composed::dyisru(v[kX], v[kScalar], v[kW], v[kB], pf); });
}

Tensor derf(const Tensor& x, const Tensor& alpha, const Tensor& shift, const Tensor& w,
            const Tensor& b, double pf) {
  check_float(alpha, "derf");
  check_float(shift, "derf");
  return fused_norm(
      "derf", {.op = NormOp::Derf, .scalar = alpha.item(), .shift = shift.item(), .prefactor = pf},
      {x, w, b, alpha, shift}, [pf](const TensorList& v) {
        return composed::derf(v[kX], v[kScalar], v[kShift], v[kW], v[kB], pf);
      });
}

}  // namespace ng

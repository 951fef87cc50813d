// Elementwise ops. Each forward runs one kernel; each backward sits right below it and is
// written with differentiable ops (so it can itself be differentiated).
#include <cmath>

#include "common.h"
#include "normgrad/elementwise_formulas.h"

namespace ng {
using namespace detail;

namespace {

Tensor run_unary(UnaryOp op, const Tensor& x, const char* name, double a = 0, double b = 0) {
  check_float(x, name);
  Tensor out = empty_like_shape(x, x.shape());
  backend_of(x).unary(op, x, out, a, b);
  return out;
}

Tensor run_binary(BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  check_match(a, b, name);
  const Shape s = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = empty_like_shape(a, s);
  backend_of(a).binary(op, kernel_expand(a, s), kernel_expand(b, s), out);
  return out;
}

// 1/0 masks; they carry no gradient.
Tensor positive_mask(const Tensor& x) {
  return run_unary(UnaryOp::GtScalar, x.detach(), "mask", 0);
}

// GELU's constants live with the kernels' formulas (normgrad/elementwise_formulas.h).
using formulas::kGeluCubic;
using formulas::kInvSqrt2Pi;
using formulas::kSqrt2OverPi;
constexpr double kInvSqrt2 = 0.7071067811865476;
constexpr double k2OverSqrtPi = 1.1283791670955126;

}  // namespace

// ---- binary ----

Tensor add(const Tensor& a, const Tensor& b) {
  return autograd::record("add", run_binary(BinaryOp::Add, a, b, "add"), {a, b}, {},
                          [](const TensorList&, const Tensor& g) {
                            return TensorList{g, g};
                          });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  return autograd::record("sub", run_binary(BinaryOp::Sub, a, b, "sub"), {a, b}, {},
                          [](const TensorList&, const Tensor& g) {
                            return TensorList{g, -g};
                          });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  return autograd::record("mul", run_binary(BinaryOp::Mul, a, b, "mul"), {a, b}, {a, b},
                          [](const TensorList& s, const Tensor& g) {
                            return TensorList{g * s[1], g * s[0]};
                          });
}

Tensor div(const Tensor& a, const Tensor& b) {
  return autograd::record("div", run_binary(BinaryOp::Div, a, b, "div"), {a, b}, {a, b},
                          [](const TensorList& s, const Tensor& g) {
                            const Tensor &a = s[0], &b = s[1];
                            return TensorList{g / b, -g * a / (b * b)};
                          });
}

// Ties send half the gradient each way (as PyTorch).
static Tensor minmax(const Tensor& a, const Tensor& b, bool is_max) {
  const char* name = is_max ? "maximum" : "minimum";
  Tensor out = run_binary(is_max ? BinaryOp::Maximum : BinaryOp::Minimum, a, b, name);
  return autograd::record(name, out, {a, b}, {a, b},
                          [is_max](const TensorList& s, const Tensor& g) {
                            const Tensor a = s[0].detach(), b = s[1].detach();
                            Tensor wa = (is_max ? gt(a, b) : lt(a, b)) + eq(a, b) * 0.5;
                            return TensorList{g * wa, g * (1.0 - wa)};
                          });
}
Tensor maximum(const Tensor& a, const Tensor& b) { return minmax(a, b, true); }
Tensor minimum(const Tensor& a, const Tensor& b) { return minmax(a, b, false); }

Tensor gt(const Tensor& a, const Tensor& b) { return run_binary(BinaryOp::Gt, a, b, "gt"); }
Tensor lt(const Tensor& a, const Tensor& b) { return run_binary(BinaryOp::Lt, a, b, "lt"); }
Tensor ge(const Tensor& a, const Tensor& b) { return run_binary(BinaryOp::Ge, a, b, "ge"); }
Tensor le(const Tensor& a, const Tensor& b) { return run_binary(BinaryOp::Le, a, b, "le"); }
Tensor eq(const Tensor& a, const Tensor& b) { return run_binary(BinaryOp::Eq, a, b, "eq"); }
Tensor ne(const Tensor& a, const Tensor& b) { return run_binary(BinaryOp::Ne, a, b, "ne"); }

// ---- with a scalar ----

Tensor add(const Tensor& a, double s) {
  return autograd::record("add_scalar", run_unary(UnaryOp::AddScalar, a, "add", s), {a}, {},
                          [](const TensorList&, const Tensor& g) { return TensorList{g}; });
}

Tensor mul(const Tensor& a, double s) {
  return autograd::record("mul_scalar", run_unary(UnaryOp::MulScalar, a, "mul", s), {a}, {},
                          [s](const TensorList&, const Tensor& g) { return TensorList{g * s}; });
}

Tensor rsub(double s, const Tensor& a) {
  return autograd::record("rsub", run_unary(UnaryOp::RSubScalar, a, "rsub", s), {a}, {},
                          [](const TensorList&, const Tensor& g) { return TensorList{-g}; });
}

Tensor rdiv(double s, const Tensor& a) {
  return autograd::record(
      "rdiv", run_unary(UnaryOp::RDivScalar, a, "rdiv", s), {a}, {a},
      [s](const TensorList& v, const Tensor& g) { return TensorList{g * (-s) / square(v[0])}; });
}

Tensor pow(const Tensor& a, double p) {
  return autograd::record("pow", run_unary(UnaryOp::PowScalar, a, "pow", p), {a}, {a},
                          [p](const TensorList& s, const Tensor& g) {
                            if (p == 0) return TensorList{g * 0.0};
                            if (p == 1) return TensorList{g};
                            return TensorList{g * p * pow(s[0], p - 1)};
                          });
}

Tensor clamp(const Tensor& a, std::optional<double> lo, std::optional<double> hi) {
  const double l = lo.value_or(-INFINITY), h = hi.value_or(INFINITY);
  if (l > h) fail("clamp", "min ", l, " is greater than max ", h);
  Tensor out = run_unary(UnaryOp::Clamp, a, "clamp", l, h);
  return autograd::record("clamp", out, {a}, {a}, [l, h](const TensorList& s, const Tensor& g) {
    const Tensor x = s[0].detach();  // gradient passes where lo <= x <= hi
    Tensor inside = run_unary(UnaryOp::GtScalar, x, "clamp", std::nextafter(l, -INFINITY)) *
                    run_unary(UnaryOp::LtScalar, x, "clamp", std::nextafter(h, INFINITY));
    return TensorList{g * inside};
  });
}

// ---- unary ----

Tensor neg(const Tensor& x) {
  return autograd::record("neg", run_unary(UnaryOp::Neg, x, "neg"), {x}, {},
                          [](const TensorList&, const Tensor& g) { return TensorList{-g}; });
}

Tensor exp(const Tensor& x) {
  Tensor y = run_unary(UnaryOp::Exp, x, "exp");
  return autograd::record("exp", y, {x}, {y}, [](const TensorList& s, const Tensor& g) {
    return TensorList{g * s[0]};
  });
}

Tensor log(const Tensor& x) {
  return autograd::record(
      "log", run_unary(UnaryOp::Log, x, "log"), {x}, {x},
      [](const TensorList& s, const Tensor& g) { return TensorList{g / s[0]}; });
}

Tensor sqrt(const Tensor& x) {
  Tensor y = run_unary(UnaryOp::Sqrt, x, "sqrt");
  return autograd::record("sqrt", y, {x}, {y}, [](const TensorList& s, const Tensor& g) {
    return TensorList{g * 0.5 / s[0]};
  });
}

Tensor rsqrt(const Tensor& x) {
  Tensor y = run_unary(UnaryOp::Rsqrt, x, "rsqrt");
  return autograd::record("rsqrt", y, {x}, {y}, [](const TensorList& s, const Tensor& g) {
    return TensorList{g * -0.5 * s[0] * s[0] * s[0]};  // d x^(-1/2) = -1/2 x^(-3/2)
  });
}

Tensor sign(const Tensor& x) { return run_unary(UnaryOp::Sign, x, "sign"); }

Tensor abs(const Tensor& x) {
  return autograd::record(
      "abs", run_unary(UnaryOp::Abs, x, "abs"), {x}, {x},
      [](const TensorList& s, const Tensor& g) { return TensorList{g * sign(s[0].detach())}; });
}

Tensor square(const Tensor& x) {
  return autograd::record(
      "square", run_unary(UnaryOp::Square, x, "square"), {x}, {x},
      [](const TensorList& s, const Tensor& g) { return TensorList{g * 2.0 * s[0]}; });
}

Tensor tanh(const Tensor& x) {
  Tensor y = run_unary(UnaryOp::Tanh, x, "tanh");
  return autograd::record("tanh", y, {x}, {y}, [](const TensorList& s, const Tensor& g) {
    return TensorList{g * (1.0 - s[0] * s[0])};
  });
}

Tensor sigmoid(const Tensor& x) {
  Tensor y = run_unary(UnaryOp::Sigmoid, x, "sigmoid");
  return autograd::record("sigmoid", y, {x}, {y}, [](const TensorList& s, const Tensor& g) {
    return TensorList{g * s[0] * (1.0 - s[0])};
  });
}

Tensor relu(const Tensor& x) {
  return autograd::record(
      "relu", run_unary(UnaryOp::Relu, x, "relu"), {x}, {x},
      [](const TensorList& s, const Tensor& g) { return TensorList{g * positive_mask(s[0])}; });
}

Tensor gelu(const Tensor& x, GeluApprox approx) {
  // The backward is one fused kernel (g * gelu'(x)); under create_graph it is written with
  // differentiable ops instead, so double backward works.
  if (approx == GeluApprox::Tanh) {
    // y = x/2 (1 + tanh(u)), u = k (x + c x^3);  y' = (1 + t)/2 + x/2 (1 - t^2) k (1 + 3 c x^2)
    return autograd::record(
        "gelu_tanh", run_unary(UnaryOp::GeluTanh, x, "gelu"), {x}, {x},
        [](const TensorList& s, const Tensor& g) {
          const Tensor& x = s[0];
          if (!GradMode::enabled())
            return TensorList{run_binary(BinaryOp::GeluTanhBackward, g, x, "gelu_backward")};
          const Tensor t = tanh(kSqrt2OverPi * (x + kGeluCubic * x * x * x));
          const Tensor dt = kSqrt2OverPi * (1.0 + 3 * kGeluCubic * x * x);
          return TensorList{g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dt)};
        });
  }
  // y = x Phi(x);  y' = Phi(x) + x phi(x)
  return autograd::record(
      "gelu", run_unary(UnaryOp::GeluErf, x, "gelu"), {x}, {x},
      [](const TensorList& s, const Tensor& g) {
        const Tensor& x = s[0];
        if (!GradMode::enabled())
          return TensorList{run_binary(BinaryOp::GeluErfBackward, g, x, "gelu_backward")};
        const Tensor cdf = 0.5 * (1.0 + erf(x * kInvSqrt2));
        const Tensor pdf = kInvSqrt2Pi * exp(-0.5 * x * x);
        return TensorList{g * (cdf + x * pdf)};
      });
}

Tensor silu(const Tensor& x) {
  return autograd::record("silu", run_unary(UnaryOp::Silu, x, "silu"), {x}, {x},
                          [](const TensorList& s, const Tensor& g) {
                            const Tensor sg = sigmoid(s[0]);
                            return TensorList{g * sg * (1.0 + s[0] * (1.0 - sg))};
                          });
}

Tensor erf(const Tensor& x) {
  return autograd::record("erf", run_unary(UnaryOp::Erf, x, "erf"), {x}, {x},
                          [](const TensorList& s, const Tensor& g) {
                            return TensorList{g * k2OverSqrtPi * exp(-(s[0] * s[0]))};
                          });
}

Tensor softplus(const Tensor& x) {
  return autograd::record(
      "softplus", run_unary(UnaryOp::Softplus, x, "softplus"), {x}, {x},
      [](const TensorList& s, const Tensor& g) { return TensorList{g * sigmoid(s[0])}; });
}

// ---- selection ----

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_match(a, b, "where");
  if (!cond.defined()) fail("where", "condition is undefined");
  if (cond.device() != a.device())
    fail("where", "condition on ", device_name(cond.device()), ", values on ",
         device_name(a.device()));
  const Tensor c = cond.detach().to(a.dtype());
  const Shape s =
      broadcast_shapes(broadcast_shapes(c.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = empty_like_shape(a, s);
  backend_of(a).where(kernel_expand(c, s), kernel_expand(a, s), kernel_expand(b, s), out);
  return autograd::record("where", out, {a, b}, {c}, [](const TensorList& v, const Tensor& g) {
    const Tensor zero = zeros({}, {.dtype = g.dtype(), .device = g.device()});
    return TensorList{where(v[0], g, zero), where(v[0], zero, g)};
  });
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  return where(mask, full({}, value, {.dtype = x.dtype(), .device = x.device()}), x);
}

}  // namespace ng

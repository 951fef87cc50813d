// The kernel interface a device implements. Ops (ops/*.cpp) validate arguments, allocate
// outputs (contiguous) and call these; backends never see autograd. Inputs may be strided
// views; broadcasting has already been turned into stride-0 views of the output's shape.
#pragma once
#include <algorithm>
#include <memory>
#include <vector>

#include "normgrad/tensor.h"

namespace ng {

enum class UnaryOp {
  Neg,
  Exp,
  Log,
  Sqrt,
  Rsqrt,
  Abs,
  Sign,
  Tanh,
  Sigmoid,
  Relu,
  GeluTanh,
  GeluErf,
  Silu,
  Erf,
  Softplus,
  Square,
  Reciprocal,
  PowScalar,   // x^a
  AddScalar,   // x + a
  MulScalar,   // x * a
  RSubScalar,  // a - x
  RDivScalar,  // a / x
  Clamp,       // min(max(x, a), b)
  GtScalar,    // x > a  (1 or 0)
  LtScalar,    // x < a
};

// The element-wise binary ops every backend implements.
enum class BinaryOp {
  Add,
  Sub,
  Mul,
  Div,
  Maximum,
  Minimum,
  Gt,
  Lt,
  Ge,
  Le,
  Eq,
  Ne,
  GeluErfBackward,   // a * gelu'(b): a the upstream gradient, b the GELU input
  GeluTanhBackward,  // the same for the tanh approximation
};

// The reductions every backend implements (over given dimensions).
enum class ReduceOp { Sum, Max, Min, ArgMax, ArgMin };

// One Adam/AdamW step, PyTorch's formulation: decoupled decay shrinks p by lr*wd first;
// classic Adam adds wd*p to the gradient. bias1/bias2 = 1 - beta^step.
struct AdamParams {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled;
  double bias1, bias2;
};

// Fused normalization kernels are not part of this interface: each norm kind registers its
// own per device (normgrad/norm_kind.h).
class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  virtual std::shared_ptr<Storage> allocate(size_t nbytes) = 0;
  virtual void copy_from_host(void* dst, const void* src, size_t nbytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t nbytes) = 0;

  // dst[i] = src[i] for same-shaped strided tensors; converts dtype if they differ.
  virtual void copy(const Tensor& src, const Tensor& dst) = 0;
  virtual void fill(const Tensor& dst, double value) = 0;
  virtual void unary(UnaryOp op, const Tensor& x, const Tensor& out, double a, double b) = 0;
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) = 0;
  // out = cond != 0 ? a : b
  virtual void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) = 0;
  // Reduces `dims` of x into out, which has x's shape with those dims set to 1.
  virtual void reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims,
                      const Tensor& out) = 0;
  // out[..., M, N] = a[..., M, K] @ b[..., K, N] (accumulate: out += ...); batch dims of a
  // and b equal out's (possibly stride 0); out is contiguous.
  virtual void gemm(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate) = 0;
  virtual void softmax(const Tensor& x, int64_t dim, bool log, const Tensor& out) = 0;
  virtual void index_select(const Tensor& x, int64_t dim, const Tensor& index,
                            const Tensor& out) = 0;
  virtual void index_add(const Tensor& out, int64_t dim, const Tensor& index,
                         const Tensor& src) = 0;  // out.select(dim, index[i]) += src.select(dim, i)
  virtual void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) = 0;
  // Fails unless every index is in [0, size) or equals `ignore`. The CPU checks at once; a
  // GPU checks in a kernel and reports at the next wait for the device (no wait per op).
  virtual void check_indices(const Tensor& index, int64_t size, int64_t ignore, const char* op) = 0;
  virtual void scatter_add(const Tensor& out, int64_t dim, const Tensor& index,
                           const Tensor& src) = 0;
  // In place: p, m, v updated from g (all contiguous, same shape and dtype).
  virtual void adam_step(const AdamParams& a, const Tensor& p, const Tensor& g, const Tensor& m,
                         const Tensor& v) = 0;
  // Causal self-attention of packed heads: qkv [B, T, 3C] (contiguous) holds q, k, v side by
  // side, each split into H heads of D = C/H; y [B, T, C] receives the heads' outputs of
  // softmax(q k^T scale, future masked) v, concatenated. Returns what the backward needs
  // besides qkv and y, in a form the backend chooses: the CPU keeps the probabilities
  // [B, H, T, T]; the GPU's fused kernel only each row's log-sum-exp [B, H, T].
  virtual Tensor attention_forward(const Tensor& qkv, int64_t n_head, double scale,
                                   const Tensor& y) = 0;
  // g [B, T, C] contiguous, y and saved from the forward; writes dqkv [B, T, 3C].
  virtual void attention_backward(const Tensor& g, const Tensor& qkv, const Tensor& y,
                                  const Tensor& saved, int64_t n_head, double scale,
                                  const Tensor& dqkv) = 0;
};

// Helpers the backends share.
// [outer, dim, inner] sizes of a contiguous tensor split around `dim`.
struct Split3 {
  int64_t outer, mid, inner;
};
inline Split3 split_at(const Shape& s, int64_t dim) {
  Split3 r{1, s[dim], 1};
  for (int64_t d = 0; d < dim; ++d) r.outer *= s[d];
  for (size_t d = dim + 1; d < s.size(); ++d) r.inner *= s[d];
  return r;
}
// How BLAS can read a rows x cols row-major matrix with element strides (rs, cs), if it
// can: as is (rows contiguous, leading dimension ld) or transposed (columns contiguous).
struct BlasView {
  bool ok = false, trans = false;
  int64_t ld = 0;
};
inline BlasView blas_view(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  if (cols == 1 || cs == 1) {
    const int64_t ld = rows == 1 ? cols : rs;
    if (ld >= std::max<int64_t>(1, cols)) return {true, false, ld};
  }
  if (rows == 1 || rs == 1) {
    const int64_t ld = cols == 1 ? rows : cs;
    if (ld >= std::max<int64_t>(1, rows)) return {true, true, ld};
  }
  return {};
}

// Backends register themselves at load time; core knows only the interface.
void register_backend(Device d, Backend* b);
Backend& backend(Device d);
bool has_backend(Device d);
inline Backend& backend_of(const Tensor& t) { return backend(t.device()); }

}  // namespace ng

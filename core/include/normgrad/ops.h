// Every differentiable op, as free functions. Binary ops broadcast as NumPy does.
// Gradients of every op are written with these same ops, so double backward works
// unless an op's doc says otherwise.
#pragma once
#include <optional>
#include <vector>

#include "normgrad/tensor.h"

namespace ng {

// Dimensions to reduce over; negative ones count from the end.
using Dims = std::vector<int64_t>;

// ---- elementwise, binary (broadcasting) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
// Comparisons return 1/0 in the inputs' dtype and carry no gradient.
Tensor gt(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);

// ---- elementwise with a scalar ----
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor rsub(double s, const Tensor& a);  // s - a
Tensor rdiv(double s, const Tensor& a);  // s / a
Tensor pow(const Tensor& a, double exponent);
Tensor clamp(const Tensor& a, std::optional<double> lo, std::optional<double> hi);

// ---- elementwise, unary ----
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);  // no gradient
Tensor square(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
enum class GeluApprox { None, Tanh };  // None = exact erf form, as PyTorch
Tensor gelu(const Tensor& x, GeluApprox approx = GeluApprox::None);
Tensor silu(const Tensor& x);
Tensor erf(const Tensor& x);
Tensor softplus(const Tensor& x);  // log(1 + e^x), linear above 20 as PyTorch

// where(cond, a, b): cond != 0 picks a. Broadcasts all three; cond gets no gradient.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

// ---- reductions over any set of dims (empty = all) ----
Tensor sum(const Tensor& x, Dims dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, Dims dims = {}, bool keepdim = false);
// correction 0 = population variance, 1 = unbiased (PyTorch's default).
Tensor var(const Tensor& x, Dims dims = {}, int64_t correction = 1, bool keepdim = false);
Tensor max(const Tensor& x, Dims dims = {}, bool keepdim = false);  // ties share the gradient
Tensor min(const Tensor& x, Dims dims = {}, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);  // int64, first maximum
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);
// True when no element is inf or NaN (always for int64). One pass on the CPU; one
// reduction and one read back on a GPU. No gradient.
bool all_finite(const Tensor& x);
// Sums a broadcast gradient back down to `shape` (the inverse of expand).
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- linear algebra ----
// 1-d, 2-d and batched (broadcast batch dims) as torch.matmul; transposed views are
// handed to BLAS as transposes, never copied.
Tensor matmul(const Tensor& a, const Tensor& b);
// x [..., K] @ weight[N, K]^T + bias[N] (bias may be undefined): the rows of x flattened
// into one GEMM that accumulates onto the broadcast bias, and a weight gradient that is one
// GEMM over all rows (matmul on a 3-d x would take one per batch entry, then sum them).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// ---- neural-network ops ----
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
enum class Reduction { Mean, Sum, None };
// logits [N, C] (or [C]), target int64 [N] of class indices; entries equal to
// ignore_index contribute nothing (and are excluded from the mean).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index = -100,
                     Reduction reduction = Reduction::Mean);
// Zeroes each element with probability p and scales the rest by 1/(1-p) when training.
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr);

// ---- indexing ----
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor index_add(const Tensor& base, int64_t dim, const Tensor& index, const Tensor& src);
Tensor embedding(const Tensor& weight, const Tensor& indices);  // weight [V, D]
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter_add(const Tensor& base, int64_t dim, const Tensor& index, const Tensor& src);

// ---- joining and splitting ----
Tensor cat(const TensorList& ts, int64_t dim);
Tensor stack(const TensorList& ts, int64_t dim);
TensorList split(const Tensor& x, int64_t split_size, int64_t dim);
TensorList chunk(const Tensor& x, int64_t chunks, int64_t dim);

// ---- normalization over the last dim: normgrad/norms.h (one header per kind) ----

// Composed formulas (specifications of fused kernels; the norms' are in normgrad/norms.h).
namespace composed {
// Fused causal attention: qkv [B, T, 3C] -> [B, T, C] with n_head heads.
Tensor causal_self_attention(const Tensor& qkv, int64_t n_head);
}  // namespace composed

// ---- attention ----
// Causal multi-head self-attention over packed projections: qkv [B, T, 3C] holds q, k and v
// side by side, each split into n_head heads; returns the heads' outputs concatenated,
// [B, T, C]: softmax(q k^T / sqrt(C / n_head), future masked) v per head. One fused kernel
// forward and one backward (composed::causal_self_attention is the specification; under
// create_graph its gradient is used instead, so double backward works).
Tensor causal_self_attention(const Tensor& qkv, int64_t n_head);

// ---- operators ----
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }
inline Tensor operator+(double s, const Tensor& a) { return add(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return add(a, -s); }
inline Tensor operator-(double s, const Tensor& a) { return rsub(s, a); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, double s) { return mul(a, 1.0 / s); }
inline Tensor operator/(double s, const Tensor& a) { return rdiv(s, a); }

}  // namespace ng

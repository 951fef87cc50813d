// Softmax family, cross-entropy and dropout.
#include <cmath>

#include "common.h"
#include "normgrad/random.h"

namespace ng {
using namespace detail;

static Tensor run_softmax(const Tensor& x, int64_t dim, bool log, const char* name) {
  check_float(x, name);
  if (x.dim() == 0) return run_softmax(x.reshape({1}), 0, log, name).reshape({});
  dim = wrap_dim(dim, x.dim(), name);
  Tensor out = empty_like_shape(x, x.shape());
  backend_of(x).softmax(x, dim, log, out);
  return out;
}

Tensor softmax(const Tensor& x, int64_t dim) {
  Tensor y = run_softmax(x, dim, false, "softmax");
  // dx = y * (g - sum(g * y))
  return autograd::record("softmax", y, {x}, {y}, [dim](const TensorList& s, const Tensor& g) {
    const Tensor& y = s[0];
    return TensorList{y * (g - sum(g * y, {dim}, true))};
  });
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  Tensor y = run_softmax(x, dim, true, "log_softmax");
  // dx = g - softmax * sum(g)
  return autograd::record("log_softmax", y, {x}, {y}, [dim](const TensorList& s, const Tensor& g) {
    return TensorList{g - exp(s[0]) * sum(g, {dim}, true)};
  });
}

static Tensor reduce_losses(const Tensor& losses, Reduction reduction, const Tensor& count) {
  switch (reduction) {
    case Reduction::None:
      return losses;
    case Reduction::Sum:
      return sum(losses);
    case Reduction::Mean:
      return sum(losses) / count;  // NaN if all ignored
  }
  return losses;
}

// On a device the targets stay there (reading them would make the host wait for the GPU):
// a kernel checks them and reports at the next wait, and the mask and the count of valid
// targets are device tensors.
static Tensor cross_entropy_on_device(const Tensor& logits, const Tensor& target,
                                      int64_t ignore_index, Reduction reduction) {
  const int64_t N = logits.size(0), C = logits.size(1);
  backend_of(logits).check_indices(target, C, ignore_index, "cross_entropy");
  const Tensor t = target.to(DType::F64);  // exact for every index below 2^53
  const Tensor valid =
      ne(t, full({}, (double)ignore_index, {.dtype = DType::F64, .device = t.device()}));
  const Tensor safe = where(valid, t, zeros_like(t)).to(DType::I64).reshape({N, 1});
  const Tensor mask = valid.to(logits.dtype());
  const Tensor picked = gather(log_softmax(logits, 1), 1, safe).reshape({N});
  return reduce_losses(-(picked * mask), reduction, sum(mask));
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index,
                     Reduction reduction) {
  check_float(logits, "cross_entropy");
  check_index(target, logits, "cross_entropy");
  if (logits.dim() == 1) {
    if (target.numel() != 1)
      fail("cross_entropy", "logits ", shape_str(logits.shape()), " need one target, got ",
           shape_str(target.shape()));
    return cross_entropy(logits.unsqueeze(0), target.reshape({1}), ignore_index, reduction)
        .reshape({});
  }
  if (logits.dim() != 2 || target.dim() != 1 || target.size(0) != logits.size(0))
    fail("cross_entropy", "expected logits [N, C] and target [N], got ", shape_str(logits.shape()),
         " and ", shape_str(target.shape()));
  if (logits.device() != Device::CPU)
    return cross_entropy_on_device(logits, target, ignore_index, reduction);
  const int64_t N = logits.size(0), C = logits.size(1);
  // Validate targets and build the safe index / valid mask on the host (N values).
  const std::vector<double> t = target.to_vector();
  std::vector<int64_t> safe(N);
  std::vector<double> valid(N);
  int64_t count = 0;
  for (int64_t i = 0; i < N; ++i) {
    const int64_t c = (int64_t)t[i];
    if (c == ignore_index) continue;
    if (c < 0 || c >= C)
      fail("cross_entropy", "target ", c, " at position ", i, " is out of range for ", C,
           " classes");
    safe[i] = c;
    valid[i] = 1;
    ++count;
  }
  const TensorOptions opt{.dtype = logits.dtype(), .device = logits.device()};
  const Tensor idx = from_vector(safe, {N, 1}, {.dtype = DType::I64, .device = logits.device()});
  const Tensor mask = from_vector(valid, {N}, opt);
  const Tensor picked = gather(log_softmax(logits, 1), 1, idx).reshape({N});
  const Tensor losses = -(picked * mask);
  if (reduction == Reduction::Mean) return sum(losses) * (1.0 / (double)count);  // NaN: none
  return reduce_losses(losses, reduction, Tensor());
}

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  check_float(x, "dropout");
  if (p < 0 || p > 1) fail("dropout", "probability must be in [0, 1], got ", p);
  if (!training || p == 0) return x;
  if (p == 1) return x * 0.0;
  Generator& g = gen ? *gen : default_generator();
  std::vector<double> m(x.numel());
  const double keep = 1.0 - p, scale = 1.0 / keep;
  for (auto& v : m) v = g.uniform() < keep ? scale : 0.0;
  return x * from_vector(m, x.shape(), {.dtype = x.dtype(), .device = x.device()});
}

}  // namespace ng

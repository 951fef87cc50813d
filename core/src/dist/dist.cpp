// The local communicator, world(), and bucketed gradient averaging (any communicator).
#include "normgrad/dist.h"

#include <cstdlib>
#include <cstring>

#include "normgrad/autograd.h"
#include "normgrad/error.h"
#include "normgrad/ops.h"

namespace ng::dist {

double Communicator::all_reduce_sum(double value) {
  if (size() == 1) return value;
  Tensor t = full({1}, value, {.dtype = DType::F64});
  all_reduce_sum(TensorList{t});
  return t.to_vector()[0];
}

namespace {
class Local final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "local"; }
  void broadcast(const TensorList&, int) override {}
  void all_reduce_sum(const TensorList&) override {}
  void barrier() override {}
  std::string broadcast_bytes(const std::string& bytes, int) override { return bytes; }
  std::vector<std::string> gather_bytes(const std::string& bytes, int) override { return {bytes}; }
  [[noreturn]] void abort(int code) override { std::exit(code); }
};
}  // namespace

std::shared_ptr<Communicator> local() { return std::make_shared<Local>(); }

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_PROCID"})
    if (std::getenv(v)) return true;
  return false;
}

std::shared_ptr<Communicator> world() {
  static std::shared_ptr<Communicator> w = launched_by_mpi() && mpi_built() ? mpi_world() : local();
  return w;
}

GradientAverager::GradientAverager(std::shared_ptr<Communicator> comm, size_t bucket_bytes)
    : comm_(std::move(comm)), bucket_bytes_(bucket_bytes) {}

void GradientAverager::average(const TensorList& params) {
  buckets_ = 0;
  if (comm_->size() == 1) return;
  const double scale = 1.0 / comm_->size();
  // Consecutive parameters of one dtype and device go into one bucket until it is full.
  size_t i = 0;
  while (i < params.size()) {
    const DType dt = params[i].dtype();
    const Device dev = params[i].device();
    size_t j = i, bytes = 0;
    int64_t numel = 0;
    while (j < params.size() && params[j].dtype() == dt && params[j].device() == dev &&
           (j == i || bytes + params[j].numel() * dtype_size(dt) <= bucket_bytes_)) {
      bytes += params[j].numel() * dtype_size(dt), numel += params[j].numel();
      ++j;
    }
    if ((size_t)buckets_ >= buffers_.size() || buffers_[buckets_].numel() != numel ||
        buffers_[buckets_].dtype() != dt || buffers_[buckets_].device() != dev) {
      if ((size_t)buckets_ >= buffers_.size()) buffers_.resize(buckets_ + 1);
      buffers_[buckets_] = empty({numel}, {.dtype = dt, .device = dev});
    }
    Tensor& buf = buffers_[buckets_];
    NoGradGuard no_grad;
    int64_t at = 0;
    for (size_t k = i; k < j; ++k) {
      const int64_t n = params[k].numel();
      Tensor part = buf.narrow(0, at, n);
      const Tensor g = params[k].grad();
      if (g.defined())
        part.copy_(g.reshape({n}));
      else
        part.fill_(0.0);
      at += n;
    }
    comm_->all_reduce_sum(TensorList{buf});
    buf.mul_(scale);
    at = 0;
    for (size_t k = i; k < j; ++k) {
      const int64_t n = params[k].numel();
      const Tensor avg = buf.narrow(0, at, n).reshape(params[k].shape());
      Tensor p = params[k];
      if (p.grad().defined())
        Tensor(p.grad()).copy_(avg);
      else
        p.set_grad(avg.clone());
      at += n;
    }
    ++buckets_;
    i = j;
  }
}

}  // namespace ng::dist

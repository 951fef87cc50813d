// NCCL communicator (built when CMake finds nccl.h and libnccl beside the CUDA toolkit).
#include <nccl.h>

#include <cstdlib>
#include <cstring>

#include "common.cuh"
#include "normgrad/error.h"
#include "normgrad/nccl.h"

namespace ng::dist {
namespace {

void check_nccl(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) fail("nccl", what, " failed: ", ncclGetErrorString(r));
}

ncclDataType_t nccl_type(const Tensor& t, const char* op) {
  if (t.device() != Device::CUDA)
    fail(op, "the NCCL communicator takes CUDA tensors, got a CPU one (use the MPI one)");
  if (!t.is_contiguous()) fail(op, "tensor of shape ", shape_str(t.shape()), " is not contiguous");
  switch (t.dtype()) {
    case DType::F32:
      return ncclFloat32;
    case DType::F64:
      return ncclFloat64;
    case DType::I64:
      return ncclInt64;
  }
  fail(op, "unsupported dtype");
}

class Nccl final : public Communicator {
 public:
  explicit Nccl(std::shared_ptr<Communicator> boot) : boot_(std::move(boot)) {
    int devices = 0;
    cuda::check(cudaGetDeviceCount(&devices), "nccl: device count");
    const int local_rank = boot_->rank() % std::max(1, boot_->local_size());
    cuda::check(cudaSetDevice(local_rank % devices), "nccl: set device");
    ncclUniqueId id;
    std::memset(&id, 0, sizeof id);
    if (boot_->rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    const std::string bytes =
        boot_->broadcast_bytes(std::string(reinterpret_cast<const char*>(&id), sizeof id));
    std::memcpy(&id, bytes.data(), sizeof id);
    check_nccl(ncclCommInitRank(&comm_, boot_->size(), id, boot_->rank()), "ncclCommInitRank");
  }
  ~Nccl() override { ncclCommDestroy(comm_); }
  int rank() const override { return boot_->rank(); }
  int size() const override { return boot_->size(); }
  int local_size() const override { return boot_->local_size(); }
  std::string backend() const override { return "nccl"; }
  void broadcast(const TensorList& tensors, int root) override {
    for (const Tensor& t : tensors)
      check_nccl(ncclBroadcast(t.raw_data(), t.raw_data(), (size_t)t.numel(),
                               nccl_type(t, "broadcast"), root, comm_, cuda::stream()),
                 "ncclBroadcast");
  }
  void all_reduce_sum(const TensorList& tensors) override {
    for (const Tensor& t : tensors)
      check_nccl(ncclAllReduce(t.raw_data(), t.raw_data(), (size_t)t.numel(),
                               nccl_type(t, "all_reduce"), ncclSum, comm_, cuda::stream()),
                 "ncclAllReduce");
  }
  void barrier() override {
    cuda::count_host_sync();
    cuda::check(cudaStreamSynchronize(cuda::stream()), "nccl: barrier");
    boot_->barrier();
  }
  std::string broadcast_bytes(const std::string& b, int root) override {
    return boot_->broadcast_bytes(b, root);
  }
  std::vector<std::string> gather_bytes(const std::string& b, int root) override {
    return boot_->gather_bytes(b, root);
  }
  [[noreturn]] void abort(int code) override {
    ncclCommAbort(comm_);
    boot_->abort(code);
    std::exit(code);  // not reached: boot_->abort ends the process
  }

 private:
  std::shared_ptr<Communicator> boot_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

bool nccl_built() { return true; }
std::shared_ptr<Communicator> nccl(std::shared_ptr<Communicator> bootstrap) {
  return std::make_shared<Nccl>(std::move(bootstrap));
}

}  // namespace ng::dist

// The CUDA backend, first stage: device memory, host<->device copies and fill run on the
// GPU; the compute kernels are not written yet and say so by name (issue: CUDA backend).
#include <cuda_runtime.h>

#include "normgrad/backend.h"

namespace ng::cuda {
namespace {

void check(cudaError_t e, const char* op, size_t bytes = 0) {
  if (e == cudaSuccess) return;
  cudaGetLastError();
  if (e == cudaErrorMemoryAllocation) fail(op, "CUDA out of memory asking for ", bytes, " bytes");
  fail(op, "CUDA error: ", cudaGetErrorString(e));
}

template <class T>
__global__ void fill_kernel(T* p, int64_t n, T v) {
  const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i < n) p[i] = v;
}

class CudaBackend final : public Backend {
 public:
  const char* name() const override { return "cuda"; }

  std::shared_ptr<Storage> allocate(size_t nbytes) override {
    auto st = std::make_shared<Storage>();
    st->device = Device::CUDA;
    st->nbytes = nbytes;
    check(cudaMalloc(&st->data, std::max<size_t>(nbytes, 1)), "allocate", nbytes);
    st->release = [](void* p) { cudaFree(p); };
    return st;
  }
  void copy_from_host(void* dst, const void* src, size_t n) override {
    check(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice), "to(cuda)");
  }
  void copy_to_host(void* dst, const void* src, size_t n) override {
    check(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost), "to(cpu)");
  }
  void fill(const Tensor& dst, double value) override {
    if (!dst.is_contiguous()) missing("fill (strided)");
    const int64_t n = dst.numel();
    if (n == 0) return;
    const int threads = 256;
    const int64_t blocks = (n + threads - 1) / threads;
    switch (dst.dtype()) {
      case DType::F32:
        fill_kernel<<<blocks, threads>>>(dst.data<float>(), n, (float)value);
        break;
      case DType::F64:
        fill_kernel<<<blocks, threads>>>(dst.data<double>(), n, value);
        break;
      case DType::I64:
        fill_kernel<<<blocks, threads>>>(dst.data<int64_t>(), n, (int64_t)value);
        break;
    }
    check(cudaGetLastError(), "fill");
  }
  void copy(const Tensor& src, const Tensor& dst) override {
    if (src.dtype() != dst.dtype() || !src.is_contiguous() || !dst.is_contiguous())
      missing("copy (strided or converting)");
    check(cudaMemcpy(dst.raw_data(), src.raw_data(), src.numel() * dtype_size(src.dtype()),
                     cudaMemcpyDeviceToDevice),
          "copy");
  }
  void unary(UnaryOp, const Tensor&, const Tensor&, double, double) override {
    missing("unary ops");
  }
  void binary(BinaryOp, const Tensor&, const Tensor&, const Tensor&) override {
    missing("binary ops");
  }
  void where(const Tensor&, const Tensor&, const Tensor&, const Tensor&) override {
    missing("where");
  }
  void reduce(ReduceOp, const Tensor&, const std::vector<int64_t>&, const Tensor&) override {
    missing("reductions");
  }
  void gemm(const Tensor&, const Tensor&, const Tensor&) override { missing("matmul"); }
  void softmax(const Tensor&, int64_t, bool, const Tensor&) override { missing("softmax"); }
  void index_select(const Tensor&, int64_t, const Tensor&, const Tensor&) override {
    missing("index_select");
  }
  void index_add(const Tensor&, int64_t, const Tensor&, const Tensor&) override {
    missing("index_add");
  }
  void gather(const Tensor&, int64_t, const Tensor&, const Tensor&) override { missing("gather"); }
  void scatter_add(const Tensor&, int64_t, const Tensor&, const Tensor&) override {
    missing("scatter_add");
  }
  void adam_step(const AdamParams&, const Tensor&, const Tensor&, const Tensor&,
                 const Tensor&) override {
    missing("adam_step");
  }
  void norm_forward(const NormParams&, const Tensor&, const Tensor&, const Tensor&,
                    const Tensor&, const Tensor&) override {
    missing("norm_forward");
  }
  void norm_backward(const NormParams&, const Tensor&, const Tensor&, const Tensor&,
                     const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                     const Tensor&) override {
    missing("norm_backward");
  }

 private:
  [[noreturn]] static void missing(const char* op) {
    fail(op, "has no CUDA implementation yet; move the tensor to the CPU with .to(Device::CPU)");
  }
};

CudaBackend& instance() {
  static CudaBackend b;
  return b;
}

// Runs when libnormgrad loads; touches no CUDA API, so it is safe without a GPU.
const bool registered = [] {
  register_backend(Device::CUDA, &instance());
  return true;
}();

}  // namespace
}  // namespace ng::cuda

// The CPU backend: OpenMP kernels, GEMM through OpenBLAS.
#pragma once
#include "normgrad/backend.h"

namespace ng::cpu {

class CpuBackend final : public Backend {
 public:
  CpuBackend();
  const char* name() const override { return "cpu"; }
  std::shared_ptr<Storage> allocate(size_t nbytes) override;
  void copy_from_host(void* dst, const void* src, size_t nbytes) override;
  void copy_to_host(void* dst, const void* src, size_t nbytes) override;
  void copy(const Tensor& src, const Tensor& dst) override;
  void fill(const Tensor& dst, double value) override;
  void unary(UnaryOp op, const Tensor& x, const Tensor& out, double a, double b) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims,
              const Tensor& out) override;
  void gemm(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate) override;
  void softmax(const Tensor& x, int64_t dim, bool log, const Tensor& out) override;
  void index_select(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) override;
  void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override;
  void gather(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& out) override;
  void check_indices(const Tensor& index, int64_t size, int64_t ignore, const char* op) override;
  void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override;
  void adam_step(const AdamParams& a, const Tensor& p, const Tensor& g, const Tensor& m,
                 const Tensor& v) override;
  Tensor attention_forward(const Tensor& qkv, int64_t n_head, double scale,
                           const Tensor& y) override;
  void attention_backward(const Tensor& g, const Tensor& qkv, const Tensor& y, const Tensor& probs,
                          int64_t n_head, double scale, const Tensor& dqkv) override;
};

// The process-wide CPU backend (created on first use).
Backend& cpu_backend();

}  // namespace ng::cpu

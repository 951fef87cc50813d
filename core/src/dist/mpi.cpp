// The MPI communicator (CPU tensors), built when CMake finds MPI. MPI_Init_thread on first
// use with MPI_THREAD_FUNNELED: only the main thread communicates, OpenMP threads compute.
// The C API only: OpenMPI would otherwise pull in its deprecated C++ bindings.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <mutex>

#include "normgrad/dist.h"
#include "normgrad/error.h"

namespace ng::dist {
namespace {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  fail("mpi", what, " failed: ", std::string(msg, (size_t)len));
}

MPI_Datatype mpi_type(const Tensor& t, const char* op) {
  if (t.device() != Device::CPU)
    fail(op, "the MPI communicator takes CPU tensors, got one on CUDA (use the NCCL one)");
  if (!t.is_contiguous()) fail(op, "tensor of shape ", shape_str(t.shape()), " is not contiguous");
  switch (t.dtype()) {
    case DType::F32:
      return MPI_FLOAT;
    case DType::F64:
      return MPI_DOUBLE;
    case DType::I64:
      return MPI_INT64_T;
  }
  fail(op, "unsupported dtype");
}

// MPI counts are int: larger tensors go in chunks.
template <class F>
void chunked(const Tensor& t, F&& call) {
  const int64_t n = t.numel(), esz = (int64_t)dtype_size(t.dtype());
  char* base = (char*)t.raw_data();
  for (int64_t at = 0; at < n; at += INT_MAX / 2) {
    const int64_t len = std::min<int64_t>(INT_MAX / 2, n - at);
    call(base + at * esz, (int)len);
  }
}

class Mpi final : public Communicator {
 public:
  Mpi() {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_ = true;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
    MPI_Comm_size(local, &local_size_);
    MPI_Comm_free(&local);
  }
  ~Mpi() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owns_ && !finalized) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_size() const override { return local_size_; }
  std::string backend() const override { return "mpi"; }

  void broadcast(const TensorList& tensors, int root) override {
    for (const Tensor& t : tensors) {
      const MPI_Datatype type = mpi_type(t, "broadcast");
      chunked(t, [&](void* p, int n) {
        check(MPI_Bcast(p, n, type, root, MPI_COMM_WORLD), "MPI_Bcast");
      });
    }
  }
  void all_reduce_sum(const TensorList& tensors) override {
    for (const Tensor& t : tensors) {
      const MPI_Datatype type = mpi_type(t, "all_reduce");
      chunked(t, [&](void* p, int n) {
        check(MPI_Allreduce(MPI_IN_PLACE, p, n, type, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
      });
    }
  }
  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }
  std::string broadcast_bytes(const std::string& bytes, int root) override {
    long long n = (long long)bytes.size();
    check(MPI_Bcast(&n, 1, MPI_LONG_LONG, root, MPI_COMM_WORLD), "MPI_Bcast");
    if (n > INT_MAX) fail("broadcast_bytes", n, " bytes is more than one MPI message holds");
    std::string out = rank_ == root ? bytes : std::string((size_t)n, '\0');
    check(MPI_Bcast(out.data(), (int)n, MPI_CHAR, root, MPI_COMM_WORLD), "MPI_Bcast");
    return out;
  }
  std::vector<std::string> gather_bytes(const std::string& bytes, int root) override {
    if (bytes.size() > INT_MAX / 4) fail("gather_bytes", bytes.size(), " bytes is too many");
    int n = (int)bytes.size();
    std::vector<int> sizes(size_), offsets(size_);
    check(MPI_Gather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, root, MPI_COMM_WORLD), "MPI_Gather");
    long long total = 0;
    for (int r = 0; r < size_; ++r) offsets[r] = (int)total, total += sizes[r];
    if (rank_ == root && total > INT_MAX) fail("gather_bytes", total, " bytes in all is too many");
    std::string all(rank_ == root ? (size_t)total : 0, '\0');
    check(MPI_Gatherv(bytes.data(), n, MPI_CHAR, all.data(), sizes.data(), offsets.data(), MPI_CHAR,
                      root, MPI_COMM_WORLD),
          "MPI_Gatherv");
    std::vector<std::string> out;
    if (rank_ == root)
      for (int r = 0; r < size_; ++r)
        out.push_back(all.substr((size_t)offsets[r], (size_t)sizes[r]));
    return out;
  }
  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);
  }

 private:
  int rank_ = 0, size_ = 1, local_size_ = 1;
  bool owns_ = false;
};

}  // namespace

bool mpi_built() { return true; }

std::shared_ptr<Communicator> mpi_world() {
  static std::shared_ptr<Communicator> w = std::make_shared<Mpi>();
  return w;
}

}  // namespace ng::dist

// Collective communication between the processes of one job, for data-parallel training
// and for spreading many runs over a cluster. The engines are the ones clusters have: MPI
// (OpenMPI from Debian, launched by mpirun or Slurm's srun) for CPU tensors, and NCCL for
// CUDA tensors (normgrad/nccl.h, bootstrapped over MPI, as llm.c does).
//
//   auto comm = dist::world();                    // MPI_COMM_WORLD under mpirun, else local
//   comm->broadcast(model.parameters());          // rank 0's weights everywhere
//   dist::GradientAverager avg(comm);             // gradients averaged in ~4 MiB buckets
//   avg.average(model.parameters());
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "normgrad/tensor.h"

namespace ng::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int local_size() const { return 1; }  // ranks on this host
  virtual std::string backend() const = 0;      // local, mpi, nccl
  // In place. Every rank passes tensors of the same shapes, dtypes and order; they must be
  // contiguous and on the device this communicator serves (an error names the offender).
  virtual void broadcast(const TensorList& tensors, int root = 0) = 0;
  virtual void all_reduce_sum(const TensorList& tensors) = 0;
  virtual void barrier() = 0;
  // Host bytes: root's to every rank; every rank's to root (empty elsewhere).
  virtual std::string broadcast_bytes(const std::string& bytes, int root = 0) = 0;
  virtual std::vector<std::string> gather_bytes(const std::string& bytes, int root = 0) = 0;
  // Ends every rank's process with `code` (one rank's error must not leave the others
  // waiting in a collective forever).
  [[noreturn]] virtual void abort(int code) = 0;

  double all_reduce_sum(double value);  // a host scalar, summed over ranks
};

// A communicator of one process: collectives are no-ops.
std::shared_ptr<Communicator> local();
// True when this process was started by mpirun / srun (their environment variables).
bool launched_by_mpi();
bool mpi_built();  // whether this build has the MPI communicator
// MPI_COMM_WORLD; MPI is initialised on first use and finalised at exit. An error when the
// build has no MPI.
std::shared_ptr<Communicator> mpi_world();
// mpi_world() when launched by mpirun (and MPI is built), local() otherwise.
std::shared_ptr<Communicator> world();

// Averages gradients over ranks: packs them into buckets of about `bucket_bytes` (one
// collective per bucket, not per tensor; the buffers are reused every step), sums, divides
// by the number of ranks and unpacks. Parameters without a gradient count as zeros.
class GradientAverager {
 public:
  explicit GradientAverager(std::shared_ptr<Communicator> comm, size_t bucket_bytes = 4u << 20);
  void average(const TensorList& params);
  int buckets() const { return buckets_; }  // in the last call

 private:
  std::shared_ptr<Communicator> comm_;
  size_t bucket_bytes_;
  std::vector<Tensor> buffers_;  // one per bucket, kept between steps
  int buckets_ = 0;
};

}  // namespace ng::dist

// All-reduce bandwidth of normgrad's MPI communicator against MPI's own MPI_Allreduce on the
// same message sizes, interleaved (ours, MPI's, ours, MPI's, ...) with the median of each.
// Run under MPI:  mpirun --oversubscribe -np 2 build/release/bench/bench_allreduce
// Bandwidth = message bytes / time (what one rank's buffer moves through per second).
#define OMPI_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "normgrad/dist.h"
#include "normgrad/ops.h"

int main() {
  auto comm = ng::dist::mpi_world();  // initialises MPI
  const int rank = comm->rank();
  if (rank == 0)
    std::printf("ranks %d; median of 9 interleaved rounds per size\n%12s %14s %14s %8s\n",
                comm->size(), "bytes", "normgrad GB/s", "MPI GB/s", "ratio");
  for (size_t bytes = 4096; bytes <= (64u << 20); bytes *= 4) {
    const int64_t n = (int64_t)(bytes / 4);
    ng::Tensor t = ng::ones({n});
    std::vector<float> raw((size_t)n, 1.0f);
    const int reps = std::max(3, (int)((64u << 20) / bytes));
    std::vector<double> ours, theirs;
    for (int round = 0; round < 9; ++round) {
      for (int side = 0; side < 2; ++side) {
        comm->barrier();
        const auto t0 = std::chrono::steady_clock::now();
        for (int r = 0; r < reps; ++r) {
          if (side == 0)
            comm->all_reduce_sum({t});
          else
            MPI_Allreduce(MPI_IN_PLACE, raw.data(), (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        }
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        (side == 0 ? ours : theirs).push_back((double)bytes * reps / s / 1e9);
      }
      t.fill_(1.0);
      std::fill(raw.begin(), raw.end(), 1.0f);
    }
    std::sort(ours.begin(), ours.end());
    std::sort(theirs.begin(), theirs.end());
    if (rank == 0)
      std::printf("%12zu %14.2f %14.2f %8.2f\n", bytes, ours[4], theirs[4], ours[4] / theirs[4]);
  }
  return 0;
}

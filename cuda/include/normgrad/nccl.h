// The NCCL communicator for CUDA tensors (data parallelism across GPUs), bootstrapped over
// another communicator (MPI): rank 0 creates the NCCL id and broadcasts it, as llm.c does.
// Only present when normgrad was built with CUDA; nccl() says so when NCCL was not found.
#pragma once
#include <memory>

#include "normgrad/dist.h"

namespace ng::dist {

// Whether this build found NCCL beside the CUDA toolkit.
bool nccl_built();
// One GPU per rank: this rank uses device (local rank mod visible devices), set before any
// CUDA allocation. Collectives run on the CUDA backend's stream, in its order.
std::shared_ptr<Communicator> nccl(std::shared_ptr<Communicator> bootstrap);

}  // namespace ng::dist

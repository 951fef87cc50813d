// Built instead of nccl_comm.cu when NCCL is not found beside the CUDA toolkit.
#include "normgrad/error.h"
#include "normgrad/nccl.h"

namespace ng::dist {

bool nccl_built() { return false; }
std::shared_ptr<Communicator> nccl(std::shared_ptr<Communicator>) {
  fail("nccl",
       "this normgrad was built without NCCL (nccl.h / libnccl not found beside the "
       "CUDA toolkit): GPU data parallelism needs it");
}

}  // namespace ng::dist

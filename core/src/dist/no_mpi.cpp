// Built instead of mpi.cpp when CMake finds no MPI: the feature says it is absent.
#include "normgrad/dist.h"
#include "normgrad/error.h"

namespace ng::dist {

bool mpi_built() { return false; }

std::shared_ptr<Communicator> mpi_world() {
  fail("mpi", "this normgrad was built without MPI (install libopenmpi-dev and rebuild)");
}

}  // namespace ng::dist

// The reproducibility manifest: what produced a checkpoint or a report, written into every
// checkpoint's metadata and into compare's and sweep's summary.json.
#pragma once
#include <map>
#include <string>

#include "normgrad/tensor.h"

namespace ngcli {

// normgrad_version, git_commit (the commit the build was configured from, "unknown" outside
// a git checkout; uncommitted changes are not recorded), build_type, blas (OpenBLAS's
// configuration), blas_core (its kernel family), cpu (the model name in /proc/cpuinfo),
// threads, device ("cpu", or the GPU's description with --device cuda) and command_line
// (as set_command_line recorded it; "(library call)" when no program did).
std::map<std::string, std::string> reproducibility_manifest(ng::Device dev);

// The program's arguments, shell-quoted where needed; main() calls this first.
void set_command_line(int argc, char** argv);

}  // namespace ngcli

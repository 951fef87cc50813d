// The CPU kernels' dtype dispatch (see normgrad/dtype_dispatch.h).
#pragma once
#include "normgrad/dtype_dispatch.h"

namespace ng::cpu {
using ng::dispatch_all;
using ng::dispatch_float;
}  // namespace ng::cpu

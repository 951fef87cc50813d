// Querying the CUDA backend. Only present when normgrad was built with CUDA (NG_HAS_CUDA).
#pragma once
#include <string>

namespace ng::cuda {

int device_count();  // 0 when the driver or a device is missing (never throws)
bool is_available();
// Why CUDA cannot be used here, e.g. "no CUDA-capable device is detected"; empty if it can.
std::string unavailable_reason();

}  // namespace ng::cuda

#include "cpu/cpu_backend.h"
#include "normgrad/backend.h"

namespace ng {
namespace {
Backend* registry[kNumDevices] = {};
}

void register_backend(Device d, Backend* b) { registry[(int)d] = b; }

bool has_backend(Device d) { return d == Device::CPU || registry[(int)d] != nullptr; }

Backend& backend(Device d) {
  if (d == Device::CPU) return cpu::cpu_backend();
  Backend* b = registry[(int)d];
  if (!b)
    fail("backend", "no backend for device '", device_name(d),
         "': this normgrad was built without it (configure with -DNG_CUDA=ON)");
  return *b;
}

}  // namespace ng

// A block of device memory plus the version counter that autograd uses to detect
// "a tensor saved for backward was modified in place".
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "normgrad/dtype.h"

namespace ng {

struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  Device device = Device::CPU;
  uint64_t version = 0;  // bumped by every in-place write
  std::function<void(void*)> release;

  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (release && data) release(data);
  }
};

}  // namespace ng

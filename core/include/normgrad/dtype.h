// Element types and devices: the two facts every kernel dispatches on.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ng {

enum class DType : uint8_t { F32, F64, I64 };
enum class Device : uint8_t { CPU, CUDA };
constexpr int kNumDevices = 2;

// Bytes per element.
inline size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 8; }
// F32 and F64: the dtypes gradients flow through.
inline bool is_floating(DType t) { return t != DType::I64; }
// "float32", "float64" or "int64", as printed and in errors.
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "float32";
    case DType::F64:
      return "float64";
    case DType::I64:
      return "int64";
  }
  return "?";
}
// "cpu" or "cuda".
inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

// The DType of a C++ element type: dtype_of<float>() == DType::F32.
template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::F32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::F64;
}
template <>
constexpr DType dtype_of<int64_t>() {
  return DType::I64;
}

}  // namespace ng

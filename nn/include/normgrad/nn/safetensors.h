// Checkpoints in the safetensors format, readable by PyTorch, numpy and any other
// safetensors reader: an 8-byte little-endian header length, a JSON header (dtype, shape,
// data_offsets per tensor, plus a "__metadata__" map of strings), then raw little-endian
// data. Supported dtypes: F32, F64, I64; F16 and BF16 are read (widened to F32), not written.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "normgrad/nn/module.h"

namespace ng::nn {

// The file's __metadata__ strings (config, vocabulary, RNG states, ...).
using Metadata = std::map<std::string, std::string>;

struct Safetensors {
  StateDict tensors;  // CPU tensors
  Metadata metadata;
};

// The bytes of a safetensors file of these tensors (sorted by name).
std::vector<uint8_t> serialize_safetensors(const StateDict& tensors, const Metadata& metadata = {});
// Validates everything (header size, JSON, dtypes, shapes, offsets within the data, no
// overlap, byte counts) and throws ng::Error naming `source` and the problem.
Safetensors parse_safetensors(const std::vector<uint8_t>& bytes,
                              const std::string& source = "<memory>");

// Written to a temporary file in the same directory, then renamed over `path`.
void save_safetensors(const std::string& path, const StateDict& tensors,
                      const Metadata& metadata = {});
Safetensors load_safetensors(const std::string& path);

// Writes `bytes` to `path` atomically (temp file + fsync + rename).
void write_file_atomic(const std::string& path, const std::vector<uint8_t>& bytes);

}  // namespace ng::nn

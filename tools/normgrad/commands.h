// The checkpoint-reading subcommands: eval, sample, grads.
#pragma once
#include <cstdint>
#include <string>

namespace ngcli {

// Mean loss of a checkpoint over every full block_size window of `data` (default: the
// built-in corpus), in non-overlapping windows; prints and returns it.
double eval_command(const std::string& ckpt, const std::string& data, int64_t max_windows);
// Generates `tokens` characters after `prompt`.
std::string sample_command(const std::string& ckpt, const std::string& prompt, int64_t tokens,
                           double temperature, int64_t top_k, uint64_t seed);
// Loss and the gradient of every parameter for one seeded batch: written to `out` as
// safetensors ("loss" plus "grad.<param name>") and printed as a table of norms.
void grads_command(const std::string& ckpt, const std::string& data, int64_t batch, uint64_t seed,
                   const std::string& out);

}  // namespace ngcli

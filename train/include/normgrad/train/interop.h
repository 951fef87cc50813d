// `normgrad import` and `normgrad export`: Hugging Face GPT-2 model folders <-> normgrad
// checkpoints (see normgrad/nn/hf_gpt2.h for the layout and what is converted).
//
//   normgrad import --hf gpt2 --out gpt2-run     # gpt2-run/ckpt.safetensors: eval, sample,
//                                                # grads, convert, train --init-from use it
//   normgrad export --ckpt run/ckpt.safetensors --hf exported/
#pragma once
#include <cstdint>
#include <string>

namespace ngcli {

struct ImportResult {
  std::string ckpt;  // OUT/ckpt.safetensors
  int64_t parameters = 0;
  int64_t batch = 0;      // the batch size saved in its config (the largest <= 12 that fits RAM)
  std::string tokenizer;  // gpt2-bpe (the folder's vocab.json + merges.txt / tokenizer.json) or ids
  double seconds = 0;
};

// The folder's tokenizer comes along when it has one; its size must equal vocab_size.
ImportResult import_hf(const std::string& hf_dir, const std::string& out_dir, bool quiet = false);

// Weights only (no optimizer state); a GPT-2 BPE tokenizer is written as vocab.json +
// merges.txt beside them, a character vocabulary as config.json's "normgrad_vocab_chars".
void export_hf(const std::string& ckpt, const std::string& hf_dir, bool quiet = false);

}  // namespace ngcli

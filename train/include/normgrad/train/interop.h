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

// The folder's tokenizer comes along: the one a normgrad export's config.json names
// ("normgrad_tokenizer": its characters, or vocab.json + merges.txt checked against the
// recorded fingerprint), else vocab.json + merges.txt / tokenizer.json when the folder has
// them, else token ids. Its size must equal vocab_size.
ImportResult import_hf(const std::string& hf_dir, const std::string& out_dir, bool quiet = false);

// Weights only (no optimizer state); the tokenizer always travels: a GPT-2 BPE as vocab.json +
// merges.txt beside them, a character vocabulary as config.json's "normgrad_vocab_chars".
// vocab.json / merges.txt an earlier normgrad export left there are removed when this model
// has no BPE (tokenizer files of unknown origin: refused, never deleted). A model that is not
// a GPT-2 (see normgrad/nn/hf_gpt2.h) is written so that transformers refuses to load it.
void export_hf(const std::string& ckpt, const std::string& hf_dir, bool quiet = false);

}  // namespace ngcli

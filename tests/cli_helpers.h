// Shared by the tests of the normgrad command: a tiny corpus and a tiny run's settings.
#pragma once
#include <fstream>
#include <string>
#include <vector>

#include "normgrad/train/data.h"
#include "normgrad/train/train.h"

namespace ngt {

inline std::string corpus_file() {
  const std::string path = "cli_test_corpus.txt";
  std::ofstream f(path);
  for (int i = 0; i < 40; ++i) f << "the quick brown fox jumps over the lazy dog " << i % 7 << ". ";
  f << "caf\xc3\xa9 na\xc3\xafve\n";  // some non-ASCII code points
  return path;
}
inline ngcli::TrainConfig tiny_cfg(const std::string& out) {
  ngcli::TrainConfig c;
  c.data = corpus_file();
  c.out = out;
  c.quiet = true;
  c.n_layer = 2, c.n_head = 2, c.n_embd = 16, c.block_size = 16, c.batch = 4;
  c.max_steps = 12, c.warmup = 2, c.eval_interval = 5, c.eval_iters = 2, c.ckpt_interval = 5;
  c.dropout = 0.1;
  // The tests' folders persist between runs of the suite and a test may start a new run in
  // its own folder more than once; the refusal without it has tests of its own (hostile).
  c.overwrite = true;
  return c;
}
// GPT-2's byte table, written out independently of bpe.cpp: printable bytes are their own
// characters, the other 68 map to U+0100 upwards in byte order.
inline std::vector<std::string> gpt2_byte_characters() {
  std::vector<std::string> bytes;
  for (int b = 0, next = 256; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    bytes.push_back(ngcli::utf8_encode({(char32_t)(printable ? b : next++)}));
  }
  return bytes;
}
inline std::vector<std::string> lines(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> v;
  for (std::string l; std::getline(f, l);) v.push_back(l);
  return v;
}
}  // namespace ngt

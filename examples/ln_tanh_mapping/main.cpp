// Why token-wise linear LayerNorm looks like tanh across tokens. Builds the DyT paper's
// synthetic set-up (16 tokens x 16 channels of N(0,1), 16 single elements x20) and a larger
// one with outlier channels, fits y = a tanh(alpha x) to each scatter with Levenberg-Marquardt
// (Jacobians from normgrad's autograd), prints the fits, and draws three panels per set-up:
// plain, coloured by token, coloured by channel.
//   build/release/examples/ln_tanh_mapping [--out PREFIX]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "../common/example_io.h"
#include "../common/least_squares.h"
#include "mapping.h"

using namespace mapping;

static void write_json(std::ofstream& j, const char* name, const Data& d, const ls::Fit& f) {
  const auto x = d.x.to_vector(), y = d.y.to_vector();
  j << "\"" << name << "\": {\"tokens\": " << d.x.size(0) << ", \"channels\": " << d.x.size(1)
    << ", \"a\": " << f.theta[0] << ", \"alpha\": " << f.theta[1] << ", \"x\": [";
  for (size_t i = 0; i < x.size(); ++i) j << (i ? "," : "") << x[i];
  j << "], \"y\": [";
  for (size_t i = 0; i < y.size(); ++i) j << (i ? "," : "") << y[i];
  j << "]}";
}

static ls::Fit fit_tanh(const Data& d) {
  const Tensor x = d.x.reshape({-1}), y = d.y.reshape({-1});
  return ls::levenberg_marquardt(
      [&](const Tensor& th) { return tanh(x * th.select(0, 1)) * th.select(0, 0) - y; },
      {3.0, 0.5});
}

int main(int argc, char** argv) {
  std::string out = "ln_tanh_mapping";
  if (argc == 3 && !std::strcmp(argv[1], "--out"))
    out = argv[2];
  else if (argc != 1) {
    std::fprintf(stderr, "usage: %s [--out PREFIX]\n", argv[0]);
    return 2;
  }
  const Data small = single_spikes(16, 16, 16, 20.0, 7);
  const Data large = outlier_channels(256, 64, 4, 30.0, 11);
  const ls::Fit fs = fit_tanh(small), fl = fit_tanh(large);
  std::printf(
      "16 x 16, 16 single elements x20:   y ~ %.4f tanh(%.5f x)   (SSE %.4g over %lld points)\n",
      fs.theta[0], fs.theta[1], fs.sse, (long long)small.x.numel());
  std::printf(
      "256 x 64, 4 outlier channels:      y ~ %.4f tanh(%.5f x)   (SSE %.4g over %lld points)\n",
      fl.theta[0], fl.theta[1], fl.sse, (long long)large.x.numel());
  std::printf(
      "Per token the map is linear (slope 1/std); the S-shape comes from pooling tokens.\n");
  std::ofstream j(out + ".json");
  j.precision(10);
  j << "{";
  write_json(j, "single_spikes", small, fs);
  j << ", ";
  write_json(j, "outlier_channels", large, fl);
  j << "}\n";
  j.close();
  if (example::draw("ln_mapping", out + ".json", out + ".png"))
    std::printf("figure: %s.png\n", out.c_str());
  else
    std::printf("(figure skipped: python3 with matplotlib not available)\n");
  return 0;
}

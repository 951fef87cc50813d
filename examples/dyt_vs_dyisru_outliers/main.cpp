// Stollenwerk's numerical experiment: how well do DyT and DyISRU reproduce what LayerNorm
// does to an outlier? Prints the fitted alpha and beta (paper: 0.049 and 301.1) and the
// residuals (paper: DyISRU's mean absolute residual ~68x smaller), writes a JSON file and,
// with matplotlib, a figure. Also shows the exact identity behind DyISRU.
//
//   build/release/examples/dyt_vs_dyisru_outliers [--base FILE] [--out PREFIX]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "../common/example_io.h"
#include "outliers.h"

using namespace outliers;

int main(int argc, char** argv) {
  std::string base_path = NG_EXAMPLE_DIR "/stollenwerk_base.txt", out = "dyt_vs_dyisru_outliers";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--base"))
      base_path = argv[i + 1];
    else if (!std::strcmp(argv[i], "--out"))
      out = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: %s [--base FILE] [--out PREFIX]\n", argv[0]);
      return 2;
    }
  }
  try {
    const std::vector<double> base = read_base(base_path);
    const Points p = outlier_points(base, Target::LayerNorm);
    const double pf = std::sqrt((double)p.C - 1);  // LayerNorm's bound for a single outlier
    const ls::Fit dyt = fit_dyt(p, pf), isru = fit_dyisru(p, pf);
    const double a = dyt.theta[0], b = isru.theta[0];
    const double mar_dyt = mean_abs_residual(p, [&](double x) { return pf * std::tanh(a * x); });
    const double mar_isru =
        mean_abs_residual(p, [&](double x) { return pf * x / std::sqrt(b + x * x); });
    std::printf("base token: %lld values from %s; outlier = channel %lld (%.6f)\n", (long long)p.C,
                base_path.c_str(), (long long)p.outlier, base[p.outlier]);
    std::printf(
        "18 points: outlier + 5S for S = 1..9 through LayerNorm, and their mirror images\n\n");
    std::printf("           parameter           mean |residual|   SSE               (paper)\n");
    std::printf("DyT        alpha = %-14.9g %-17.9g %-17.9g (alpha 0.049)\n", a, mar_dyt, dyt.sse);
    std::printf("DyISRU     beta  = %-14.9g %-17.9g %-17.9g (beta 301.1)\n", b, mar_isru, isru.sse);
    std::printf("DyISRU's mean absolute residual is %.1fx smaller than DyT's (paper: ~68x)\n\n",
                mar_dyt / mar_isru);

    // The identity behind DyISRU: RMSNorm(x)_i = sqrt(C) x_i / sqrt(x_i^2 + sum_{k!=i} x_k^2),
    // so with RMSNorm targets and a sqrt(C) prefactor DyISRU fits exactly.
    const Points r = outlier_points(base, Target::RMSNorm);
    const ls::Fit exact = fit_dyisru(r, std::sqrt((double)r.C));
    double others = 0;
    for (int64_t k = 0; k < r.C; ++k)
      if (k != r.outlier) others += base[k] * base[k];
    std::printf(
        "exact identity: RMSNorm targets, prefactor sqrt(C): fitted beta = %.9g, "
        "sum of the other channels' squares = %.9g, SSE = %.3g\n",
        exact.theta[0], others, exact.sse);

    std::ofstream j(out + ".json");
    j.precision(17);
    j << "{\"C\": " << p.C << ", \"alpha\": " << a << ", \"beta\": " << b
      << ", \"prefactor\": " << pf << ", \"mar_dyt\": " << mar_dyt
      << ", \"mar_dyisru\": " << mar_isru << ", \"x\": [";
    for (size_t i = 0; i < p.x.size(); ++i) j << (i ? ", " : "") << p.x[i];
    j << "], \"y\": [";
    for (size_t i = 0; i < p.y.size(); ++i) j << (i ? ", " : "") << p.y[i];
    j << "]}\n";
    j.close();
    if (example::draw("outliers", out + ".json", out + ".png"))
      std::printf("figure: %s.png\n", out.c_str());
    else
      std::printf("(figure skipped: python3 with matplotlib not available)\n");
  } catch (const ng::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

// The fused GPU attention's tile schedule and arithmetic, checked on the CPU: the plan in
// cuda/src/flash_plan.h drives a scalar float64 replay of the four kernels (forward with an
// online softmax, the row term, dk/dv per key tile, dq per query tile), whose outputs and
// gradients must equal the composed specification. Small tiles give many tiles, ragged ends
// and a diagonal in every position on small inputs. Runs everywhere, GPU or not.
#include <vector>

#include "../cuda/src/flash_plan.h"
#include "helpers.h"

using namespace ngt;
namespace fl = ng::cuda::flash;

namespace {

struct Replay {
  std::vector<double> y, lse, dqkv;
};

// The kernels' loops on one (batch, head) at a time, tile by tile, in their order.
Replay replay(const std::vector<double>& qkv, const std::vector<double>& dy, int64_t B, int64_t T,
              int64_t C, int64_t H, int BR, int BC) {
  const int64_t D = C / H, stride = 3 * C;
  const double scale = 1.0 / std::sqrt((double)D);
  Replay out{std::vector<double>(B * T * C), std::vector<double>(B * H * T),
             std::vector<double>(B * T * 3 * C, std::nan(""))};
  auto q = [&](int64_t b, int64_t h, int64_t i, int64_t part, int64_t d) {
    return qkv[(b * T + i) * stride + part * C + h * D + d];
  };
  auto score = [&](int64_t b, int64_t h, int64_t i, int64_t j) {
    double s = 0;
    for (int64_t d = 0; d < D; ++d) s += q(b, h, i, 0, d) * q(b, h, j, 1, d);
    return s * scale;
  };
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t bh = b * H + h;
      // forward: per query tile, running max m, sum l and output o over its key tiles
      for (int64_t qt = 0; qt < fl::tiles_for(T, BR); ++qt) {
        const fl::TileRange keys = fl::key_tiles_of_query_tile(qt, T, BR, BC);
        for (int64_t i = qt * BR; i < std::min<int64_t>(T, qt * BR + BR); ++i) {
          double m = -INFINITY, l = 0;
          std::vector<double> o(D, 0.0);
          for (int64_t kt = keys.begin; kt < keys.end; ++kt) {
            double tile_max = -INFINITY;
            for (int64_t j = kt * BC; j < kt * BC + BC; ++j)
              if (fl::attends(i, j, T)) tile_max = std::max(tile_max, score(b, h, i, j));
            const double m_new = std::max(m, tile_max), rescale = std::exp(m - m_new);
            l *= rescale;
            for (auto& v : o) v *= rescale;
            for (int64_t j = kt * BC; j < kt * BC + BC; ++j) {
              if (!fl::attends(i, j, T)) continue;
              const double p = std::exp(score(b, h, i, j) - m_new);
              l += p;
              for (int64_t d = 0; d < D; ++d) o[d] += p * q(b, h, j, 2, d);
            }
            m = m_new;
          }
          for (int64_t d = 0; d < D; ++d) out.y[(b * T + i) * C + h * D + d] = o[d] / l;
          out.lse[bh * T + i] = m + std::log(l);
        }
      }
      // backward: the row term, then each key tile's dk/dv and each query tile's dq
      std::vector<double> dvec(T);
      for (int64_t i = 0; i < T; ++i) {
        double acc = 0;
        for (int64_t d = 0; d < D; ++d)
          acc += dy[(b * T + i) * C + h * D + d] * out.y[(b * T + i) * C + h * D + d];
        dvec[i] = acc;
      }
      auto p_and_ds = [&](int64_t i, int64_t j, double& p, double& ds) {
        p = ds = 0;
        if (!fl::attends(i, j, T)) return;
        p = std::exp(score(b, h, i, j) - out.lse[bh * T + i]);
        double dp = 0;
        for (int64_t d = 0; d < D; ++d) dp += dy[(b * T + i) * C + h * D + d] * q(b, h, j, 2, d);
        ds = p * (dp - dvec[i]);
      };
      for (int64_t kt = 0; kt < fl::tiles_for(T, BC); ++kt) {
        const fl::TileRange queries = fl::query_tiles_of_key_tile(kt, T, BR, BC);
        for (int64_t j = kt * BC; j < std::min<int64_t>(T, kt * BC + BC); ++j) {
          std::vector<double> dk(D, 0.0), dv(D, 0.0);
          for (int64_t qt = queries.begin; qt < queries.end; ++qt)
            for (int64_t i = qt * BR; i < qt * BR + BR; ++i) {
              double p, ds;
              p_and_ds(i, j, p, ds);
              for (int64_t d = 0; d < D && i < T; ++d) {
                dv[d] += p * dy[(b * T + i) * C + h * D + d];
                dk[d] += ds * q(b, h, i, 0, d);
              }
            }
          for (int64_t d = 0; d < D; ++d) {
            out.dqkv[(b * T + j) * stride + C + h * D + d] = dk[d] * scale;
            out.dqkv[(b * T + j) * stride + 2 * C + h * D + d] = dv[d];
          }
        }
      }
      for (int64_t qt = 0; qt < fl::tiles_for(T, BR); ++qt) {
        const fl::TileRange keys = fl::key_tiles_of_query_tile(qt, T, BR, BC);
        for (int64_t i = qt * BR; i < std::min<int64_t>(T, qt * BR + BR); ++i) {
          std::vector<double> dq(D, 0.0);
          for (int64_t kt = keys.begin; kt < keys.end; ++kt)
            for (int64_t j = kt * BC; j < kt * BC + BC; ++j) {
              double p, ds;
              p_and_ds(i, j, p, ds);
              for (int64_t d = 0; d < D && j < T; ++d) dq[d] += ds * q(b, h, j, 1, d);
            }
          for (int64_t d = 0; d < D; ++d)
            out.dqkv[(b * T + i) * stride + h * D + d] = dq[d] * scale;
        }
      }
    }
  return out;
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return std::isnan(worst) ? INFINITY : worst;
}

}  // namespace

TEST_SUITE("cuda") {
  TEST_CASE("fused attention plan: the tiles visit exactly the causal pairs, each once") {
    for (int64_t T : {1, 3, 4, 5, 16, 63, 64, 65, 130, 1024})
      for (int tile : {4, 32, 64}) {
        INFO("T " << T << " tile " << tile);
        const int64_t n = fl::tiles_for(T, tile);
        std::vector<int> seen_fwd(T * T, 0), seen_bwd(T * T, 0);
        for (int64_t qt = 0; qt < n; ++qt) {
          const fl::TileRange keys = fl::key_tiles_of_query_tile(qt, T, tile, tile);
          for (int64_t kt = keys.begin; kt < keys.end; ++kt)
            for (int64_t i = qt * tile; i < std::min<int64_t>(T, qt * tile + tile); ++i)
              for (int64_t j = kt * tile; j < std::min<int64_t>(T, kt * tile + tile); ++j)
                seen_fwd[i * T + j] += fl::attends(i, j, T);
        }
        for (int64_t kt = 0; kt < n; ++kt) {
          const fl::TileRange queries = fl::query_tiles_of_key_tile(kt, T, tile, tile);
          for (int64_t qt = queries.begin; qt < queries.end; ++qt)
            for (int64_t i = qt * tile; i < std::min<int64_t>(T, qt * tile + tile); ++i)
              for (int64_t j = kt * tile; j < std::min<int64_t>(T, kt * tile + tile); ++j)
                seen_bwd[i * T + j] += fl::attends(i, j, T);
        }
        int64_t bad = 0;
        for (int64_t i = 0; i < T; ++i)
          for (int64_t j = 0; j < T; ++j) {
            const int want = j <= i;
            bad += seen_fwd[i * T + j] != want || seen_bwd[i * T + j] != want;
          }
        CHECK(bad == 0);
        // the first key tile is always visited: every row's running max is finite after it
        for (int64_t qt = 0; qt < n; ++qt)
          CHECK(fl::key_tiles_of_query_tile(qt, T, tile, tile).begin == 0);
      }
    // 16 x 16 threads with strided ownership cover a 64-wide tile once each
    std::vector<int> owners(64, 0);
    for (int lane = 0; lane < fl::kSide; ++lane)
      for (int k = 0; k < 4; ++k) ++owners[fl::owned_index(lane, k)];
    CHECK(std::count(owners.begin(), owners.end(), 1) == 64);
    CHECK(fl::column_chunks(1) == 1);
    CHECK(fl::column_chunks(32) == 2);
    CHECK(fl::column_chunks(64) == 4);
    CHECK(fl::column_chunks(100) == 8);
    CHECK(fl::column_chunks(128) == 8);
    CHECK(fl::column_chunks(129) == 0);
  }

  TEST_CASE("fused attention plan: a float64 replay of the kernels equals the specification") {
    struct Case {
      int64_t B, T, C, H;
      int tile;
    };
    for (const Case& c : std::vector<Case>{
             {2, 11, 12, 2, 4}, {1, 16, 8, 1, 4}, {1, 1, 6, 3, 4}, {2, 37, 24, 3, 8}}) {
      INFO("B " << c.B << " T " << c.T << " C " << c.C << " H " << c.H << " tile " << c.tile);
      const Tensor qkv = input({c.B, c.T, 3 * c.C}, 70 + c.T, -2, 2);
      const Tensor dy = input({c.B, c.T, c.C}, 90 + c.T).detach();
      const Replay r = replay(qkv.to_vector(), dy.to_vector(), c.B, c.T, c.C, c.H, c.tile, c.tile);
      const Tensor y = composed::causal_self_attention(qkv, c.H);
      const TensorList g = autograd::grad({sum(y * dy)}, {qkv});
      CHECK(max_abs_diff(r.y, y.to_vector()) < 1e-12);
      CHECK(max_abs_diff(r.dqkv, g[0].to_vector()) < 1e-12);
      // lse is what the backward needs from the forward: log sum_j exp(scale q_i . k_j)
      const int64_t D = c.C / c.H;
      const auto x = qkv.to_vector();
      double z = 0;  // row T - 1 of head 0, batch 0: it attends every key
      for (int64_t j = 0; j < c.T; ++j) {
        double s = 0;
        for (int64_t d = 0; d < D; ++d) s += x[(c.T - 1) * 3 * c.C + d] * x[j * 3 * c.C + c.C + d];
        z += std::exp(s / std::sqrt((double)D));
      }
      CHECK(r.lse[c.T - 1] == doctest::Approx(std::log(z)).epsilon(1e-12));
    }
  }
}

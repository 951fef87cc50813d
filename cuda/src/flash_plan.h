// The tile schedule of the fused causal attention kernels (flash_attention.cu) in plain C++,
// so the CPU tests check it without a GPU: which key tiles a query tile visits, which query
// tiles a key tile visits, which (query, key) pairs count, and the thread -> element map
// inside a tile. A query tile is rows [qt*BR, qt*BR + BR) of one (batch, head); a key tile
// is keys [kt*BC, kt*BC + BC). Rows and keys past T are padding (zeros in shared memory).
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define NG_HOST_DEVICE __host__ __device__
#else
#define NG_HOST_DEVICE
#endif

namespace ng::cuda::flash {

// 256 threads as a 16 x 16 grid: thread (ty, tx) owns tile rows ty + 16 r and columns
// tx + 16 c. Strided (not blocked) ownership keeps a warp's shared-memory reads on distinct
// banks (rows padded to an odd length) and puts each row's 16 owners in one half-warp, so
// row maxima and sums are half-warp shuffles.
constexpr int kSide = 16;
constexpr int kThreads = kSide * kSide;

NG_HOST_DEVICE inline int owned_index(int lane, int k) { return lane + kSide * k; }

struct TileRange {
  int64_t begin, end;  // tile indices [begin, end)
};

NG_HOST_DEVICE inline int64_t tiles_for(int64_t n, int tile) { return (n + tile - 1) / tile; }

// Query tile qt attends keys 0 .. (its last real row): key tiles 0 .. that row's tile.
NG_HOST_DEVICE inline TileRange key_tiles_of_query_tile(int64_t qt, int64_t T, int BR, int BC) {
  const int64_t last_row = ((qt + 1) * BR < T ? (qt + 1) * BR : T) - 1;
  return {0, last_row / BC + 1};
}

// Key tile kt is attended by rows >= its first key: query tiles from that row's tile on.
NG_HOST_DEVICE inline TileRange query_tiles_of_key_tile(int64_t kt, int64_t T, int BR, int BC) {
  return {kt * BC / BR, tiles_for(T, BR)};
}

// Query i attends key j: both real, j not in i's future.
NG_HOST_DEVICE inline bool attends(int64_t i, int64_t j, int64_t T) { return i < T && j <= i; }

// Head-dimension columns a thread owns, rounded up to a supported kernel instantiation.
inline int column_chunks(int64_t D) {
  const int64_t need = tiles_for(D, kSide);
  return need <= 1 ? 1 : need <= 2 ? 2 : need <= 4 ? 4 : need <= 8 ? 8 : 0;  // 0: D > 128
}

}  // namespace ng::cuda::flash

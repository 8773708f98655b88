// Hopper wgmma forward (gna_wgmma.cu): same Params and plan as the mma.sync kernel.
#pragma once
#include "gna_tc.cuh"

namespace gna {
namespace tc {
constexpr int kWgmmaHeadDim = 128;
// Keys per chunk of the kernel instantiation for these tile volumes: 128 for 128-token Q tiles
// over KV tiles of a multiple of 128 tokens, else 64.
constexpr int wgmmaChunk(int qVolume, int kvVolume) {
  return qVolume == 128 && kvVolume % 128 == 0 ? 128 : 64;
}
// WgmmaMasks' layout (gna_native.h), on the host: the words of one mask, and where within one
// mask the bit of key `key` of the KV tile for Q tile row `row` lies.
inline size_t wgmmaMaskWords(int qVolume, int kvVolume) {
  return (size_t)(kvVolume / wgmmaChunk(qVolume, kvVolume)) * qVolume * 4;
}
struct WgmmaMaskBit {
  size_t word;
  int bit;
};
inline WgmmaMaskBit wgmmaMaskBit(int qVolume, int kvVolume, int row, int key) {
  const int nc = wgmmaChunk(qVolume, kvVolume);
  const int chunk = key / nc, i = key % nc / 8, quad = key % 8 / 2, j = key % 2;
  return {((size_t)chunk * qVolume + row) * 4 + quad, 2 * i + j};
}
// Calls f(entry, g, qOrigin, kvOrigin) for every tile pair of a plan's tables in host memory:
// the entry's index, the dilation group's offsets and the in-group origins of its two tiles.
template <class F>
void forEachTilePair(const TilePlan& t, int rank, const int* dilation, int groups, F&& f) {
  for (int group = 0; group < groups; group++) {
    int g[kMaxRank];
    groupCoords(group, rank, dilation, g);
    for (int qt = 0; qt < t.qTiles; qt++) {
      int qOrigin[kMaxRank];
      tileOrigin(qt, t.qTilesPerDim, t.qTile, rank, qOrigin);
      const int row = group * t.qTiles + qt;
      for (int e = t.tileRanges[row]; e < t.tileRanges[row + 1]; e++) {
        int kvOrigin[kMaxRank];
        tileOrigin(t.entries[e] & 0x7fffffff, t.kvTilesPerDim, t.kvTile, rank, kvOrigin);
        f(e, g, qOrigin, kvOrigin);
      }
    }
  }
}
// Whether this process's device runs the sm_90a kernel (compute capability 9.0).
bool wgmmaAvailable();
// bf16 operands, head dim 128, 64- or 128-token Q tiles, KV tiles of 64 to 512 tokens in steps
// of 64.
bool wgmmaSupports(Elem elem, int headDim, int qVolume, int kvVolume);
// persistent: a grid of the CTAs resident at once, each looping over work items; else one CTA
// per (Q tile, head, batch*group).
Status launchWgmmaBf16(const Params& p, int qVolume, bool persistent);
}  // namespace tc
}  // namespace gna

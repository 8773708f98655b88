// Host check of the guard-bit window test (gna_tc.cuh: tileWindow, sees) against the per-axis
// test it replaces (inWindows), over random windows, tiles and keys of rank 1-3, tile extents up
// to kGuardBit included. Prints "<checks> checks, <mismatches> mismatches". Built and run by
// guard_mask.test.ts with nvcc; no GPU needed.
#include <cstdio>
#include <random>
#include "../../native/src/gna_tc.cuh"

using gna::kMaxRank;
using namespace gna::tc;

int main() {
  std::mt19937 rng(7);
  auto below = [&](int n) { return (int)(rng() % (unsigned)n); };
  long long checks = 0, mismatches = 0;
  for (int trial = 0; trial < 100000; trial++) {
    const int rank = 1 + trial % kMaxRank;
    int shape[kMaxRank] = {1, 1, 1}, origin[kMaxRank] = {0, 0, 0};
    int2 w[kMaxRank];
    for (int a = 0; a < kMaxRank; a++) {
      // Every fourth trial uses extents up to kGuardBit, the others small tiles.
      shape[a] = a < rank ? 1 + below(trial % 4 == 0 ? kGuardBit : 20) : 1;
      origin[a] = a < rank ? below(600) : 0;
      // Windows before, across, inside and after the tile.
      w[a] = a < rank ? make_int2(below(1400) - 200, 1 + below(600)) : make_int2(0, 1);
    }
    const TileWindow t = tileWindow(w, origin, shape, rank);
    for (int k = 0; k < 64; k++) {
      int u[kMaxRank] = {0, 0, 0};
      uint32_t packed = 0;
      for (int a = 0; a < rank; a++) {
        // Tile corners as often as random positions.
        const int x = k % 4 == 0 ? 0 : k % 4 == 1 ? shape[a] - 1 : below(shape[a]);
        packed |= (uint32_t)x << (kCoordBits * a);
        u[a] = origin[a] + x;
      }
      checks++;
      if (inWindows(u, w, rank) != sees(t, packed)) mismatches++;
    }
  }
  std::printf("%lld checks, %lld mismatches\n", checks, mismatches);
  return mismatches == 0 ? 0 : 1;
}

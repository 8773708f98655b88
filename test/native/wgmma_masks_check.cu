// Host check of buildWgmmaMasks (native/src/gna_wgmma_masks.cu) on plans that gna_plan.ts built:
// every bit of every masked tile pair against the per-axis window test on the plan's window table
// (start <= key < end on each axis), and a mask index of -1 exactly where the plan entry has no
// fine-mask bit. Reads the plan from the file named by argv[1], whitespace-separated integers
// written by wgmma_masks.test.ts; prints "<checks> checks, <mismatches> mismatches, <masks> masks".
#include <cstdio>
#include <fstream>
#include <vector>
#include "gna_wgmma.h"

using namespace gna;

static std::vector<int> readInts(std::ifstream& in, size_t n) {
  std::vector<int> v(n);
  for (auto& x : v) in >> x;
  return v;
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  std::ifstream in(argv[1]);
  int rank, groups;
  size_t windowCount, rangeCount, entryCount;
  WindowTables w{};
  TilePlan t{};
  int dilation[kMaxRank];
  in >> rank >> groups >> t.qVolume >> t.kvVolume >> t.qTiles;
  for (int a = 0; a < kMaxRank; a++) {
    in >> dilation[a] >> w.extent[a] >> w.offset[a] >> t.qTile[a] >> t.kvTile[a] >>
        t.qTilesPerDim[a] >> t.kvTilesPerDim[a];
  }
  in >> windowCount;
  const std::vector<int> windows = readInts(in, windowCount);
  in >> rangeCount;
  const std::vector<int> ranges = readInts(in, rangeCount);
  in >> entryCount;
  const std::vector<int> entries = readInts(in, entryCount);
  const std::vector<int> qOffsets = readInts(in, t.qVolume);
  const std::vector<int> kvOffsets = readInts(in, t.kvVolume);
  if (!in) return 3;
  w.device = windows.data();
  t.tileRanges = ranges.data();
  t.entries = entries.data();
  t.qOffsets = qOffsets.data();
  t.kvOffsets = kvOffsets.data();

  const WgmmaMasks m = buildWgmmaMasks(w, t, rank, dilation, groups, entryCount);
  const int nc = tc::wgmmaChunk(t.qVolume, t.kvVolume), chunks = t.kvVolume / nc;
  long long checks = 0, mismatches = 0;
  for (int group = 0; group < groups; group++) {
    int g[kMaxRank];
    tc::groupCoords(group, rank, dilation, g);
    for (int qt = 0; qt < t.qTiles; qt++) {
      int qOrigin[kMaxRank];
      tc::tileOrigin(qt, t.qTilesPerDim, t.qTile, rank, qOrigin);
      const int row = group * t.qTiles + qt;
      for (int e = ranges[row]; e < ranges[row + 1]; e++) {
        checks++;
        if (entries[e] >= 0 || m.index[e] < 0) {
          mismatches += (entries[e] >= 0) != (m.index[e] < 0);
          continue;
        }
        int kvOrigin[kMaxRank];
        tc::tileOrigin(entries[e] & 0x7fffffff, t.kvTilesPerDim, t.kvTile, rank, kvOrigin);
        for (int r = 0; r < t.qVolume; r++) {
          for (int key = 0; key < t.kvVolume; key++) {
            bool see = true;
            for (int a = 0; a < rank; a++) {
              const int u = qOrigin[a] + tc::unpackCoord(qOffsets[r], a);
              const int k = kvOrigin[a] + tc::unpackCoord(kvOffsets[key], a);
              const int* win = windows.data() + 4 * (w.offset[a] + g[a] * w.extent[a] + u);
              see = see && win[0] <= k && k < win[1];
            }
            const int chunk = key / nc, i = key % nc / 8, quad = key % 8 / 2, j = key % 2;
            const uint32_t word =
                m.words[(((size_t)m.index[e] * chunks + chunk) * t.qVolume + r) * 4 + quad];
            checks++;
            mismatches += ((word >> (2 * i + j) & 1u) != 0) != see;
          }
        }
      }
    }
  }
  std::printf("%lld checks, %lld mismatches, %d masks\n", checks, mismatches, m.count);
  return 0;
}

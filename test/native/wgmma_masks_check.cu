// Host check of buildWgmmaMasks (native/src/gna_wgmma_masks.cu) on plans that gna_plan.ts built:
// every bit of every masked tile pair against the per-axis window test (gna_tc.cuh: inWindows,
// which guard_mask_check.cu holds the builder's guard-bit test to) on the plan's window table, and
// a mask index of -1 exactly where the plan entry has no fine-mask bit. Reads the plan from the
// file named by argv[1], whitespace-separated integers written by wgmma_masks.test.ts; prints
// "<checks> checks, <mismatches> mismatches, <masks> masks".
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
  const size_t maskWords = tc::wgmmaMaskWords(t.qVolume, t.kvVolume);
  std::vector<int2> rowWin((size_t)t.qVolume * kMaxRank);
  long long checks = 0, mismatches = 0;
  tc::forEachTilePair(t, rank, dilation, groups, [&](int e, const int* g, const int* qOrigin,
                                                     const int* kvOrigin) {
    checks++;
    if (entries[e] >= 0 || m.index[e] < 0) {
      mismatches += (entries[e] >= 0) != (m.index[e] < 0);
      return;
    }
    tc::rowWindows(reinterpret_cast<const int4*>(w.device), w.offset, w.extent, rank, g, qOrigin,
                   qOffsets.data(), t.qVolume, 0, 1, rowWin.data());
    for (int r = 0; r < t.qVolume; r++) {
      for (int k = 0; k < t.kvVolume; k++) {
        int u[kMaxRank];
        tc::tileCoords(kvOrigin, kvOffsets[k], u);
        const bool see = tc::inWindows(u, rowWin.data() + r * kMaxRank, rank);
        const tc::WgmmaMaskBit b = tc::wgmmaMaskBit(t.qVolume, t.kvVolume, r, k);
        checks++;
        mismatches += ((m.words[m.index[e] * maskWords + b.word] >> b.bit & 1u) != 0) != see;
      }
    }
  });
  std::printf("%lld checks, %lld mismatches, %d masks\n", checks, mismatches, m.count);
  return 0;
}

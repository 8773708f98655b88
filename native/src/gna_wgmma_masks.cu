// Host side: the wgmma kernel's fine mask, precomputed per distinct partial tile pair (see
// WgmmaMasks in gna_native.h). Dedup is exact and cheap: a pair's mask is a function of its
// per-axis patterns (each row coordinate's window on that axis clipped to the KV tile), so the
// patterns are interned per axis and a mask per tuple of pattern ids; only distinct tuples are
// evaluated, key by key, with the kernels' own window test.
#include <array>
#include <map>
#include <unordered_map>
#include "gna_wgmma.h"

namespace gna {

namespace {

using tc::TileWindow;

// Interned per-axis window patterns of one plan: pattern id per (dilation offset, Q tile origin,
// KV tile origin) on each axis.
class AxisPatterns {
 public:
  AxisPatterns(const WindowTables& w, const TilePlan& t) : w_(w), t_(t) {}

  int id(int a, int g, int qOrigin, int kvOrigin) {
    const uint64_t e = (uint64_t)w_.extent[a];
    const uint64_t key = ((uint64_t)g * e + (uint64_t)qOrigin) * e + (uint64_t)kvOrigin;
    auto hit = memo_[a].find(key);
    if (hit != memo_[a].end()) return hit->second;
    // The axis' field of tileWindow for every row coordinate of the Q tile.
    std::vector<uint32_t> pattern;
    const int4* win = reinterpret_cast<const int4*>(w_.device);
    for (int c = 0; c < t_.qTile[a]; c++) {
      const int4 x = win[w_.offset[a] + g * w_.extent[a] + qOrigin + c];
      const int2 row = make_int2(x.x, x.y - x.x);
      const TileWindow tw = tc::tileWindow(&row, &kvOrigin, &t_.kvTile[a], 1);
      pattern.push_back(tw.lo);
      pattern.push_back(tw.hi);
    }
    const int id = patterns_[a].emplace(std::move(pattern), (int)patterns_[a].size()).first->second;
    memo_[a].emplace(key, id);
    return id;
  }

 private:
  const WindowTables& w_;
  const TilePlan& t_;
  std::unordered_map<uint64_t, int> memo_[kMaxRank];
  std::map<std::vector<uint32_t>, int> patterns_[kMaxRank];
};

}  // namespace

WgmmaMasks buildWgmmaMasks(const WindowTables& w, const TilePlan& t, int rank,
                           const int* dilation, int groups, size_t entryCount) {
  const int rows = t.qVolume, nc = tc::wgmmaChunk(t.qVolume, t.kvVolume);
  const int chunks = t.kvVolume / nc;
  const size_t maskWords = (size_t)chunks * rows * 4;
  WgmmaMasks m;
  m.index.assign(entryCount, -1);
  AxisPatterns patterns(w, t);
  std::map<std::array<int, kMaxRank>, int> ids;  // pattern id per axis -> mask
  std::vector<int2> rowWin((size_t)rows * kMaxRank);
  for (int group = 0; group < groups; group++) {
    int g[kMaxRank];
    tc::groupCoords(group, rank, dilation, g);
    for (int qt = 0; qt < t.qTiles; qt++) {
      int qOrigin[kMaxRank];
      tc::tileOrigin(qt, t.qTilesPerDim, t.qTile, rank, qOrigin);
      const int row = group * t.qTiles + qt;
      for (int e = t.tileRanges[row]; e < t.tileRanges[row + 1]; e++) {
        if (t.entries[e] >= 0) continue;
        int kvOrigin[kMaxRank];
        tc::tileOrigin(t.entries[e] & 0x7fffffff, t.kvTilesPerDim, t.kvTile, rank, kvOrigin);
        std::array<int, kMaxRank> key{};
        for (int a = 0; a < rank; a++) key[a] = patterns.id(a, g[a], qOrigin[a], kvOrigin[a]);
        const auto [it, fresh] = ids.emplace(key, m.count);
        m.index[e] = it->second;
        if (!fresh) continue;
        // A new mask: every row's windows clipped to the KV tile, every key tested.
        m.count++;
        m.words.resize(m.words.size() + maskWords, 0u);
        uint32_t* words = m.words.data() + m.words.size() - maskWords;
        tc::rowWindows(reinterpret_cast<const int4*>(w.device), w.offset, w.extent, rank, g,
                       qOrigin, t.qOffsets, rows, 0, 1, rowWin.data());
        for (int r = 0; r < rows; r++) {
          const TileWindow tw = tc::tileWindow(rowWin.data() + r * kMaxRank, kvOrigin, t.kvTile,
                                               rank);
          for (int key = 0; key < t.kvVolume; key++) {
            if (!tc::sees(tw, (uint32_t)t.kvOffsets[key])) continue;
            const int chunk = key / nc, i = key % nc / 8, quad = key % 8 / 2, j = key % 2;
            words[((size_t)chunk * rows + r) * 4 + quad] |= 1u << (2 * i + j);
          }
        }
      }
    }
  }
  return m;
}

}  // namespace gna

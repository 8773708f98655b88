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
    const int4* windows = reinterpret_cast<const int4*>(w_.device);
    for (int c = 0; c < t_.qTile[a]; c++) {
      const int2 row = tc::windowAt(windows, w_.offset, w_.extent, a, g, qOrigin + c);
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
  const int rows = t.qVolume;
  const size_t maskWords = tc::wgmmaMaskWords(t.qVolume, t.kvVolume);
  WgmmaMasks m;
  m.index.assign(entryCount, -1);
  AxisPatterns patterns(w, t);
  std::map<std::array<int, kMaxRank>, int> ids;  // pattern id per axis -> mask
  std::vector<int2> rowWin((size_t)rows * kMaxRank);
  tc::forEachTilePair(t, rank, dilation, groups, [&](int e, const int* g, const int* qOrigin,
                                                     const int* kvOrigin) {
    if (t.entries[e] >= 0) return;
    std::array<int, kMaxRank> key{};
    for (int a = 0; a < rank; a++) key[a] = patterns.id(a, g[a], qOrigin[a], kvOrigin[a]);
    const auto [it, fresh] = ids.emplace(key, m.count);
    m.index[e] = it->second;
    if (!fresh) return;
    // A new mask: every row's windows clipped to the KV tile, every key tested.
    m.count++;
    m.words.resize(m.words.size() + maskWords, 0u);
    uint32_t* words = m.words.data() + m.words.size() - maskWords;
    tc::rowWindows(reinterpret_cast<const int4*>(w.device), w.offset, w.extent, rank, g, qOrigin,
                   t.qOffsets, rows, 0, 1, rowWin.data());
    for (int r = 0; r < rows; r++) {
      const TileWindow tw = tc::tileWindow(rowWin.data() + r * kMaxRank, kvOrigin, t.kvTile, rank);
      for (int k = 0; k < t.kvVolume; k++) {
        if (!tc::sees(tw, (uint32_t)t.kvOffsets[k])) continue;
        const tc::WgmmaMaskBit b = tc::wgmmaMaskBit(t.qVolume, t.kvVolume, r, k);
        words[b.word] |= 1u << b.bit;
      }
    }
  });
  return m;
}

}  // namespace gna

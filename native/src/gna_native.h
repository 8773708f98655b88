// Plain C++ interface between the N-API layer (addon.cc) and the CUDA translation units. No
// N-API types cross it: launchers return a Status, and addon.cc turns a failure into a JS error.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace gna {

struct Status {
  bool ok = true;
  std::string message;
  static Status Ok() { return {}; }
  static Status Fail(std::string m) { return {false, std::move(m)}; }
};

// Element type of a device tensor the kernels read: float32 I/O, half-precision copies for the
// tensor-core path (spec: float32 I/O, compute precision an option).
enum class Elem : int { F32 = 0, F16 = 1, BF16 = 2 };

constexpr int kMaxRank = 3;

// One token-permute layout (spec §4): `[B, ...L, C]` <-> `[B*G, seq, C]`, row-major lin().
struct PermuteGeometry {
  int rank;
  int spatial[kMaxRank];     // L_i
  int tile[kMaxRank];        // T_i
  int dilation[kMaxRank];    // D_i
  int tilesPerDim[kMaxRank]; // R_i = ceil(L_i / (T_i D_i))
  int groups;                // G = prod D_i
  long long seq;             // prod R_i T_i
  long long tokens;          // prod L_i
  int tileVolume;            // prod T_i
};

// x `[batch, tokens, width]` f32 -> y `[batch*G, seq, width]` (f32/f16/bf16), zeros in padding.
Status launchTokenPermute(const PermuteGeometry& g, int batch, long long width, const float* x,
                          void* y, Elem outElem);
// y `[batch*G, seq, width]` f32 -> x `[batch, tokens, width]` f32.
Status launchTokenUnpermute(const PermuteGeometry& g, int batch, long long width, const float* y,
                            float* x);

// Per-axis window tables of one problem, built on the host from src/window.ts: for axis a,
// dilation group g and in-group position u < extent[a], entry (a, g, u) holds
// {windowStart, windowEnd, inverseStart, inverseEnd} (int4) at windowOffset[a] + g*extent[a] + u.
struct WindowTables {
  const int* device;  // int4 entries
  int extent[kMaxRank];
  int offset[kMaxRank];
};

struct GnaShape {
  int rank;
  int batch;
  int spatial[kMaxRank];
  int dilation[kMaxRank];
  int heads, kvHeads, headDim, valueDim;
  float scale;
};

// Float32 kernels on the original (unpermuted) layout: one warp per query row (forward, dq) or
// key row (dk, dv). Exact float32 arithmetic; any head dim up to 256.
Status launchGnaForwardF32(const GnaShape& s, const WindowTables& w, const float* q,
                           const float* k, const float* v, float* out, float* lse);
Status launchGnaBackwardF32(const GnaShape& s, const WindowTables& w, const float* q,
                            const float* k, const float* v, const float* out, const float* lse,
                            const float* dOut, const float* dLse, float* delta, float* dq,
                            float* dk, float* dv);

// Tensor-core forward over token-permuted tiles (spec §5): each CTA owns one Q tile of one
// (batch*group, head) and walks the KV tiles its table entry lists; entries with the mask bit get
// the fine GNA mask, the rest run unmasked. Q/K/V come permuted; output and LSE are written to
// the original layout directly (no unpermute pass).
struct TilePlan {
  const int* tileRanges;  // [groups * qTiles + 1] offsets into entries
  const int* entries;     // kvTile | (needsMask << 31)
  const int* inverseRanges;   // [groups * kvTiles + 1]: the Q tiles visiting each KV tile
  const int* inverseEntries;  // qTile | (needsMask << 31)
  const int* qOffsets;    // [qTileVolume] packed in-tile coordinates (10 bits per axis)
  const int* kvOffsets;   // [kvTileVolume]
  int qTile[kMaxRank], kvTile[kMaxRank];
  int qTilesPerDim[kMaxRank], kvTilesPerDim[kMaxRank];
  int qTiles, kvTiles;    // tiles per dilation group
  int qVolume, kvVolume;
  long long qSeq, kvSeq;  // permuted tokens per group
  // The wgmma kernel's fine mask (WgmmaMasks below), built where the plan's tile volumes suit
  // it on an sm_90 device (wgmmaMasks).
  bool wgmmaMasks;
  const uint32_t* masks;
  const int* maskIndex;
};

// The wgmma kernel's fine mask, precomputed from the plan: a partial tile pair's mask depends on
// the rows' windows clipped to the KV tile, which repeat across pairs (the same offset between
// the tiles, the same clamping at a border), so each distinct mask is stored once. Per mask,
// chunk of the KV tile, Q tile row and lane quad (lane % 4), one word whose bit 2i + j says
// whether the row sees key i * 8 + 2 * quad + j of the chunk: the register order of the kernel's
// score fragments, so a thread reads one word per row. `index` maps each plan entry to its mask,
// -1 for entries without the fine-mask bit.
struct WgmmaMasks {
  std::vector<uint32_t> words;
  std::vector<int> index;
  int count = 0;  // distinct masks
};
// Builds the masks of the pairs `plan` lists, from host copies of its tables (`windows` and
// `plan` hold host pointers, same layouts as on the device; `entryCount` entries, `groups`
// dilation groups). The same window functions (gna_tc.cuh: rowWindows, tileWindow, sees) as the
// kernels' on-device fine mask.
WgmmaMasks buildWgmmaMasks(const WindowTables& windows, const TilePlan& plan, int rank,
                           const int* dilation, int groups, size_t entryCount);

// Which tensor-core kernel runs: Mma = mma.sync (sm_80+), Wgmma = the Hopper warpgroup kernel
// (sm_90 only; bf16, head dim 128, 64- or 128-token Q tiles), Auto = Wgmma where it applies, else Mma.
enum class TcKernel : int { Auto = 0, Mma = 1, Wgmma = 2 };
// Schedule of the wgmma kernel's two consumer warpgroups (128-token Q tiles; NATTEN's
// kernel_schedule): Pingpong = they take turns issuing matrix products, Cooperative = both issue
// freely.
enum class WgmmaSchedule : int { Pingpong = 0, Cooperative = 1 };
struct WgmmaConfig {
  WgmmaSchedule schedule = WgmmaSchedule::Cooperative;
  bool persistent = false;  // CTAs resident at once, looping over (Q tile, head, batch) items
  bool qNatural = false;    // q is float32 in the original layout, cast and tiled by the kernel
  // K/V cast fused into the kernel (128-token Q tiles, with qNatural): float32 K/V in the original
  // layout, which the CTAs cast into the permuted k/v buffers as the work items come to need them;
  // castState: kvCastStateInts(...) int32s of scratch, initialised by the launch.
  const float* kNatural = nullptr;
  const float* vNatural = nullptr;
  int* castState = nullptr;
};
// Scratch of the fused K/V cast: a claim counter, then one count of cast slices per unit
// (batch*group, KV head).
inline long long kvCastStateInts(long long batchGroups, int kvHeads) {
  return 1 + batchGroups * kvHeads;
}
// Whether the wgmma kernel serves this element type, head dim and tile volumes on this device.
bool wgmmaApplies(Elem elem, int headDim, int qVolume, int kvVolume);

// Elem::F16/BF16 inputs run mma m16n8k16; Elem::F32 inputs run the tf32 kernel (m16n8k8).
// rowsPerWarp: 16 (one m16 tile per warp, Q fragments in registers) or 32 (two, sharing each K/V
// fragment; only for 128-token Q tiles of the half-precision kernel).
Status launchGnaForwardTensorCore(const GnaShape& s, const WindowTables& w, const TilePlan& p,
                                  Elem elem, int rowsPerWarp, TcKernel kernel,
                                  const WgmmaConfig& wgmma, const void* q, const void* k,
                                  const void* v, float* out, float* lse);
// Backward over the same permuted layouts and plan (F16/BF16 operands, float32 gradients):
// `delta` = rowsum(dO ∘ O) − dLse and `lse` in the Q tiling, float32; see gna_tc_bwd.cuh.
Status launchGnaBackwardTensorCore(const GnaShape& s, const WindowTables& w, const TilePlan& p,
                                   Elem elem, const void* q, const void* k, const void* v,
                                   const void* dOut, const float* lse, const float* delta,
                                   float* dq, float* dk, float* dv);
// delta[r] = sum_e out[r, e] dOut[r, e] − dLse[r] over `rows` rows of `valueDim` floats.
Status launchGnaBackwardDelta(long long rows, int valueDim, const float* out, const float* dOut,
                              const float* dLse, float* delta);
// Whether the tensor-core path has an instantiation for this head dim / tile volume.
bool tensorCoreSupports(int headDim, int valueDim, int qVolume, int kvVolume);

}  // namespace gna

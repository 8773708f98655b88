// Tensor-core GNA forward over token-permuted tensors (spec §5), mma.sync m16n8k16 with float32
// accumulation (sm_80 and later). One CTA owns one Q tile (BQ permuted tokens, 16 rows per warp)
// of one (batch*dilation group, head); it walks exactly the KV tiles listed for that Q tile in the
// host-built plan (kvTileRange boxes classified with classifyTilePair, src/window.ts), in chunks of
// 64 keys, double-buffered with cp.async. Chunks of tiles flagged dense run unmasked; flagged
// tiles apply the fine GNA mask from the host window tables. Softmax is online, in base 2.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cstdint>
#include "cuda_util.h"
#include "gna_native.h"

namespace gna {
namespace tc {

constexpr int kChunk = 64;       // keys per pipeline step
constexpr int kCoordBits = 10;   // packed in-tile coordinates: 10 bits per axis

struct Params {
  const void* q;
  const void* k;
  const void* v;
  float* out;  // [batch, tokens, heads, D], the original layout
  float* lse;  // [batch, tokens, heads]
  int heads, kvHeads, groups, rank;
  int spatial[kMaxRank];
  long long tokens;
  long long qSeq, kvSeq;
  float scaleLog2;
  const int* tileRanges;
  const int* entries;
  const int* qOffsets;
  const int* kvOffsets;
  const int4* windows;
  int extent[kMaxRank], offset[kMaxRank], dilation[kMaxRank];
  int qTile[kMaxRank], kvTile[kMaxRank], qTilesPerDim[kMaxRank], kvTilesPerDim[kMaxRank];
  int qTiles, kvVolume;
  int batchGroups;  // batch x dilation groups
  bool pingpong;  // wgmma kernel, 128-token Q tiles: pingpong schedule (else cooperative)
  bool qNatural;  // wgmma kernel: q is float32 in the original layout (else permuted, T)
  int resident;   // wgmma kernel: CTAs resident at once (the Q prefetch distance, in items)
  const uint32_t* masks;  // wgmma kernel: the plan's WgmmaMasks
  const int* maskIndex;
  // wgmma kernel, 128-token Q tiles: K/V cast fused (WgmmaConfig::kNatural; null: k and v are
  // permuted already). The CTAs cast float32 K/V into k/v, claiming slices with castState.
  const float* kNatural;
  const float* vNatural;
  int* castState;
};

// The fields the forward and backward parameter blocks (Params, BwdParams) share, from the
// problem, its window tables and its tile plan.
template <class P>
inline void fillTiling(P& p, const GnaShape& s, const WindowTables& w, const TilePlan& plan,
                       int groups) {
  p.heads = s.heads; p.kvHeads = s.kvHeads; p.groups = groups; p.rank = s.rank;
  p.qSeq = plan.qSeq; p.kvSeq = plan.kvSeq;
  p.scaleLog2 = s.scale * 1.4426950408889634f;
  p.tileRanges = plan.tileRanges; p.entries = plan.entries;
  p.qOffsets = plan.qOffsets; p.kvOffsets = plan.kvOffsets;
  p.windows = reinterpret_cast<const int4*>(w.device);
  for (int a = 0; a < kMaxRank; a++) {
    p.extent[a] = w.extent[a]; p.offset[a] = w.offset[a];
    p.dilation[a] = a < s.rank ? s.dilation[a] : 1;
    p.qTile[a] = plan.qTile[a]; p.kvTile[a] = plan.kvTile[a];
    p.qTilesPerDim[a] = plan.qTilesPerDim[a]; p.kvTilesPerDim[a] = plan.kvTilesPerDim[a];
  }
  p.qTiles = plan.qTiles;
  p.kvVolume = plan.kvVolume;
}

template <typename T> struct Mma;
template <> struct Mma<__nv_bfloat16> {
  static __device__ inline void run(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
  static __device__ inline uint32_t pack(float x, float y) {
    __nv_bfloat162 h = __floats2bfloat162_rn(x, y);
    return *reinterpret_cast<uint32_t*>(&h);
  }
};
template <> struct Mma<__half> {
  static __device__ inline void run(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
  static __device__ inline uint32_t pack(float x, float y) {
    __half2 h = __floats2half2_rn(x, y);
    return *reinterpret_cast<uint32_t*>(&h);
  }
};

__device__ inline uint32_t smemAddr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ inline void cpAsync16(void* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smemAddr(dst)), "l"(src));
}
__device__ inline void cpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ inline void cpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
__device__ inline void ldmatrix4(uint32_t* r, const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smemAddr(p)));
}
__device__ inline void ldmatrix4Trans(uint32_t* r, const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smemAddr(p)));
}

// Element offset of 16-byte chunk `c` of row `r` in a [rows][D] tile, XOR-swizzled so that the 8
// rows one ldmatrix phase reads fall in 8 different bank groups.
template <int D> __device__ inline int swizzled(int r, int c) {
  constexpr int chunks = D / 8;
  const int x = chunks >= 8 ? (r & 7) : ((r >> 1) & (chunks - 1));
  return r * D + ((c ^ x) * 8);
}

// Copies `rows` rows of D elements (global row stride `stride` elements) into a swizzled tile.
template <typename T, int D, int THREADS>
__device__ inline void loadTile(T* dst, const T* src, long long stride, int rows) {
  constexpr int chunks = D / 8;
  for (int i = threadIdx.x; i < rows * chunks; i += THREADS) {
    const int r = i / chunks, c = i % chunks;
    cpAsync16(dst + swizzled<D>(r, c), src + r * stride + c * 8);
  }
}

// Zeroes N m16n8 accumulator fragments.
template <int N> __device__ inline void zero(float (*x)[4]) {
#pragma unroll
  for (int i = 0; i < N; i++) x[i][0] = x[i][1] = x[i][2] = x[i][3] = 0.f;
}

// In-group coordinates of tile `tile` (row-major over tilesPerDim) times the tile shape.
__host__ __device__ inline void tileOrigin(int tile, const int* tilesPerDim, const int* shape,
                                           int rank, int* origin) {
#pragma unroll
  for (int a = kMaxRank - 1; a >= 0; a--) {
    if (a >= rank) { origin[a] = 0; continue; }
    origin[a] = (tile % tilesPerDim[a]) * shape[a];
    tile /= tilesPerDim[a];
  }
}

__host__ __device__ inline int unpackCoord(int packed, int a) {
  return (packed >> (kCoordBits * a)) & ((1 << kCoordBits) - 1);
}

// In-group coordinates of a tile position: the tile's origin plus its packed in-tile offset.
__host__ __device__ inline void tileCoords(const int* origin, int packed, int* u) {
#pragma unroll
  for (int a = 0; a < kMaxRank; a++) u[a] = origin[a] + unpackCoord(packed, a);
}

// The KV walk of one Q tile of folded group `group`: its plan entries from `first` on, in
// `total` chunks of C keys (`chunksPerTile` per KV tile; kChunk for the mma.sync kernels, the
// wgmma kernel's chunk size for it).
template <int C = kChunk> struct KvWalk {
  int first, chunksPerTile, total;
  // The plan entry (KV tile, high bit set where the fine mask applies) that chunk `it` is in.
  template <class P> __device__ int entry(const P& p, int it) const {
    return p.entries[first + it / chunksPerTile];
  }
  // Permuted KV row, within its batch*group, of the first key of chunk `it`.
  template <class P> __device__ long long key(const P& p, int it) const {
    const int tile = entry(p, it) & 0x7fffffff;
    return (long long)tile * p.kvVolume + (it % chunksPerTile) * C;
  }
};

template <int C = kChunk, class P>
__device__ inline KvWalk<C> kvWalk(const P& p, int group, int qTile) {
  KvWalk<C> w;
  w.first = p.tileRanges[group * p.qTiles + qTile];
  w.chunksPerTile = p.kvVolume / C;
  w.total = (p.tileRanges[group * p.qTiles + qTile + 1] - w.first) * w.chunksPerTile;
  return w;
}

// One step of a double-buffered chunk walk: starts loading chunk it + 1 (if any) into the other
// buffer through `load(chunk, buffer)` (cp.async), then waits for chunk it and makes it visible
// to the whole CTA.
template <typename Load>
__device__ inline void awaitChunk(int it, int total, Load&& load) {
  if (it + 1 < total) {
    load(it + 1, (it & 1) ^ 1);
    cpAsyncCommit();
    cpAsyncWait<1>();
  } else {
    cpAsyncWait<0>();
  }
  __syncthreads();
}

// Dilation offsets of folded group `group`, row-major over the dilation (spec §4).
__host__ __device__ inline void groupCoords(int group, int rank, const int* dilation, int* g) {
#pragma unroll
  for (int a = kMaxRank - 1; a >= 0; a--) {
    g[a] = a < rank ? group % dilation[a] : 0;
    if (a < rank) group /= dilation[a];
  }
}

// {window start, window length} on axis `a` of in-group position `u` in dilation group offset
// `g`, from the host window tables (int4 {windowStart, windowEnd, inverseStart, inverseEnd}).
__host__ __device__ inline int2 windowAt(const int4* windows, const int* offset, const int* extent,
                                         int a, int g, int u) {
  const int4 e = windows[offset[a] + g * extent[a] + u];
  return make_int2(e.x, e.y - e.x);
}

// {window start, window length} per axis of `rows` query positions of one tile (packed in-tile
// coordinates `packed`, tile origin `origin`, dilation group offsets `g`), read from the host
// window tables into sWin[row * kMaxRank + axis]: the fine mask's operand. Threads `first`,
// `first + step`, ... of the caller's thread set take one row each.
__host__ __device__ inline void rowWindows(const int4* windows, const int* offset,
                                           const int* extent, int rank, const int* g,
                                           const int* origin, const int* packed, int rows,
                                           int first, int step, int2* sWin) {
  for (int r = first; r < rows; r += step) {
    const int pr = packed[r];
#pragma unroll
    for (int a = 0; a < kMaxRank; a++) {
      sWin[r * kMaxRank + a] =
          a < rank ? windowAt(windows, offset, extent, a, g[a], origin[a] + unpackCoord(pr, a))
                   : make_int2(0, 1);
    }
  }
}

// Row `batch * tokens + token` of the original layout holding the tile position `packed` (in-tile
// coordinates) of tile `tile` of a tiling (tiles per axis, tile shape) of folded batch*group `bg`
// (dilation offsets `g`), or -1 where the position is tile padding.
__device__ inline long long naturalRowOf(const Params& p, int bg, int tile, int packed,
                                         const int* tilesPerDim, const int* shape, const int* g) {
  int origin[kMaxRank];
  tileOrigin(tile, tilesPerDim, shape, p.rank, origin);
  long long token = 0;
#pragma unroll
  for (int a = 0; a < kMaxRank; a++) {
    if (a >= p.rank) continue;
    const int x = (origin[a] + unpackCoord(packed, a)) * p.dilation[a] + g[a];
    if (x >= p.spatial[a]) return -1;
    token = token * p.spatial[a] + x;
  }
  return (long long)(bg / p.groups) * p.tokens + token;
}

// The original-layout row of in-tile row `r` of Q tile `tile`: the kernels write output and LSE
// straight to the original layout, so no unpermute pass follows.
__device__ inline long long naturalRow(const Params& p, int bg, int tile, int r, const int* g) {
  return naturalRowOf(p, bg, tile, p.qOffsets[r], p.qTilesPerDim, p.qTile, g);
}

// The original-layout row of KV-permuted row `s` (within its group's kvSeq rows).
__device__ inline long long naturalKvRow(const Params& p, int bg, int s, const int* g) {
  const int tile = s / p.kvVolume;
  return naturalRowOf(p, bg, tile, p.kvOffsets[s - tile * p.kvVolume], p.kvTilesPerDim, p.kvTile,
                      g);
}

// Whether in-group key coordinates `u` fall in the windows `w` (kMaxRank entries) on every axis.
__host__ __device__ inline bool inWindows(const int* u, const int2* w, int rank) {
  bool see = true;
#pragma unroll
  for (int a = 0; a < kMaxRank; a++) {
    if (a < rank) see = see && (unsigned)(u[a] - w[a].x) < (unsigned)w[a].y;
  }
  return see;
}

// One query row's window relative to one KV tile, for the guard-bit test `sees`: the packed
// in-tile coordinates (kCoordBits per axis) of the first (lo) and last (hi) visible key per axis.
// Valid for tile extents up to kGuardBit (coordinates below it, so each field's top bit is free).
struct TileWindow {
  uint32_t lo, hi;
};
constexpr int kGuardBit = 1 << (kCoordBits - 1);
constexpr uint32_t kGuards =
    (uint32_t)kGuardBit * (1u | (1u << kCoordBits) | (1u << 2 * kCoordBits));

// The row's windows `w` (kMaxRank {start, length} entries, in-group coordinates) clipped to the KV
// tile at `origin` with extents `shape`; an axis with nothing visible gets lo = kGuardBit > hi.
__host__ __device__ inline TileWindow tileWindow(const int2* w, const int* origin, const int* shape,
                                                 int rank) {
  TileWindow t{0u, 0u};
#pragma unroll
  for (int a = 0; a < kMaxRank; a++) {
    if (a >= rank) continue;  // fields stay 0: the key's coordinate 0 passes
    const int first = w[a].x - origin[a];
    const int lo = first > 0 ? first : 0;
    const int hi = (first + w[a].y < shape[a] ? first + w[a].y : shape[a]) - 1;
    t.lo |= (uint32_t)(hi < lo ? kGuardBit : lo) << (kCoordBits * a);
    t.hi |= (uint32_t)(hi < lo ? 0 : hi) << (kCoordBits * a);
  }
  return t;
}

// Whether the key at packed in-tile coordinates `key` lies in the window on every axis, all axes
// at once: per field, (key | guard) - lo keeps the guard bit iff key >= lo, and (hi | guard) - key
// keeps it iff key <= hi; neither subtraction borrows across fields.
__host__ __device__ inline bool sees(TileWindow t, uint32_t key) {
  return (((key | kGuards) - t.lo) & ((t.hi | kGuards) - key) & kGuards) == kGuards;
}

// MT m16 row tiles per warp: with MT = 2 each K/V fragment read from shared memory feeds two
// MMAs, halving shared-memory traffic per FLOP; Q fragments are then re-read from shared memory
// each chunk instead of pinning D/4 registers. MT = 1 keeps Q in registers.
template <typename T, int D, int BQ, int MT>
__global__ void __launch_bounds__(BQ * 2 / MT, MT) forwardKernel(Params p) {
  constexpr int WARPS = BQ / (16 * MT);
  constexpr int THREADS = WARPS * 32;
  constexpr int NT = kChunk / 8;   // score n-tiles per chunk
  constexpr int DT = D / 8;        // output n-tiles
  constexpr bool kQInRegisters = MT == 1;
  extern __shared__ __align__(128) unsigned char smem[];
  T* sQ = reinterpret_cast<T*>(smem);
  T* sK = sQ + BQ * D;             // two buffers of kChunk x D
  T* sV = sK + 2 * kChunk * D;
  int* sKvOff = reinterpret_cast<int*>(sV + 2 * kChunk * D);
  int2* sWin = reinterpret_cast<int2*>(sKvOff + p.kvVolume);

  const int qTile = blockIdx.x, h = blockIdx.y, bg = blockIdx.z;
  const int group = bg % p.groups;
  const int hk = h / (p.heads / p.kvHeads);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int rowBase = warp * 16 * MT;
  const T* gQ = static_cast<const T*>(p.q) +
                (((long long)bg * p.qSeq + (long long)qTile * BQ) * p.heads + h) * D;
  const T* gK = static_cast<const T*>(p.k) + ((long long)bg * p.kvSeq * p.kvHeads + hk) * D;
  const T* gV = static_cast<const T*>(p.v) + ((long long)bg * p.kvSeq * p.kvHeads + hk) * D;
  const long long qStride = (long long)p.heads * D, kvStride = (long long)p.kvHeads * D;

  const KvWalk<> walk = kvWalk(p, group, qTile);

  auto loadChunk = [&](int it, int buf) {
    const long long key = walk.key(p, it);
    loadTile<T, D, THREADS>(sK + buf * kChunk * D, gK + key * kvStride, kvStride, kChunk);
    loadTile<T, D, THREADS>(sV + buf * kChunk * D, gV + key * kvStride, kvStride, kChunk);
  };

  loadTile<T, D, THREADS>(sQ, gQ, qStride, BQ);
  if (walk.total > 0) loadChunk(0, 0);
  cpAsyncCommit();
  for (int i = threadIdx.x; i < p.kvVolume; i += THREADS) sKvOff[i] = p.kvOffsets[i];

  int g[kMaxRank];
  groupCoords(group, p.rank, p.dilation, g);
  {
    int origin[kMaxRank];
    tileOrigin(qTile, p.qTilesPerDim, p.qTile, p.rank, origin);
    rowWindows(p.windows, p.offset, p.extent, p.rank, g, origin, p.qOffsets, BQ, threadIdx.x,
               THREADS, sWin);
  }

  float o[MT][DT][4];
#pragma unroll
  for (int mt = 0; mt < MT; mt++) zero<DT>(o[mt]);
  float rowMax[MT][2], rowSum[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; mt++) {
    rowMax[mt][0] = rowMax[mt][1] = -INFINITY;
    rowSum[mt][0] = rowSum[mt][1] = 0.f;
  }
  uint32_t qf[kQInRegisters ? D / 16 : 1][4];
  auto qFragment = [&](uint32_t* a, int mt, int kk) {
    const int r = rowBase + mt * 16 + (lane % 8) + ((lane / 8) % 2) * 8;
    ldmatrix4(a, sQ + swizzled<D>(r, kk * 2 + lane / 16));
  };

  for (int it = 0; it < walk.total; it++) {
    const int buf = it & 1;
    awaitChunk(it, walk.total, loadChunk);
    if (kQInRegisters && it == 0) {
#pragma unroll
      for (int kk = 0; kk < (kQInRegisters ? D / 16 : 0); kk++) qFragment(qf[kk], 0, kk);
    }
    const T* cK = sK + buf * kChunk * D;
    const T* cV = sV + buf * kChunk * D;

    float s[MT][NT][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) zero<NT>(s[mt]);
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
      uint32_t a[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; mt++) {
        if constexpr (kQInRegisters) {
#pragma unroll
          for (int j = 0; j < 4; j++) a[mt][j] = qf[kk][j];
        } else {
          qFragment(a[mt], mt, kk);
        }
      }
#pragma unroll
      for (int np = 0; np < NT / 2; np++) {
        uint32_t b[4];
        const int r = np * 16 + (lane % 8) + (lane / 16) * 8;
        ldmatrix4(b, cK + swizzled<D>(r, kk * 2 + (lane / 8) % 2));
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
          Mma<T>::run(s[mt][2 * np], a[mt], b[0], b[1]);
          Mma<T>::run(s[mt][2 * np + 1], a[mt], b[2], b[3]);
        }
      }
    }

    const int entry = walk.entry(p, it);
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
      for (int i = 0; i < NT; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) s[mt][i][j] *= p.scaleLog2;
    if (entry < 0) {  // partial tile (or KV padding): fine mask
      int origin[kMaxRank];
      tileOrigin(entry & 0x7fffffff, p.kvTilesPerDim, p.kvTile, p.rank, origin);
      const int base = (it % walk.chunksPerTile) * kChunk;
#pragma unroll
      for (int i = 0; i < NT; i++) {
#pragma unroll
        for (int j = 0; j < 2; j++) {
          const int packed = sKvOff[base + i * 8 + (lane % 4) * 2 + j];
          int u[kMaxRank];
          tileCoords(origin, packed, u);
#pragma unroll
          for (int mt = 0; mt < MT; mt++) {
#pragma unroll
            for (int rr = 0; rr < 2; rr++) {
              const int2* w = sWin + (rowBase + mt * 16 + lane / 4 + rr * 8) * kMaxRank;
              if (!inWindows(u, w, p.rank)) s[mt][i][2 * rr + j] = -INFINITY;
            }
          }
        }
      }
    }

#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
#pragma unroll
      for (int rr = 0; rr < 2; rr++) {
        float mx = -INFINITY;
#pragma unroll
        for (int i = 0; i < NT; i++) mx = fmaxf(mx, fmaxf(s[mt][i][2 * rr], s[mt][i][2 * rr + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float mNew = fmaxf(rowMax[mt][rr], mx);
        const float mUse = mNew == -INFINITY ? 0.f : mNew;  // rows with nothing visible yet
        const float alpha = exp2f(rowMax[mt][rr] - mUse);
        float sum = 0.f;
#pragma unroll
        for (int i = 0; i < NT; i++) {
          s[mt][i][2 * rr] = exp2f(s[mt][i][2 * rr] - mUse);
          s[mt][i][2 * rr + 1] = exp2f(s[mt][i][2 * rr + 1] - mUse);
          sum += s[mt][i][2 * rr] + s[mt][i][2 * rr + 1];
        }
        rowSum[mt][rr] = rowSum[mt][rr] * alpha + sum;
        rowMax[mt][rr] = mNew;
#pragma unroll
        for (int i = 0; i < DT; i++) {
          o[mt][i][2 * rr] *= alpha;
          o[mt][i][2 * rr + 1] *= alpha;
        }
      }
    }

#pragma unroll
    for (int kk = 0; kk < kChunk / 16; kk++) {
      uint32_t a[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; mt++) {
        a[mt][0] = Mma<T>::pack(s[mt][2 * kk][0], s[mt][2 * kk][1]);
        a[mt][1] = Mma<T>::pack(s[mt][2 * kk][2], s[mt][2 * kk][3]);
        a[mt][2] = Mma<T>::pack(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
        a[mt][3] = Mma<T>::pack(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
      }
#pragma unroll
      for (int np = 0; np < D / 16; np++) {
        uint32_t b[4];
        const int r = kk * 16 + (lane % 8) + ((lane / 8) % 2) * 8;
        ldmatrix4Trans(b, cV + swizzled<D>(r, np * 2 + lane / 16));
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
          Mma<T>::run(o[mt][2 * np], a[mt], b[0], b[1]);
          Mma<T>::run(o[mt][2 * np + 1], a[mt], b[2], b[3]);
        }
      }
    }
    __syncthreads();
  }

#pragma unroll
  for (int mt = 0; mt < MT; mt++) {
#pragma unroll
    for (int rr = 0; rr < 2; rr++) {
      float sum = rowSum[mt][rr];
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      const float inv = sum > 0.f ? 1.f / sum : 0.f;
      const long long row = naturalRow(p, bg, qTile, rowBase + mt * 16 + lane / 4 + rr * 8, g);
      if (row < 0) continue;
      float* dst = p.out + (row * p.heads + h) * D + (lane % 4) * 2;
#pragma unroll
      for (int i = 0; i < DT; i++) {
        *reinterpret_cast<float2*>(dst + i * 8) = make_float2(o[mt][i][2 * rr] * inv,
                                                              o[mt][i][2 * rr + 1] * inv);
      }
      if (lane % 4 == 0) {
        // Natural-log LSE of the scaled scores: rowMax is in log2 units.
        p.lse[row * p.heads + h] = sum > 0.f ? rowMax[mt][rr] * 0.69314718055994531f + logf(sum)
                                             : -INFINITY;
      }
    }
  }
}

template <typename T, int D, int BQ, int MT>
Status launch(const Params& p, dim3 grid) {
  const size_t smem = (size_t)(BQ * D + 4 * kChunk * D) * sizeof(T) + p.kvVolume * sizeof(int) +
                      BQ * kMaxRank * sizeof(int2);
  Status st = cudaStatus(cudaFuncSetAttribute(forwardKernel<T, D, BQ, MT>,
                                              cudaFuncAttributeMaxDynamicSharedMemorySize,
                                              (int)smem),
                         "cudaFuncSetAttribute (GNA tensor-core forward shared memory)");
  if (!st.ok) return st;
  forwardKernel<T, D, BQ, MT><<<grid, BQ * 2 / MT, smem>>>(p);
  return lastLaunchStatus("GNA forward (tensor cores)");
}

// Dispatch over the instantiated head dims, Q tile volumes and rows per warp (16 or 32; 32 only
// for 128-token Q tiles) of one element type.
template <typename T>
Status launchFor(const Params& p, dim3 grid, int headDim, int qVolume, int rowsPerWarp) {
  if (qVolume == 64) {
    if (headDim == 32) return launch<T, 32, 64, 1>(p, grid);
    if (headDim == 64) return launch<T, 64, 64, 1>(p, grid);
    if (headDim == 128) return launch<T, 128, 64, 1>(p, grid);
  } else if (qVolume == 128 && rowsPerWarp == 32) {
    if (headDim == 32) return launch<T, 32, 128, 2>(p, grid);
    if (headDim == 64) return launch<T, 64, 128, 2>(p, grid);
    if (headDim == 128) return launch<T, 128, 128, 2>(p, grid);
  } else if (qVolume == 128) {
    if (headDim == 32) return launch<T, 32, 128, 1>(p, grid);
    if (headDim == 64) return launch<T, 64, 128, 1>(p, grid);
    if (headDim == 128) return launch<T, 128, 128, 1>(p, grid);
  }
  return Status::Fail("GNA tensor-core forward: no kernel for headDim " + std::to_string(headDim) +
                      " with a Q tile of " + std::to_string(qVolume) + " tokens");
}

Status launchBf16(const Params& p, dim3 grid, int headDim, int qVolume, int rowsPerWarp);
Status launchF16(const Params& p, dim3 grid, int headDim, int qVolume, int rowsPerWarp);
Status launchTf32(const Params& p, dim3 grid, int headDim, int qVolume);

}  // namespace tc
}  // namespace gna

// Tensor-core GNA backward over token-permuted tensors, mma.sync m16n8k16 with float32
// accumulation (sm_80 and later), in two deterministic kernels (no atomics):
// - dQ: a CTA owns 64 rows of one Q tile and walks that tile's KV list (the forward's plan);
//   per 64-key chunk it recomputes S = Q Kᵀ and P = exp(S − lse), forms dP = dO Vᵀ and
//   dS = P ∘ (dP − δ), and accumulates dQ += dS K.
// - dK/dV: a CTA owns 64 keys of one KV tile and walks the Q tiles whose KV range holds that tile
//   (the plan transposed on the host: spec §3.4, the inverse of the forward's tiling), over every
//   query head of its GQA group; per chunk of QC queries it forms Sᵀ = K Qᵀ, Pᵀ, dPᵀ = V dOᵀ,
//   dSᵀ, and accumulates dV += Pᵀ dO and dK += dSᵀ Q.
// Tile pairs flagged in the plan take the forward's fine mask; the rest run unmasked. δ = rowsum
// (dO ∘ O) − dLse comes precomputed (float32). The softmax scale is folded into dS at the end.
#pragma once
#include "gna_tc.cuh"

namespace gna {
namespace tc {

constexpr int kBwdRows = 64;  // rows (queries or keys) per CTA: four warps of 16

struct BwdParams {
  const void* q;     // [bg, qSeq, heads, D] (Q tiling)
  const void* k;     // [bg, kvSeq, kvHeads, D] (KV tiling)
  const void* v;
  const void* dOut;  // like q
  const float* lse;  // [bg, qSeq, heads]
  const float* delta;
  float* dq;         // float32, layouts as q / k / v
  float* dk;
  float* dv;
  int heads, kvHeads, groups, rank;
  long long qSeq, kvSeq;
  float scale, scaleLog2;
  const int* tileRanges;      // per (group, Q tile): offsets into entries
  const int* entries;         // kvTile | (needsMask << 31)
  const int* inverseRanges;   // per (group, KV tile): offsets into inverseEntries
  const int* inverseEntries;  // qTile | (needsMask << 31)
  const int* qOffsets;
  const int* kvOffsets;
  const int4* windows;
  int extent[kMaxRank], offset[kMaxRank], dilation[kMaxRank];
  int qTile[kMaxRank], kvTile[kMaxRank], qTilesPerDim[kMaxRank], kvTilesPerDim[kMaxRank];
  int qTiles, kvTiles, qVolume, kvVolume;
};

// acc[n-tile] += A · B for one warp's 16 rows: A (16 x 16·K16) from a swizzled [rows][D] tile at
// row `rowBase`, B from a swizzled [N][D] tile read as Bᵀ (n = its rows): S = Q Kᵀ-shaped products.
template <typename T, int D, int N>
__device__ inline void mmaRowsByRows(float (*acc)[4], const T* sA, int rowBase, const T* sB,
                                     int lane) {
#pragma unroll
  for (int kk = 0; kk < D / 16; kk++) {
    uint32_t a[4];
    ldmatrix4(a, sA + swizzled<D>(rowBase + (lane % 8) + ((lane / 8) % 2) * 8, kk * 2 + lane / 16));
#pragma unroll
    for (int np = 0; np < N / 16; np++) {
      uint32_t b[4];
      ldmatrix4(b, sB + swizzled<D>(np * 16 + (lane % 8) + (lane / 16) * 8, kk * 2 + (lane / 8) % 2));
      Mma<T>::run(acc[2 * np], a, b[0], b[1]);
      Mma<T>::run(acc[2 * np + 1], a, b[2], b[3]);
    }
  }
}

// acc[D/8] += X · B: X (16 x K) held as accumulator fragments x[K/8][4] (rounded to T), B a
// swizzled [K][D] tile (k = its rows): the dS K, Pᵀ dO and dSᵀ Q products.
template <typename T, int D, int K>
__device__ inline void mmaFragsByTile(float (*acc)[4], const float (*x)[4], const T* sB,
                                      int lane) {
#pragma unroll
  for (int kk = 0; kk < K / 16; kk++) {
    uint32_t a[4];
    a[0] = Mma<T>::pack(x[2 * kk][0], x[2 * kk][1]);
    a[1] = Mma<T>::pack(x[2 * kk][2], x[2 * kk][3]);
    a[2] = Mma<T>::pack(x[2 * kk + 1][0], x[2 * kk + 1][1]);
    a[3] = Mma<T>::pack(x[2 * kk + 1][2], x[2 * kk + 1][3]);
#pragma unroll
    for (int np = 0; np < D / 16; np++) {
      uint32_t b[4];
      ldmatrix4Trans(b, sB + swizzled<D>(kk * 16 + (lane % 8) + ((lane / 8) % 2) * 8,
                                         np * 2 + lane / 16));
      Mma<T>::run(acc[2 * np], a, b[0], b[1]);
      Mma<T>::run(acc[2 * np + 1], a, b[2], b[3]);
    }
  }
}

// Writes one warp's 16 x D float32 accumulator rows, times `scale`, to rows `row0 + r` (global
// row stride `stride` floats).
template <int D>
__device__ inline void storeRows(float* dst, long long stride, const float (*acc)[4], float scale,
                                 int lane) {
#pragma unroll
  for (int rr = 0; rr < 2; rr++) {
    float* row = dst + (lane / 4 + rr * 8) * stride + (lane % 4) * 2;
#pragma unroll
    for (int i = 0; i < D / 8; i++) {
      *reinterpret_cast<float2*>(row + i * 8) =
          make_float2(acc[i][2 * rr] * scale, acc[i][2 * rr + 1] * scale);
    }
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(128) backwardQueryKernel(BwdParams p) {
  constexpr int THREADS = 128;
  constexpr int NT = kChunk / 8;
  extern __shared__ __align__(128) unsigned char smem[];
  T* sQ = reinterpret_cast<T*>(smem);
  T* sDo = sQ + kBwdRows * D;
  T* sK = sDo + kBwdRows * D;  // two buffers of kChunk x D
  T* sV = sK + 2 * kChunk * D;
  int* sKvOff = reinterpret_cast<int*>(sV + 2 * kChunk * D);
  int2* sWin = reinterpret_cast<int2*>(sKvOff + p.kvVolume);

  const int slices = p.qVolume / kBwdRows;
  const int qTile = blockIdx.x / slices, slice = blockIdx.x % slices;
  const int h = blockIdx.y, bg = blockIdx.z;
  const int group = bg % p.groups;
  const int hk = h / (p.heads / p.kvHeads);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const long long row0 = (long long)bg * p.qSeq + (long long)qTile * p.qVolume + slice * kBwdRows;
  const long long qStride = (long long)p.heads * D, kvStride = (long long)p.kvHeads * D;
  const T* gK = static_cast<const T*>(p.k) + ((long long)bg * p.kvSeq * p.kvHeads + hk) * D;
  const T* gV = static_cast<const T*>(p.v) + ((long long)bg * p.kvSeq * p.kvHeads + hk) * D;

  const KvWalk<> walk = kvWalk(p, group, qTile);
  auto loadChunk = [&](int it, int buf) {
    const long long key = walk.key(p, it);
    loadTile<T, D, THREADS>(sK + buf * kChunk * D, gK + key * kvStride, kvStride, kChunk);
    loadTile<T, D, THREADS>(sV + buf * kChunk * D, gV + key * kvStride, kvStride, kChunk);
  };
  loadTile<T, D, THREADS>(sQ, static_cast<const T*>(p.q) + (row0 * p.heads + h) * D, qStride,
                          kBwdRows);
  loadTile<T, D, THREADS>(sDo, static_cast<const T*>(p.dOut) + (row0 * p.heads + h) * D, qStride,
                          kBwdRows);
  if (walk.total > 0) loadChunk(0, 0);
  cpAsyncCommit();
  for (int i = threadIdx.x; i < p.kvVolume; i += THREADS) sKvOff[i] = p.kvOffsets[i];
  {
    int g[kMaxRank], origin[kMaxRank];
    groupCoords(group, p.rank, p.dilation, g);
    tileOrigin(qTile, p.qTilesPerDim, p.qTile, p.rank, origin);
    rowWindows(p.windows, p.offset, p.extent, p.rank, g, origin,
               p.qOffsets + slice * kBwdRows, kBwdRows, threadIdx.x, THREADS, sWin);
  }
  const int rowBase = warp * 16;
  float lse2[2], delta[2];
#pragma unroll
  for (int rr = 0; rr < 2; rr++) {
    const long long at = (row0 + rowBase + lane / 4 + rr * 8) * p.heads + h;
    lse2[rr] = p.lse[at] * 1.4426950408889634f;
    delta[rr] = p.delta[at];
  }

  float dq[D / 8][4];
  zero<D / 8>(dq);
  for (int it = 0; it < walk.total; it++) {
    const int buf = it & 1;
    awaitChunk(it, walk.total, loadChunk);
    const T* cK = sK + buf * kChunk * D;
    const T* cV = sV + buf * kChunk * D;
    float s[NT][4], dp[NT][4];
    zero<NT>(s);
    zero<NT>(dp);
    mmaRowsByRows<T, D, kChunk>(s, sQ, rowBase, cK, lane);
    mmaRowsByRows<T, D, kChunk>(dp, sDo, rowBase, cV, lane);

    const int entry = walk.entry(p, it);
    int origin[kMaxRank];
    tileOrigin(entry & 0x7fffffff, p.kvTilesPerDim, p.kvTile, p.rank, origin);
    const int base = (it % walk.chunksPerTile) * kChunk;
#pragma unroll
    for (int i = 0; i < NT; i++) {
#pragma unroll
      for (int j = 0; j < 2; j++) {
        int u[kMaxRank];
        if (entry < 0) {
          const int packed = sKvOff[base + i * 8 + (lane % 4) * 2 + j];
          tileCoords(origin, packed, u);
        }
#pragma unroll
        for (int rr = 0; rr < 2; rr++) {
          const int e = 2 * rr + j;
          const bool see =
              entry >= 0 || inWindows(u, sWin + (rowBase + lane / 4 + rr * 8) * kMaxRank, p.rank);
          const float prob = see ? exp2f(s[i][e] * p.scaleLog2 - lse2[rr]) : 0.f;
          dp[i][e] = prob * (dp[i][e] - delta[rr]);  // dS / scale
        }
      }
    }
    mmaFragsByTile<T, D, kChunk>(dq, dp, cK, lane);
    __syncthreads();
  }
  storeRows<D>(p.dq + ((row0 + rowBase) * p.heads + h) * D, qStride, dq, p.scale, lane);
}

// Queries per chunk of the dK/dV kernel: 32 at head dim 128 keeps dK, dV, Sᵀ and dPᵀ within the
// register file (64 + 64 + 16 + 16 floats per thread).
template <int D> __host__ __device__ constexpr int bwdQueryChunk() { return D == 128 ? 32 : 64; }

template <typename T, int D>
__global__ void __launch_bounds__(128) backwardKeyKernel(BwdParams p) {
  constexpr int THREADS = 128;
  constexpr int QC = bwdQueryChunk<D>();
  constexpr int NT = QC / 8;
  extern __shared__ __align__(128) unsigned char smem[];
  T* sK = reinterpret_cast<T*>(smem);
  T* sV = sK + kBwdRows * D;
  T* sQ = sV + kBwdRows * D;  // two buffers of QC x D
  T* sDo = sQ + 2 * QC * D;
  float* sLse2 = reinterpret_cast<float*>(sDo + 2 * QC * D);  // two buffers of QC
  float* sDelta = sLse2 + 2 * QC;
  int2* sWin = reinterpret_cast<int2*>(sDelta + 2 * QC);      // two buffers of QC x kMaxRank

  const int slices = p.kvVolume / kBwdRows;
  const int kvTile = blockIdx.x / slices, slice = blockIdx.x % slices;
  const int hk = blockIdx.y, bg = blockIdx.z;
  const int group = bg % p.groups;
  const int gqa = p.heads / p.kvHeads;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const long long key0 = (long long)bg * p.kvSeq + (long long)kvTile * p.kvVolume +
                         slice * kBwdRows;
  const long long qStride = (long long)p.heads * D, kvStride = (long long)p.kvHeads * D;

  const int first = p.inverseRanges[group * p.kvTiles + kvTile];
  const int tiles = p.inverseRanges[group * p.kvTiles + kvTile + 1] - first;
  const int chunksPerTile = p.qVolume / QC;
  const int perHead = tiles * chunksPerTile;
  const int total = gqa * perHead;
  int g[kMaxRank];
  groupCoords(group, p.rank, p.dilation, g);

  auto loadChunk = [&](int it, int buf) {
    const int h = hk * gqa + it / perHead;
    const int entry = p.inverseEntries[first + (it % perHead) / chunksPerTile];
    const int qTile = entry & 0x7fffffff;
    const int inTile = (it % chunksPerTile) * QC;
    const long long row = (long long)bg * p.qSeq + (long long)qTile * p.qVolume + inTile;
    const long long at = row * p.heads + h;
    loadTile<T, D, THREADS>(sQ + buf * QC * D, static_cast<const T*>(p.q) + at * D, qStride, QC);
    loadTile<T, D, THREADS>(sDo + buf * QC * D, static_cast<const T*>(p.dOut) + at * D, qStride,
                            QC);
    for (int r = threadIdx.x; r < QC; r += THREADS) {
      sLse2[buf * QC + r] = p.lse[at + (long long)r * p.heads] * 1.4426950408889634f;
      sDelta[buf * QC + r] = p.delta[at + (long long)r * p.heads];
    }
    if (entry < 0) {
      int origin[kMaxRank];
      tileOrigin(qTile, p.qTilesPerDim, p.qTile, p.rank, origin);
      rowWindows(p.windows, p.offset, p.extent, p.rank, g, origin, p.qOffsets + inTile, QC,
                 threadIdx.x, THREADS, sWin + buf * QC * kMaxRank);
    }
  };
  loadTile<T, D, THREADS>(sK, static_cast<const T*>(p.k) + (key0 * p.kvHeads + hk) * D, kvStride,
                          kBwdRows);
  loadTile<T, D, THREADS>(sV, static_cast<const T*>(p.v) + (key0 * p.kvHeads + hk) * D, kvStride,
                          kBwdRows);
  if (total > 0) loadChunk(0, 0);
  cpAsyncCommit();

  // In-group coordinates of this thread's two key rows (the mask's row operand).
  const int rowBase = warp * 16;
  int u[2][kMaxRank];
  {
    int origin[kMaxRank];
    tileOrigin(kvTile, p.kvTilesPerDim, p.kvTile, p.rank, origin);
#pragma unroll
    for (int rr = 0; rr < 2; rr++) {
      const int packed = p.kvOffsets[slice * kBwdRows + rowBase + lane / 4 + rr * 8];
      tileCoords(origin, packed, u[rr]);
    }
  }

  float dk[D / 8][4], dv[D / 8][4];
  zero<D / 8>(dk);
  zero<D / 8>(dv);
  for (int it = 0; it < total; it++) {
    const int buf = it & 1;
    awaitChunk(it, total, loadChunk);
    const T* cQ = sQ + buf * QC * D;
    const T* cDo = sDo + buf * QC * D;
    const float* cLse2 = sLse2 + buf * QC;
    const float* cDelta = sDelta + buf * QC;
    const int2* cWin = sWin + buf * QC * kMaxRank;
    const bool masked = p.inverseEntries[first + (it % perHead) / chunksPerTile] < 0;

    float s[NT][4], dp[NT][4];
    zero<NT>(s);
    zero<NT>(dp);
    mmaRowsByRows<T, D, QC>(s, sK, rowBase, cQ, lane);
    mmaRowsByRows<T, D, QC>(dp, sV, rowBase, cDo, lane);
#pragma unroll
    for (int i = 0; i < NT; i++) {
#pragma unroll
      for (int j = 0; j < 2; j++) {
        const int col = i * 8 + (lane % 4) * 2 + j;
        const float l2 = cLse2[col], d = cDelta[col];
#pragma unroll
        for (int rr = 0; rr < 2; rr++) {
          const int e = 2 * rr + j;
          const bool see = !masked || inWindows(u[rr], cWin + col * kMaxRank, p.rank);
          const float prob = see ? exp2f(s[i][e] * p.scaleLog2 - l2) : 0.f;
          s[i][e] = prob;
          dp[i][e] = prob * (dp[i][e] - d);  // dSᵀ / scale
        }
      }
    }
    mmaFragsByTile<T, D, QC>(dv, s, cDo, lane);
    mmaFragsByTile<T, D, QC>(dk, dp, cQ, lane);
    __syncthreads();
  }
  const long long at = (key0 + rowBase) * p.kvHeads + hk;
  storeRows<D>(p.dk + at * D, kvStride, dk, p.scale, lane);
  storeRows<D>(p.dv + at * D, kvStride, dv, 1.f, lane);
}

// Both kernels of one backward; `batchGroups` = batch x dilation groups.
template <typename T, int D>
Status launchBackward(const BwdParams& p, unsigned batchGroups) {
  constexpr int QC = bwdQueryChunk<D>();
  const size_t qSmem = (size_t)(2 * kBwdRows + 4 * kChunk) * D * sizeof(T) +
                       p.kvVolume * sizeof(int) + kBwdRows * kMaxRank * sizeof(int2);
  const size_t kSmem = (size_t)(2 * kBwdRows + 4 * QC) * D * sizeof(T) + 4 * QC * sizeof(float) +
                       2 * QC * kMaxRank * sizeof(int2);
  Status st = cudaStatus(cudaFuncSetAttribute(backwardQueryKernel<T, D>,
                                              cudaFuncAttributeMaxDynamicSharedMemorySize,
                                              (int)qSmem),
                         "cudaFuncSetAttribute (GNA tensor-core backward shared memory)");
  if (!st.ok) return st;
  st = cudaStatus(cudaFuncSetAttribute(backwardKeyKernel<T, D>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize, (int)kSmem),
                  "cudaFuncSetAttribute (GNA tensor-core backward shared memory)");
  if (!st.ok) return st;
  const dim3 qGrid((unsigned)(p.qTiles * (p.qVolume / kBwdRows)), (unsigned)p.heads, batchGroups);
  backwardQueryKernel<T, D><<<qGrid, 128, qSmem>>>(p);
  st = lastLaunchStatus("GNA backward dq (tensor cores)");
  if (!st.ok) return st;
  const dim3 kGrid((unsigned)(p.kvTiles * (p.kvVolume / kBwdRows)), (unsigned)p.kvHeads,
                   batchGroups);
  backwardKeyKernel<T, D><<<kGrid, 128, kSmem>>>(p);
  return lastLaunchStatus("GNA backward dk/dv (tensor cores)");
}

template <typename T>
Status launchBackwardFor(const BwdParams& p, unsigned batchGroups, int headDim) {
  if (headDim == 32) return launchBackward<T, 32>(p, batchGroups);
  if (headDim == 64) return launchBackward<T, 64>(p, batchGroups);
  if (headDim == 128) return launchBackward<T, 128>(p, batchGroups);
  return Status::Fail("GNA tensor-core backward: no kernel for headDim " +
                      std::to_string(headDim));
}

Status launchBackwardBf16(const BwdParams& p, unsigned batchGroups, int headDim);
Status launchBackwardF16(const BwdParams& p, unsigned batchGroups, int headDim);

}  // namespace tc
}  // namespace gna

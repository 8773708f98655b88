// The 'tf32' precision of the tensor-core forward: float32 operands rounded to tf32 and
// mma.sync m16n8k8 with float32 accumulation, over the same permuted tiles, tile tables and
// masking as the half-precision kernel (gna_tc.cuh). Operands stay float32 in shared memory with
// rows padded by 4 floats, which puts the 8x4 lanes of each fragment load in distinct banks.
#include "gna_tc.cuh"

namespace gna {
namespace tc {
namespace {

__device__ inline uint32_t toTf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return r;
}

__device__ inline void mmaTf32(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <int D, int THREADS>
__device__ inline void loadRows(float* dst, const float* src, long long stride, int rows) {
  constexpr int chunks = D / 4;
  for (int i = threadIdx.x; i < rows * chunks; i += THREADS) {
    const int r = i / chunks, c = i % chunks;
    cpAsync16(dst + r * (D + 4) + c * 4, src + r * stride + c * 4);
  }
}

template <int D, int BQ>
__global__ void __launch_bounds__(BQ * 2) forwardTf32Kernel(Params p) {
  constexpr int THREADS = BQ * 2;  // 16 rows per warp
  constexpr int LD = D + 4;        // padded row stride (floats)
  constexpr int NT = kChunk / 8;
  constexpr int DT = D / 8;
  extern __shared__ __align__(128) unsigned char smem[];
  float* sQ = reinterpret_cast<float*>(smem);
  float* sK = sQ + BQ * LD;
  float* sV = sK + 2 * kChunk * LD;
  int* sKvOff = reinterpret_cast<int*>(sV + 2 * kChunk * LD);
  int2* sWin = reinterpret_cast<int2*>(sKvOff + p.kvVolume);

  const int qTile = blockIdx.x, h = blockIdx.y, bg = blockIdx.z;
  const int group = bg % p.groups;
  const int hk = h / (p.heads / p.kvHeads);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int gr = lane / 4, tq = lane % 4;
  const int rowBase = warp * 16;
  const float* gQ = static_cast<const float*>(p.q) +
                    (((long long)bg * p.qSeq + (long long)qTile * BQ) * p.heads + h) * D;
  const float* gK = static_cast<const float*>(p.k) + ((long long)bg * p.kvSeq * p.kvHeads + hk) * D;
  const float* gV = static_cast<const float*>(p.v) + ((long long)bg * p.kvSeq * p.kvHeads + hk) * D;
  const long long qStride = (long long)p.heads * D, kvStride = (long long)p.kvHeads * D;

  const KvWalk<> walk = kvWalk(p, group, qTile);

  auto loadChunk = [&](int it, int buf) {
    const long long key = walk.key(p, it);
    loadRows<D, THREADS>(sK + buf * kChunk * LD, gK + key * kvStride, kvStride, kChunk);
    loadRows<D, THREADS>(sV + buf * kChunk * LD, gV + key * kvStride, kvStride, kChunk);
  };

  loadRows<D, THREADS>(sQ, gQ, qStride, BQ);
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

  float o[DT][4];
  zero<DT>(o);
  float rowMax[2] = {-INFINITY, -INFINITY}, rowSum[2] = {0.f, 0.f};

  for (int it = 0; it < walk.total; it++) {
    const int buf = it & 1;
    awaitChunk(it, walk.total, loadChunk);
    const float* cK = sK + buf * kChunk * LD;
    const float* cV = sV + buf * kChunk * LD;
    const float* qRow0 = sQ + (rowBase + gr) * LD;
    const float* qRow1 = qRow0 + 8 * LD;

    float s[NT][4];
    zero<NT>(s);
#pragma unroll 4
    for (int kk = 0; kk < D / 8; kk++) {
      const uint32_t a[4] = {toTf32(qRow0[kk * 8 + tq]), toTf32(qRow1[kk * 8 + tq]),
                             toTf32(qRow0[kk * 8 + tq + 4]), toTf32(qRow1[kk * 8 + tq + 4])};
#pragma unroll
      for (int nt = 0; nt < NT; nt++) {
        const float* kr = cK + (nt * 8 + gr) * LD + kk * 8 + tq;
        mmaTf32(s[nt], a, toTf32(kr[0]), toTf32(kr[4]));
      }
    }

    const int entry = walk.entry(p, it);
#pragma unroll
    for (int i = 0; i < NT; i++)
#pragma unroll
      for (int j = 0; j < 4; j++) s[i][j] *= p.scaleLog2;
    if (entry < 0) {
      int origin[kMaxRank];
      tileOrigin(entry & 0x7fffffff, p.kvTilesPerDim, p.kvTile, p.rank, origin);
      const int base = (it % walk.chunksPerTile) * kChunk;
#pragma unroll
      for (int i = 0; i < NT; i++) {
#pragma unroll
        for (int j = 0; j < 2; j++) {
          const int packed = sKvOff[base + i * 8 + tq * 2 + j];
          int u[kMaxRank];
          tileCoords(origin, packed, u);
#pragma unroll
          for (int rr = 0; rr < 2; rr++) {
            if (!inWindows(u, sWin + (rowBase + gr + rr * 8) * kMaxRank, p.rank)) {
              s[i][2 * rr + j] = -INFINITY;
            }
          }
        }
      }
    }

#pragma unroll
    for (int rr = 0; rr < 2; rr++) {
      float mx = -INFINITY;
#pragma unroll
      for (int i = 0; i < NT; i++) mx = fmaxf(mx, fmaxf(s[i][2 * rr], s[i][2 * rr + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float mNew = fmaxf(rowMax[rr], mx);
      const float mUse = mNew == -INFINITY ? 0.f : mNew;
      const float alpha = exp2f(rowMax[rr] - mUse);
      float sum = 0.f;
#pragma unroll
      for (int i = 0; i < NT; i++) {
        s[i][2 * rr] = exp2f(s[i][2 * rr] - mUse);
        s[i][2 * rr + 1] = exp2f(s[i][2 * rr + 1] - mUse);
        sum += s[i][2 * rr] + s[i][2 * rr + 1];
      }
      rowSum[rr] = rowSum[rr] * alpha + sum;
      rowMax[rr] = mNew;
#pragma unroll
      for (int i = 0; i < DT; i++) {
        o[i][2 * rr] *= alpha;
        o[i][2 * rr + 1] *= alpha;
      }
    }

    // P (C-fragment layout: columns 2t, 2t+1) to A fragments (columns t, t+4) within the quad.
    const int quad = lane & ~3;
    const int srcLo = quad | (tq >> 1), srcHi = quad | ((tq >> 1) + 2);
    const bool odd = tq & 1;
#pragma unroll
    for (int kk = 0; kk < NT; kk++) {
      const float lo0 = __shfl_sync(0xffffffffu, s[kk][0], srcLo);
      const float lo1 = __shfl_sync(0xffffffffu, s[kk][1], srcLo);
      const float lo2 = __shfl_sync(0xffffffffu, s[kk][2], srcLo);
      const float lo3 = __shfl_sync(0xffffffffu, s[kk][3], srcLo);
      const float hi0 = __shfl_sync(0xffffffffu, s[kk][0], srcHi);
      const float hi1 = __shfl_sync(0xffffffffu, s[kk][1], srcHi);
      const float hi2 = __shfl_sync(0xffffffffu, s[kk][2], srcHi);
      const float hi3 = __shfl_sync(0xffffffffu, s[kk][3], srcHi);
      const uint32_t a[4] = {toTf32(odd ? lo1 : lo0), toTf32(odd ? lo3 : lo2),
                             toTf32(odd ? hi1 : hi0), toTf32(odd ? hi3 : hi2)};
      const float* v0 = cV + (kk * 8 + tq) * LD + gr;
#pragma unroll
      for (int nt = 0; nt < DT; nt++) {
        mmaTf32(o[nt], a, toTf32(v0[nt * 8]), toTf32(v0[4 * LD + nt * 8]));
      }
    }
    __syncthreads();
  }

#pragma unroll
  for (int rr = 0; rr < 2; rr++) {
    float sum = rowSum[rr];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const float inv = sum > 0.f ? 1.f / sum : 0.f;
    const long long row = naturalRow(p, bg, qTile, rowBase + gr + rr * 8, g);
    if (row < 0) continue;
    float* dst = p.out + (row * p.heads + h) * D + tq * 2;
#pragma unroll
    for (int i = 0; i < DT; i++) {
      *reinterpret_cast<float2*>(dst + i * 8) = make_float2(o[i][2 * rr] * inv,
                                                            o[i][2 * rr + 1] * inv);
    }
    if (tq == 0) {
      p.lse[row * p.heads + h] = sum > 0.f ? rowMax[rr] * 0.69314718055994531f + logf(sum)
                                           : -INFINITY;
    }
  }
}

template <int D, int BQ>
Status launchTf32At(const Params& p, dim3 grid) {
  const size_t smem = (size_t)(BQ + 4 * kChunk) * (D + 4) * sizeof(float) +
                      p.kvVolume * sizeof(int) + BQ * kMaxRank * sizeof(int2);
  Status st = cudaStatus(cudaFuncSetAttribute(forwardTf32Kernel<D, BQ>,
                                              cudaFuncAttributeMaxDynamicSharedMemorySize,
                                              (int)smem),
                         "cudaFuncSetAttribute (GNA tf32 forward shared memory)");
  if (!st.ok) return st;
  forwardTf32Kernel<D, BQ><<<grid, BQ * 2, smem>>>(p);
  return lastLaunchStatus("GNA forward (tf32 tensor cores)");
}

}  // namespace

Status launchTf32(const Params& p, dim3 grid, int headDim, int qVolume) {
  if (qVolume == 64) {
    if (headDim == 32) return launchTf32At<32, 64>(p, grid);
    if (headDim == 64) return launchTf32At<64, 64>(p, grid);
    if (headDim == 128) return launchTf32At<128, 64>(p, grid);
  } else if (qVolume == 128) {
    if (headDim == 32) return launchTf32At<32, 128>(p, grid);
    if (headDim == 64) return launchTf32At<64, 128>(p, grid);
    if (headDim == 128) return launchTf32At<128, 128>(p, grid);
  }
  return Status::Fail("GNA tf32 forward: no kernel for headDim " + std::to_string(headDim) +
                      " with a Q tile of " + std::to_string(qVolume) + " tokens");
}

}  // namespace tc
}  // namespace gna

// Batched GEMM with transposes, batch broadcasting and a fused bias + activation epilogue.
// Tensor-core paths (mma.sync bf16 m16n8k16 or tf32 m16n8k8, float32 accumulation) and a float32
// SIMT path for exact-precision callers. Operands stay float32 in global memory (tfjs has no
// half dtype): each 128x128 block stages float4 chunks in registers while the tensor cores work
// on the previous tile, converting to the operand type on the store to shared memory.
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cstdint>
#include "op_shape.cuh"

namespace gna {
namespace {

constexpr int kBM = 128, kBN = 128, kThreads = 256;

struct Bf16Traits {
  using S = __nv_bfloat16;
  static constexpr int BK = 32, PAD = 8, KSTEP = 16;
  __device__ static void put(S* p, float v) { *p = __float2bfloat16_rn(v); }
  __device__ static void put4(S* p, float4 v) {
    __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
    uint2 u;
    u.x = *reinterpret_cast<uint32_t*>(&lo);
    u.y = *reinterpret_cast<uint32_t*>(&hi);
    *reinterpret_cast<uint2*>(p) = u;
  }
};

struct Tf32Traits {
  using S = uint32_t;  // tf32 bit patterns (float32 with 10 mantissa bits, rounded to nearest)
  static constexpr int BK = 16, PAD = 4, KSTEP = 8;
  __device__ static uint32_t cvt(float v) {
    uint32_t u;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(u) : "f"(v));
    return u;
  }
  __device__ static void put(S* p, float v) { *p = cvt(v); }
  __device__ static void put4(S* p, float4 v) {
    *reinterpret_cast<uint4*>(p) = make_uint4(cvt(v.x), cvt(v.y), cvt(v.z), cvt(v.w));
  }
};

struct F32Traits {
  using S = float;
  static constexpr int BK = 16, PAD = 1;
  __device__ static void put(S* p, float v) { *p = v; }
  __device__ static void put4(S* p, float4 v) { p[0] = v.x; p[1] = v.y; p[2] = v.z; p[3] = v.w; }
};

// One operand tile [128 rows (m or n)][BK] in shared memory, k contiguous.
template <class T>
struct TileLoader {
  static constexpr int BK = T::BK, LDS = T::BK + T::PAD, CH = kBM * BK / 4 / kThreads;
  float4 reg[CH];

  // base: this batch's operand; element (r, k) at base[r*sR + k*sK].
  __device__ void load(const float* base, int64_t sR, int64_t sK, int rows, int K, int r0, int k0,
                       bool kContig, bool vec) {
#pragma unroll
    for (int c = 0; c < CH; c++) {
      const int idx = threadIdx.x + c * kThreads;
      int r, k;
      if (kContig) { r = idx / (BK / 4); k = (idx % (BK / 4)) * 4; }
      else { k = idx / (kBM / 4); r = (idx % (kBM / 4)) * 4; }
      const int gr = r0 + r, gk = k0 + k;
      float v[4];
      if (vec) {
        // Dims are multiples of 4 on the vector path: a chunk is all in range or all out.
        float4 f = make_float4(0, 0, 0, 0);
        if (gr < rows && gk < K) f = *reinterpret_cast<const float4*>(base + gr * sR + gk * sK);
        reg[c] = f;
        continue;
      }
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int er = kContig ? gr : gr + e, ek = kContig ? gk + e : gk;
        v[e] = (er < rows && ek < K) ? base[er * sR + ek * sK] : 0.0f;
      }
      reg[c] = make_float4(v[0], v[1], v[2], v[3]);
    }
  }

  __device__ void store(typename T::S* s, bool kContig) const {
#pragma unroll
    for (int c = 0; c < CH; c++) {
      const int idx = threadIdx.x + c * kThreads;
      if (kContig) {
        T::put4(s + (idx / (BK / 4)) * LDS + (idx % (BK / 4)) * 4, reg[c]);
      } else {
        const int k = idx / (kBM / 4), r = (idx % (kBM / 4)) * 4;
        T::put(s + (r + 0) * LDS + k, reg[c].x);
        T::put(s + (r + 1) * LDS + k, reg[c].y);
        T::put(s + (r + 2) * LDS + k, reg[c].z);
        T::put(s + (r + 3) * LDS + k, reg[c].w);
      }
    }
  }
};

// Block (m, n) tile of this CTA: consecutive CTAs sweep groups of 8 row tiles across the column
// tiles, so a wave of CTAs shares B tiles in L2 instead of streaming all of B per row of tiles.
__device__ __forceinline__ int2 tileOf() {
  constexpr int kGroupM = 8;
  const int tilesM = gridDim.y, tilesN = gridDim.x;
  const int pid = blockIdx.y * tilesN + blockIdx.x;
  const int perGroup = kGroupM * tilesN;
  const int firstM = (pid / perGroup) * kGroupM;
  const int groupM = min(tilesM - firstM, kGroupM);
  const int inGroup = pid % perGroup;
  return make_int2((firstM + inGroup % groupM) * kBM, (inGroup / groupM) * kBN);
}

struct BatchPtrs {
  const float* a;
  const float* b;
  float* c;
};

__device__ BatchPtrs batchPtrs(const GemmArgs& g, int z) {
  int64_t ao = 0, bo = 0;
  int rest = z;
  for (int d = g.batchRank - 1; d >= 0; d--) {
    const int i = rest % g.batchShape[d];
    rest /= g.batchShape[d];
    ao += i * g.aBatch[d];
    bo += i * g.bBatch[d];
  }
  return {g.a + ao, g.b + bo, g.c + (int64_t)z * g.m * g.n};
}

__device__ __forceinline__ float epilogue(const GemmArgs& g, float v, int col) {
  if (g.biasMode == 1) v += g.bias[col];
  else if (g.biasMode == 2) v += g.bias[0];
  switch (g.act) {
    case Activation::Relu: return v < 0.0f ? 0.0f : v;
    case Activation::Relu6: return fminf(fmaxf(v, 0.0f), 6.0f);
    case Activation::Sigmoid: return 1.0f / (1.0f + expf(-v));
    case Activation::LeakyRelu: return v < 0.0f ? g.alpha * v : v;
    case Activation::Elu: return v < 0.0f ? expf(v) - 1.0f : v;
    default: return v;
  }
}

__device__ __forceinline__ bool vecOk(const float* base, bool kContig, int rows, int K,
                                      int64_t sR, int64_t sK) {
  const bool shapeOk = kContig ? (K % 4 == 0 && sR % 4 == 0) : (rows % 4 == 0 && sK % 4 == 0);
  return shapeOk && (reinterpret_cast<uintptr_t>(base) & 15) == 0;
}

__device__ __forceinline__ void mmaStep(const Bf16Traits::S* As, const Bf16Traits::S* Bs, int kk,
                                        int lane, float (&acc)[4][4][4]) {
  constexpr int LDS = Bf16Traits::BK + Bf16Traits::PAD;
  const int g = lane >> 2, t = lane & 3;
  uint32_t a[4][4];
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const Bf16Traits::S* p = As + (i * 16 + g) * LDS + kk + 2 * t;
    a[i][0] = *reinterpret_cast<const uint32_t*>(p);
    a[i][1] = *reinterpret_cast<const uint32_t*>(p + 8 * LDS);
    a[i][2] = *reinterpret_cast<const uint32_t*>(p + 8);
    a[i][3] = *reinterpret_cast<const uint32_t*>(p + 8 * LDS + 8);
  }
  // B fragments one column tile at a time: fewer live registers.
#pragma unroll
  for (int j = 0; j < 4; j++) {
    const Bf16Traits::S* p = Bs + (j * 8 + g) * LDS + kk + 2 * t;
    const uint32_t b0 = *reinterpret_cast<const uint32_t*>(p);
    const uint32_t b1 = *reinterpret_cast<const uint32_t*>(p + 8);
#pragma unroll
    for (int i = 0; i < 4; i++)
      asm volatile(
          "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
          "{%8,%9}, {%0,%1,%2,%3};"
          : "+f"(acc[i][j][0]), "+f"(acc[i][j][1]), "+f"(acc[i][j][2]), "+f"(acc[i][j][3])
          : "r"(a[i][0]), "r"(a[i][1]), "r"(a[i][2]), "r"(a[i][3]), "r"(b0), "r"(b1));
  }
}

__device__ __forceinline__ void mmaStep(const Tf32Traits::S* As, const Tf32Traits::S* Bs, int kk,
                                        int lane, float (&acc)[4][4][4]) {
  constexpr int LDS = Tf32Traits::BK + Tf32Traits::PAD;
  const int g = lane >> 2, t = lane & 3;
  uint32_t a[4][4], b[4][2];
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const uint32_t* p = As + (i * 16 + g) * LDS + kk + t;
    a[i][0] = p[0];
    a[i][1] = p[8 * LDS];
    a[i][2] = p[4];
    a[i][3] = p[8 * LDS + 4];
  }
#pragma unroll
  for (int j = 0; j < 4; j++) {
    const uint32_t* p = Bs + (j * 8 + g) * LDS + kk + t;
    b[j][0] = p[0];
    b[j][1] = p[4];
  }
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 4; j++)
      asm volatile(
          "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
          "{%8,%9}, {%0,%1,%2,%3};"
          : "+f"(acc[i][j][0]), "+f"(acc[i][j][1]), "+f"(acc[i][j][2]), "+f"(acc[i][j][3])
          : "r"(a[i][0]), "r"(a[i][1]), "r"(a[i][2]), "r"(a[i][3]), "r"(b[j][0]), "r"(b[j][1]));
}

// 8 warps as 2 (m) x 4 (n), each owning 64x32 of the 128x128 block tile. Not forced to two
// blocks per SM: at 128 registers the bf16 kernel spills inside its main loop.
template <class T>
__global__ void __launch_bounds__(kThreads) gemmTensorCore(GemmArgs g) {
  using S = typename T::S;
  constexpr int BK = T::BK, LDS = BK + T::PAD;
  __shared__ __align__(16) S As[2][kBM * LDS];
  __shared__ __align__(16) S Bs[2][kBN * LDS];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wm = (warp / 4) * 64, wn = (warp % 4) * 32;
  const int2 tile = tileOf();
  const int m0 = tile.x, n0 = tile.y;
  const bool aK = g.sAk == 1, bK = g.sBk == 1;
  for (int z = blockIdx.z; z < g.batch; z += gridDim.z) {
    const BatchPtrs p = batchPtrs(g, z);
    const bool aVec = vecOk(p.a, aK, g.m, g.k, g.sAm, g.sAk);
    const bool bVec = vecOk(p.b, bK, g.n, g.k, g.sBn, g.sBk);
    float acc[4][4][4] = {};
    TileLoader<T> la, lb;
    const int tiles = (g.k + BK - 1) / BK;
    la.load(p.a, g.sAm, g.sAk, g.m, g.k, m0, 0, aK, aVec);
    lb.load(p.b, g.sBn, g.sBk, g.n, g.k, n0, 0, bK, bVec);
    la.store(As[0], aK);
    lb.store(Bs[0], bK);
    __syncthreads();
    for (int kt = 0; kt < tiles; kt++) {
      const int buf = kt & 1;
      const bool more = kt + 1 < tiles;
      if (more) {
        la.load(p.a, g.sAm, g.sAk, g.m, g.k, m0, (kt + 1) * BK, aK, aVec);
        lb.load(p.b, g.sBn, g.sBk, g.n, g.k, n0, (kt + 1) * BK, bK, bVec);
      }
#pragma unroll
      for (int kk = 0; kk < BK; kk += T::KSTEP) {
        mmaStep(As[buf] + wm * LDS, Bs[buf] + wn * LDS, kk, lane, acc);
      }
      if (more) {
        la.store(As[buf ^ 1], aK);
        lb.store(Bs[buf ^ 1], bK);
      }
      __syncthreads();
    }
    const int gr = lane >> 2, tc = (lane & 3) * 2;
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
      for (int j = 0; j < 4; j++)
#pragma unroll
        for (int h = 0; h < 4; h++) {
          const int row = m0 + wm + i * 16 + gr + (h >= 2 ? 8 : 0);
          const int col = n0 + wn + j * 8 + tc + (h & 1);
          if (row < g.m && col < g.n) p.c[(int64_t)row * g.n + col] = epilogue(g, acc[i][j][h], col);
        }
  }
}

// Exact float32 path: 16x16 threads, each owning rows ty+16i and columns tx+16j (strided so
// that shared-memory reads are conflict-free and the stores coalesce).
__global__ void __launch_bounds__(kThreads) gemmSimt(GemmArgs g) {
  constexpr int BK = F32Traits::BK, LDS = BK + F32Traits::PAD;
  __shared__ float As[kBM * LDS];
  __shared__ float Bs[kBN * LDS];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int2 tile = tileOf();
  const int m0 = tile.x, n0 = tile.y;
  const bool aK = g.sAk == 1, bK = g.sBk == 1;
  for (int z = blockIdx.z; z < g.batch; z += gridDim.z) {
    const BatchPtrs p = batchPtrs(g, z);
    const bool aVec = vecOk(p.a, aK, g.m, g.k, g.sAm, g.sAk);
    const bool bVec = vecOk(p.b, bK, g.n, g.k, g.sBn, g.sBk);
    float acc[8][8] = {};
    TileLoader<F32Traits> la, lb;
    for (int k0 = 0; k0 < g.k; k0 += BK) {
      la.load(p.a, g.sAm, g.sAk, g.m, g.k, m0, k0, aK, aVec);
      lb.load(p.b, g.sBn, g.sBk, g.n, g.k, n0, k0, bK, bVec);
      la.store(As, aK);
      lb.store(Bs, bK);
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < BK; kk++) {
        float a[8], b[8];
#pragma unroll
        for (int i = 0; i < 8; i++) a[i] = As[(ty + 16 * i) * LDS + kk];
#pragma unroll
        for (int j = 0; j < 8; j++) b[j] = Bs[(tx + 16 * j) * LDS + kk];
#pragma unroll
        for (int i = 0; i < 8; i++)
#pragma unroll
          for (int j = 0; j < 8; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
      __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 8; i++)
#pragma unroll
      for (int j = 0; j < 8; j++) {
        const int row = m0 + ty + 16 * i, col = n0 + tx + 16 * j;
        if (row < g.m && col < g.n) p.c[(int64_t)row * g.n + col] = epilogue(g, acc[i][j], col);
      }
  }
}

__global__ void biasOnlyKernel(GemmArgs g) {
  // K == 0: the product is zero; the epilogue still applies.
  const int64_t n = (int64_t)g.batch * g.m * g.n;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    g.c[i] = epilogue(g, 0.0f, (int)(i % g.n));
  }
}

}  // namespace

Status launchGemm(const GemmArgs& g, GemmPrecision precision) {
  if ((int64_t)g.batch * g.m * g.n == 0) return Status::Ok();
  if (g.k == 0) {
    biasOnlyKernel<<<gridFor((int64_t)g.batch * g.m * g.n, 256), 256>>>(g);
    return lastLaunchStatus("gemm (k = 0)");
  }
  const dim3 grid((g.n + kBN - 1) / kBN, (g.m + kBM - 1) / kBM, g.batch < 65535 ? g.batch : 65535);
  if (grid.y > 65535) return Status::Fail("gemm: m too large (more than 65535 row tiles)");
  switch (precision) {
    case GemmPrecision::BF16: gemmTensorCore<Bf16Traits><<<grid, kThreads>>>(g); break;
    case GemmPrecision::TF32: gemmTensorCore<Tf32Traits><<<grid, kThreads>>>(g); break;
    default: gemmSimt<<<grid, kThreads>>>(g); break;
  }
  return lastLaunchStatus("gemm");
}

}  // namespace gna

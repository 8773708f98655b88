// Token permute / unpermute (spec §4) as one gather pass each: every thread maps one token to its
// source once, then copies that token's `width` floats in 16-byte pieces, so the index arithmetic
// is amortised over the whole H*E row and the copy runs at memory speed. Padding slots are zeros.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include "cuda_util.h"
#include "gna_native.h"

namespace gna {
namespace {

constexpr int kTokensPerBlock = 8;
constexpr int kLanes = 32;
constexpr int kVecPerLane = 8;

struct Geometry {
  int rank;
  int spatial[kMaxRank], tile[kMaxRank], dilation[kMaxRank], tilesPerDim[kMaxRank];
  int groups, tileVolume;
  long long seq, tokens;
};

// Row-major index of permuted token `s` of group `group` in the original grid, or -1 (padding).
// 32-bit arithmetic: the launcher guarantees every token index fits (64-bit division is many
// times slower and would bound the copy).
__device__ int sourceToken(const Geometry& g, int group, int s) {
  int tile = s / g.tileVolume;
  int inTile = s - tile * g.tileVolume;
  int index = 0, stride = 1;
#pragma unroll
  for (int a = kMaxRank - 1; a >= 0; a--) {
    if (a >= g.rank) continue;  // unrolled with constant indices: no local copy of `g`
    const int t = inTile % g.tile[a];
    inTile /= g.tile[a];
    const int r = tile % g.tilesPerDim[a];
    tile /= g.tilesPerDim[a];
    const int off = group % g.dilation[a];
    group /= g.dilation[a];
    const int x = (r * g.tile[a] + t) * g.dilation[a] + off;
    if (x >= g.spatial[a]) return -1;
    index += x * stride;
    stride *= g.spatial[a];
  }
  return index;
}

// Permuted (group, seq) of original token `x`.
__device__ void permutedToken(const Geometry& g, int x, int* group, int* s) {
  int tileLin = 0, tileStride = 1, inTile = 0, inStride = 1, grp = 0, grpStride = 1;
#pragma unroll
  for (int a = kMaxRank - 1; a >= 0; a--) {
    if (a >= g.rank) continue;
    const int xa = x % g.spatial[a];
    x /= g.spatial[a];
    const int u = xa / g.dilation[a];
    grp += (xa - u * g.dilation[a]) * grpStride;
    grpStride *= g.dilation[a];
    const int r = u / g.tile[a];
    tileLin += r * tileStride;
    tileStride *= g.tilesPerDim[a];
    inTile += (u - r * g.tile[a]) * inStride;
    inStride *= g.tile[a];
  }
  *group = grp;
  *s = tileLin * g.tileVolume + inTile;
}

__device__ inline void store4(float* p, float4 v) { *reinterpret_cast<float4*>(p) = v; }
__device__ inline void store4(__half* p, float4 v) {
  __half2 a = __floats2half2_rn(v.x, v.y), b = __floats2half2_rn(v.z, v.w);
  uint2 u;
  u.x = *reinterpret_cast<unsigned*>(&a);
  u.y = *reinterpret_cast<unsigned*>(&b);
  *reinterpret_cast<uint2*>(p) = u;
}
__device__ inline void store4(__nv_bfloat16* p, float4 v) {
  __nv_bfloat162 a = __floats2bfloat162_rn(v.x, v.y), b = __floats2bfloat162_rn(v.z, v.w);
  uint2 u;
  u.x = *reinterpret_cast<unsigned*>(&a);
  u.y = *reinterpret_cast<unsigned*>(&b);
  *reinterpret_cast<uint2*>(p) = u;
}
__device__ inline void store1(float* p, float v) { *p = v; }
__device__ inline void store1(__half* p, float v) { *p = __float2half_rn(v); }
__device__ inline void store1(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }

// grid (ceil(seq / 8), ceil(width / (32*4*VEC)), batch*G); block (32, 8).
template <typename T, int VEC>
__global__ void permuteKernel(Geometry g, long long width, const float* __restrict__ x,
                              T* __restrict__ y) {
  const int s = blockIdx.x * kTokensPerBlock + threadIdx.y;
  if (s >= g.seq) return;
  const int bg = blockIdx.z;
  const int b = bg / g.groups;
  const int src = sourceToken(g, bg % g.groups, s);
  T* dst = y + ((long long)bg * g.seq + s) * width;
  const float* from = src < 0 ? nullptr : x + ((long long)b * g.tokens + src) * width;
  // All loads in flight before the first store: eight independent 16-byte requests per thread.
  const long long base = (long long)blockIdx.y * kLanes * kVecPerLane * VEC;
  float4 vals[kVecPerLane];
#pragma unroll
  for (int i = 0; i < kVecPerLane; i++) {
    const long long c = base + ((long long)i * kLanes + threadIdx.x) * VEC;
    vals[i] = make_float4(0.f, 0.f, 0.f, 0.f);
    if (from != nullptr && c < width) {
      if (VEC == 4) vals[i] = __ldcs(reinterpret_cast<const float4*>(from + c));
      else vals[i].x = __ldcs(from + c);
    }
  }
#pragma unroll
  for (int i = 0; i < kVecPerLane; i++) {
    const long long c = base + ((long long)i * kLanes + threadIdx.x) * VEC;
    if (c >= width) break;
    if (VEC == 4) store4(dst + c, vals[i]);
    else store1(dst + c, vals[i].x);
  }
}

// grid (ceil(tokens / 8), ceil(width / (32*4*VEC)), batch); block (32, 8).
template <int VEC>
__global__ void unpermuteKernel(Geometry g, long long width, const float* __restrict__ y,
                                float* __restrict__ x) {
  const int t = blockIdx.x * kTokensPerBlock + threadIdx.y;
  if (t >= g.tokens) return;
  const int b = blockIdx.z;
  int group, s;
  permutedToken(g, t, &group, &s);
  const float* from = y + (((long long)b * g.groups + group) * g.seq + s) * width;
  float* dst = x + ((long long)b * g.tokens + t) * width;
  const long long base = (long long)blockIdx.y * kLanes * kVecPerLane * VEC;
  float4 vals[kVecPerLane];
#pragma unroll
  for (int i = 0; i < kVecPerLane; i++) {
    const long long c = base + ((long long)i * kLanes + threadIdx.x) * VEC;
    if (c < width) {
      if (VEC == 4) vals[i] = __ldcs(reinterpret_cast<const float4*>(from + c));
      else vals[i].x = __ldcs(from + c);
    }
  }
#pragma unroll
  for (int i = 0; i < kVecPerLane; i++) {
    const long long c = base + ((long long)i * kLanes + threadIdx.x) * VEC;
    if (c >= width) break;
    if (VEC == 4) __stcs(reinterpret_cast<float4*>(dst + c), vals[i]);
    else __stcs(dst + c, vals[i].x);
  }
}

Geometry toDevice(const PermuteGeometry& p) {
  Geometry g{};
  g.rank = p.rank;
  for (int a = 0; a < kMaxRank; a++) {
    g.spatial[a] = p.spatial[a];
    g.tile[a] = p.tile[a];
    g.dilation[a] = p.dilation[a];
    g.tilesPerDim[a] = p.tilesPerDim[a];
  }
  g.groups = p.groups;
  g.tileVolume = p.tileVolume;
  g.seq = p.seq;
  g.tokens = p.tokens;
  return g;
}

template <typename T>
Status permuteAs(const Geometry& g, int batch, long long width, const float* x, void* y) {
  const bool vec = width % 4 == 0;
  const int V = vec ? 4 : 1;
  dim3 block(kLanes, kTokensPerBlock);
  dim3 grid((unsigned)((g.seq + kTokensPerBlock - 1) / kTokensPerBlock),
            (unsigned)((width + kLanes * kVecPerLane * V - 1) / (kLanes * kVecPerLane * V)),
            (unsigned)(batch * g.groups));
  if (vec) permuteKernel<T, 4><<<grid, block>>>(g, width, x, static_cast<T*>(y));
  else permuteKernel<T, 1><<<grid, block>>>(g, width, x, static_cast<T*>(y));
  return lastLaunchStatus("GNATokenPermute");
}

Status checkGrid(const PermuteGeometry& p, int batch, long long width) {
  if (p.seq > 0x7fffffffLL - kTokensPerBlock || p.tokens > 0x7fffffffLL - kTokensPerBlock ||
      (long long)batch * p.groups > 65535 || width / (kLanes * kVecPerLane) > 65535) {
    return Status::Fail("token permute: problem too large for one launch (tokens per group < 2^31, "
                        "batch*groups <= 65535, H*E <= 16777216)");
  }
  return Status::Ok();
}

}  // namespace

Status launchTokenPermute(const PermuteGeometry& p, int batch, long long width, const float* x,
                          void* y, Elem outElem) {
  Status st = checkGrid(p, batch, width);
  if (!st.ok || batch == 0 || width == 0 || p.seq == 0) return st;
  Geometry g = toDevice(p);
  switch (outElem) {
    case Elem::F32: return permuteAs<float>(g, batch, width, x, y);
    case Elem::F16: return permuteAs<__half>(g, batch, width, x, y);
    case Elem::BF16: return permuteAs<__nv_bfloat16>(g, batch, width, x, y);
  }
  return Status::Fail("token permute: unknown element type");
}

Status launchTokenUnpermute(const PermuteGeometry& p, int batch, long long width, const float* y,
                            float* x) {
  Status st = checkGrid(p, batch, width);
  if (!st.ok || batch == 0 || width == 0 || p.tokens == 0) return st;
  Geometry g = toDevice(p);
  const bool vec = width % 4 == 0;
  const int V = vec ? 4 : 1;
  dim3 block(kLanes, kTokensPerBlock);
  dim3 grid((unsigned)((g.tokens + kTokensPerBlock - 1) / kTokensPerBlock),
            (unsigned)((width + kLanes * kVecPerLane * V - 1) / (kLanes * kVecPerLane * V)),
            (unsigned)batch);
  if (vec) unpermuteKernel<4><<<grid, block>>>(g, width, y, x);
  else unpermuteKernel<1><<<grid, block>>>(g, width, y, x);
  return lastLaunchStatus("GNATokenUnpermute");
}

}  // namespace gna

// Float32 GNA on the original (unpermuted) layout, one warp per row: the exact path behind the
// 'float32' precision and the fallback for head dims the tensor-core kernel does not cover. Each
// query walks the box of its window (per-axis intervals from the host-built window tables, i.e.
// from src/window.ts); dK/dV walk each key's inverse neighbourhood box (spec §1.7), which is exact
// per axis, so the backward needs no atomics.
#include "cuda_util.h"
#include "gna_native.h"

namespace gna {
namespace {

constexpr int kWarpsPerBlock = 8;
constexpr int kMaxPerLane = 8;  // head dims up to 256

struct Shape {
  int rank, batch, heads, kvHeads, headDim, valueDim;
  int spatial[kMaxRank], dilation[kMaxRank], extent[kMaxRank], offset[kMaxRank];
  long long tokens;
  float scale;
};

__device__ inline float warpSum(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// A box of in-group positions per axis and the dilation offset to map them back to the grid.
struct Box {
  int lo[kMaxRank], hi[kMaxRank], group[kMaxRank];
  long long stride[kMaxRank];
};

// `forward` picks the window (fields x, y) or the inverse neighbourhood (fields z, w) of token t.
__device__ Box boxOf(const Shape& s, const int4* tables, long long t, bool forward) {
  Box box;
  long long stride = 1;
  for (int a = kMaxRank - 1; a >= 0; a--) {
    if (a >= s.rank) {
      box.lo[a] = 0; box.hi[a] = 1; box.group[a] = 0; box.stride[a] = 0;
      continue;
    }
    int x = (int)(t % s.spatial[a]);
    t /= s.spatial[a];
    int g = x % s.dilation[a];
    int4 e = tables[s.offset[a] + g * s.extent[a] + x / s.dilation[a]];
    box.lo[a] = forward ? e.x : e.z;
    box.hi[a] = forward ? e.y : e.w;
    box.group[a] = g;
    box.stride[a] = stride;
    stride *= s.spatial[a];
  }
  return box;
}

__device__ inline long long boxToken(const Box& b, const Shape& s, int i0, int i1, int i2) {
  long long t = 0;
  const int idx[kMaxRank] = {i0, i1, i2};
#pragma unroll
  for (int a = 0; a < kMaxRank; a++) {
    if (a < s.rank) t += (long long)(idx[a] * s.dilation[a] + b.group[a]) * b.stride[a];
  }
  return t;
}

#define FOR_BOX(box, s, TOKEN, ...)                                   \
  for (int i0 = box.lo[0]; i0 < box.hi[0]; i0++)                      \
    for (int i1 = box.lo[1]; i1 < box.hi[1]; i1++)                    \
      for (int i2 = box.lo[2]; i2 < box.hi[2]; i2++) {                \
        const long long TOKEN = boxToken(box, s, i0, i1, i2);         \
        __VA_ARGS__                                                   \
      }

__device__ inline void loadRow(float* r, const float* p, int dim, int lane) {
#pragma unroll
  for (int i = 0; i < kMaxPerLane; i++) {
    int d = lane + 32 * i;
    r[i] = d < dim ? p[d] : 0.f;
  }
}

__device__ inline float dotRow(const float* r, const float* p, int dim, int lane) {
  float acc = 0.f;
#pragma unroll
  for (int i = 0; i < kMaxPerLane; i++) {
    int d = lane + 32 * i;
    if (d < dim) acc += r[i] * p[d];
  }
  return warpSum(acc);
}

__global__ void forwardKernel(Shape s, const int4* __restrict__ tables, const float* __restrict__ q,
                              const float* __restrict__ k, const float* __restrict__ v,
                              float* __restrict__ out, float* __restrict__ lse) {
  long long row = (long long)blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= (long long)s.batch * s.tokens * s.heads) return;
  const int h = (int)(row % s.heads);
  const long long bt = row / s.heads;
  const long long b = bt / s.tokens, t = bt % s.tokens;
  const int hk = h / (s.heads / s.kvHeads);
  float qr[kMaxPerLane], acc[kMaxPerLane];
  loadRow(qr, q + row * s.headDim, s.headDim, lane);
#pragma unroll
  for (int i = 0; i < kMaxPerLane; i++) acc[i] = 0.f;
  float m = -INFINITY, l = 0.f;
  Box box = boxOf(s, tables, t, true);
  FOR_BOX(box, s, key, {
    const long long kv = (b * s.tokens + key) * s.kvHeads + hk;
    float score = dotRow(qr, k + kv * s.headDim, s.headDim, lane) * s.scale;
    float mNew = fmaxf(m, score);
    float alpha = __expf(m - mNew), p = __expf(score - mNew);
    l = l * alpha + p;
    const float* vr = v + kv * s.valueDim;
#pragma unroll
    for (int i = 0; i < kMaxPerLane; i++) {
      int e = lane + 32 * i;
      acc[i] = acc[i] * alpha + (e < s.valueDim ? p * vr[e] : 0.f);
    }
    m = mNew;
  })
  const float inv = 1.f / l;
#pragma unroll
  for (int i = 0; i < kMaxPerLane; i++) {
    int e = lane + 32 * i;
    if (e < s.valueDim) out[row * s.valueDim + e] = acc[i] * inv;
  }
  if (lane == 0) lse[row] = m + logf(l);
}

// dq and delta = rowsum(dO * O) - dLse for one query row.
__global__ void backwardQueryKernel(Shape s, const int4* __restrict__ tables,
                                    const float* __restrict__ q, const float* __restrict__ k,
                                    const float* __restrict__ v, const float* __restrict__ out,
                                    const float* __restrict__ lse, const float* __restrict__ dOut,
                                    const float* __restrict__ dLse, float* __restrict__ delta,
                                    float* __restrict__ dq) {
  long long row = (long long)blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= (long long)s.batch * s.tokens * s.heads) return;
  const int h = (int)(row % s.heads);
  const long long bt = row / s.heads;
  const long long b = bt / s.tokens, t = bt % s.tokens;
  const int hk = h / (s.heads / s.kvHeads);
  float qr[kMaxPerLane], dor[kMaxPerLane], dqr[kMaxPerLane];
  loadRow(qr, q + row * s.headDim, s.headDim, lane);
  loadRow(dor, dOut + row * s.valueDim, s.valueDim, lane);
  const float dl = dotRow(dor, out + row * s.valueDim, s.valueDim, lane) - dLse[row];
  const float lr = lse[row];
#pragma unroll
  for (int i = 0; i < kMaxPerLane; i++) dqr[i] = 0.f;
  Box box = boxOf(s, tables, t, true);
  FOR_BOX(box, s, key, {
    const long long kv = (b * s.tokens + key) * s.kvHeads + hk;
    const float* kr = k + kv * s.headDim;
    float p = __expf(dotRow(qr, kr, s.headDim, lane) * s.scale - lr);
    float dp = dotRow(dor, v + kv * s.valueDim, s.valueDim, lane);
    float ds = p * (dp - dl) * s.scale;
#pragma unroll
    for (int i = 0; i < kMaxPerLane; i++) {
      int d = lane + 32 * i;
      if (d < s.headDim) dqr[i] += ds * kr[d];
    }
  })
#pragma unroll
  for (int i = 0; i < kMaxPerLane; i++) {
    int d = lane + 32 * i;
    if (d < s.headDim) dq[row * s.headDim + d] = dqr[i];
  }
  if (lane == 0) delta[row] = dl;
}

// dk, dv for one key row: sums over the query heads of its GQA group and the queries of its
// inverse neighbourhood.
__global__ void backwardKeyKernel(Shape s, const int4* __restrict__ tables,
                                  const float* __restrict__ q, const float* __restrict__ k,
                                  const float* __restrict__ v, const float* __restrict__ lse,
                                  const float* __restrict__ dOut, const float* __restrict__ delta,
                                  float* __restrict__ dk, float* __restrict__ dv) {
  long long row = (long long)blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= (long long)s.batch * s.tokens * s.kvHeads) return;
  const int hk = (int)(row % s.kvHeads);
  const long long bt = row / s.kvHeads;
  const long long b = bt / s.tokens, t = bt % s.tokens;
  const int group = s.heads / s.kvHeads;
  float kr[kMaxPerLane], vr[kMaxPerLane], dkr[kMaxPerLane], dvr[kMaxPerLane];
  loadRow(kr, k + row * s.headDim, s.headDim, lane);
  loadRow(vr, v + row * s.valueDim, s.valueDim, lane);
#pragma unroll
  for (int i = 0; i < kMaxPerLane; i++) dkr[i] = dvr[i] = 0.f;
  Box box = boxOf(s, tables, t, false);
  for (int h = hk * group; h < (hk + 1) * group; h++) {
    FOR_BOX(box, s, query, {
      const long long qrow = (b * s.tokens + query) * s.heads + h;
      const float* qp = q + qrow * s.headDim;
      const float* dop = dOut + qrow * s.valueDim;
      float p = __expf(dotRow(kr, qp, s.headDim, lane) * s.scale - lse[qrow]);
      float dp = dotRow(vr, dop, s.valueDim, lane);
      float ds = p * (dp - delta[qrow]) * s.scale;
#pragma unroll
      for (int i = 0; i < kMaxPerLane; i++) {
        int d = lane + 32 * i;
        if (d < s.headDim) dkr[i] += ds * qp[d];
        if (d < s.valueDim) dvr[i] += p * dop[d];
      }
    })
  }
#pragma unroll
  for (int i = 0; i < kMaxPerLane; i++) {
    int d = lane + 32 * i;
    if (d < s.headDim) dk[row * s.headDim + d] = dkr[i];
    if (d < s.valueDim) dv[row * s.valueDim + d] = dvr[i];
  }
}

Status toShape(const GnaShape& g, const WindowTables& w, Shape* s) {
  if (g.headDim > 32 * kMaxPerLane || g.valueDim > 32 * kMaxPerLane) {
    return Status::Fail("float32 GNA kernel: headDim and valueDim must be <= 256");
  }
  *s = Shape{};
  s->rank = g.rank; s->batch = g.batch; s->heads = g.heads; s->kvHeads = g.kvHeads;
  s->headDim = g.headDim; s->valueDim = g.valueDim; s->scale = g.scale;
  s->tokens = 1;
  for (int a = 0; a < kMaxRank; a++) {
    s->spatial[a] = a < g.rank ? g.spatial[a] : 1;
    s->dilation[a] = a < g.rank ? g.dilation[a] : 1;
    s->extent[a] = w.extent[a];
    s->offset[a] = w.offset[a];
    s->tokens *= s->spatial[a];
  }
  return Status::Ok();
}

unsigned blocksFor(long long rows) {
  return (unsigned)((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
}

Status checkRows(long long rows) {
  if ((rows + kWarpsPerBlock - 1) / kWarpsPerBlock > 0x7fffffffLL) {
    return Status::Fail("float32 GNA kernel: batch*tokens*heads too large for one launch");
  }
  return Status::Ok();
}

}  // namespace

Status launchGnaForwardF32(const GnaShape& g, const WindowTables& w, const float* q,
                           const float* k, const float* v, float* out, float* lse) {
  Shape s;
  Status st = toShape(g, w, &s);
  if (!st.ok) return st;
  long long rows = (long long)s.batch * s.tokens * s.heads;
  st = checkRows(rows);
  if (!st.ok || rows == 0) return st;
  forwardKernel<<<blocksFor(rows), kWarpsPerBlock * 32>>>(
      s, reinterpret_cast<const int4*>(w.device), q, k, v, out, lse);
  return lastLaunchStatus("GNA forward (float32)");
}

Status launchGnaBackwardF32(const GnaShape& g, const WindowTables& w, const float* q,
                            const float* k, const float* v, const float* out, const float* lse,
                            const float* dOut, const float* dLse, float* delta, float* dq,
                            float* dk, float* dv) {
  Shape s;
  Status st = toShape(g, w, &s);
  if (!st.ok) return st;
  long long qRows = (long long)s.batch * s.tokens * s.heads;
  long long kRows = (long long)s.batch * s.tokens * s.kvHeads;
  st = checkRows(qRows);
  if (!st.ok || qRows == 0) return st;
  const int4* tables = reinterpret_cast<const int4*>(w.device);
  backwardQueryKernel<<<blocksFor(qRows), kWarpsPerBlock * 32>>>(s, tables, q, k, v, out, lse,
                                                                  dOut, dLse, delta, dq);
  st = lastLaunchStatus("GNA backward dq (float32)");
  if (!st.ok) return st;
  backwardKeyKernel<<<blocksFor(kRows), kWarpsPerBlock * 32>>>(s, tables, q, k, v, lse, dOut,
                                                                delta, dk, dv);
  return lastLaunchStatus("GNA backward dk/dv (float32)");
}

}  // namespace gna

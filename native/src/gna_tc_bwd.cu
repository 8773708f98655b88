// Host side of the tensor-core backward: the δ = rowsum(dO ∘ O) − dLse pre-pass, the kernel
// parameters from the validated plan, and the float16 instantiations.
#include "gna_tc_bwd.cuh"

namespace gna {
namespace {

constexpr int kDeltaWarps = 8;

// One warp per row, on the original layout (float32, like the inputs it reads).
__global__ void deltaKernel(long long rows, int valueDim, const float* __restrict__ out,
                            const float* __restrict__ dOut, const float* __restrict__ dLse,
                            float* __restrict__ delta) {
  const long long row = (long long)blockIdx.x * kDeltaWarps + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  float acc = 0.f;
  for (int e = lane; e < valueDim; e += 32) acc += out[row * valueDim + e] * dOut[row * valueDim + e];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
  if (lane == 0) delta[row] = acc - dLse[row];
}

}  // namespace

namespace tc {
Status launchBackwardF16(const BwdParams& p, unsigned batchGroups, int headDim) {
  return launchBackwardFor<__half>(p, batchGroups, headDim);
}
}  // namespace tc

Status launchGnaBackwardDelta(long long rows, int valueDim, const float* out, const float* dOut,
                              const float* dLse, float* delta) {
  if (rows == 0) return Status::Ok();
  const long long blocks = (rows + kDeltaWarps - 1) / kDeltaWarps;
  if (blocks > 0x7fffffffLL) return Status::Fail("GNA backward: too many rows for one launch");
  deltaKernel<<<(unsigned)blocks, kDeltaWarps * 32>>>(rows, valueDim, out, dOut, dLse, delta);
  return lastLaunchStatus("GNA backward delta");
}

Status launchGnaBackwardTensorCore(const GnaShape& s, const WindowTables& w, const TilePlan& plan,
                                   Elem elem, const void* q, const void* k, const void* v,
                                   const void* dOut, const float* lse, const float* delta,
                                   float* dq, float* dk, float* dv) {
  if (!tensorCoreSupports(s.headDim, s.valueDim, plan.qVolume, plan.kvVolume)) {
    return Status::Fail("GNA tensor-core backward: unsupported headDim/valueDim/tile volume");
  }
  if (elem != Elem::BF16 && elem != Elem::F16) {
    return Status::Fail("GNA tensor-core backward: operands must be float16 or bfloat16");
  }
  int groups = 1;
  for (int a = 0; a < s.rank; a++) groups *= s.dilation[a];
  if ((long long)s.batch * groups > 65535 || s.heads > 65535) {
    return Status::Fail("GNA tensor-core backward: batch*dilationGroups and heads must be <= 65535");
  }
  if (s.batch == 0 || plan.qTiles == 0) return Status::Ok();
  tc::BwdParams p{};
  p.q = q; p.k = k; p.v = v; p.dOut = dOut; p.lse = lse; p.delta = delta;
  p.dq = dq; p.dk = dk; p.dv = dv;
  tc::fillTiling(p, s, w, plan, groups);
  p.scale = s.scale;
  p.inverseRanges = plan.inverseRanges; p.inverseEntries = plan.inverseEntries;
  p.kvTiles = plan.kvTiles;
  p.qVolume = plan.qVolume;
  const unsigned batchGroups = (unsigned)(s.batch * groups);
  return elem == Elem::BF16 ? tc::launchBackwardBf16(p, batchGroups, s.headDim)
                            : tc::launchBackwardF16(p, batchGroups, s.headDim);
}

}  // namespace gna

// Host side of the tensor-core forward: turns the validated plan into kernel parameters and picks
// the instantiation for the element type, head dim and Q tile volume.
#include <cmath>
#include "gna_tc.cuh"
#include "gna_wgmma.h"

namespace gna {

bool wgmmaApplies(Elem elem, int headDim, int qVolume, int kvVolume) {
  return tc::wgmmaSupports(elem, headDim, qVolume, kvVolume) && tc::wgmmaAvailable();
}

bool tensorCoreSupports(int headDim, int valueDim, int qVolume, int kvVolume) {
  return headDim == valueDim && (headDim == 32 || headDim == 64 || headDim == 128) &&
         (qVolume == 64 || qVolume == 128) && kvVolume % tc::kChunk == 0 && kvVolume <= 1024;
}

Status launchGnaForwardTensorCore(const GnaShape& s, const WindowTables& w, const TilePlan& plan,
                                  Elem elem, int rowsPerWarp, TcKernel kernel,
                                  const WgmmaConfig& config, const void* q, const void* k,
                                  const void* v, float* out, float* lse) {
  if (!tensorCoreSupports(s.headDim, s.valueDim, plan.qVolume, plan.kvVolume)) {
    return Status::Fail("GNA tensor-core forward: unsupported headDim/valueDim/tile volume");
  }
  int groups = 1;
  for (int a = 0; a < s.rank; a++) groups *= s.dilation[a];
  if ((long long)s.batch * groups > 65535 || s.heads > 65535) {
    return Status::Fail("GNA tensor-core forward: batch*dilationGroups and heads must be <= 65535");
  }
  if (rowsPerWarp != 16 && rowsPerWarp != 32) {
    return Status::Fail("GNA tensor-core forward: rowsPerWarp must be 16 or 32");
  }
  if (s.batch == 0 || plan.qTiles == 0) return Status::Ok();
  tc::Params p{};
  p.q = q; p.k = k; p.v = v; p.out = out; p.lse = lse;
  tc::fillTiling(p, s, w, plan, groups);
  p.batchGroups = s.batch * groups;
  p.pingpong = config.schedule == WgmmaSchedule::Pingpong;
  p.tokens = 1;
  for (int a = 0; a < kMaxRank; a++) {
    p.spatial[a] = a < s.rank ? s.spatial[a] : 1;
    p.tokens *= p.spatial[a];
  }
  p.qNatural = config.qNatural;
  dim3 grid((unsigned)plan.qTiles, (unsigned)s.heads, (unsigned)(s.batch * groups));
  const bool wgmma = wgmmaApplies(elem, s.headDim, plan.qVolume, plan.kvVolume);
  if (kernel == TcKernel::Wgmma && !wgmma) {
    return Status::Fail("GNA tensor-core forward: the wgmma kernel needs an sm_90 device, bfloat16, "
                        "head dim 128, 64- or 128-token Q tiles and KV tiles of 64 to 512 tokens "
                        "in steps of 64");
  }
  if (config.qNatural && (!wgmma || kernel == TcKernel::Mma)) {
    return Status::Fail("GNA tensor-core forward: q in the original layout (qNatural) needs the "
                        "wgmma kernel");
  }
  if (config.kNatural != nullptr &&
      (!config.qNatural || plan.qVolume != 128 || config.vNatural == nullptr ||
       config.castState == nullptr)) {
    return Status::Fail("GNA tensor-core forward: the fused K/V cast (kNatural) needs the wgmma "
                        "kernel with 128-token Q tiles, q in the original layout (qNatural), "
                        "vNatural and the cast state");
  }
  p.kNatural = config.kNatural;
  p.vNatural = config.vNatural;
  p.castState = config.castState;
  if (wgmma && kernel != TcKernel::Mma) {
    if (!plan.wgmmaMasks) {
      return Status::Fail("GNA tensor-core forward: the plan has no wgmma masks");
    }
    p.masks = plan.masks;
    p.maskIndex = plan.maskIndex;
    return tc::launchWgmmaBf16(p, plan.qVolume, config.persistent);
  }
  switch (elem) {
    case Elem::BF16: return tc::launchBf16(p, grid, s.headDim, plan.qVolume, rowsPerWarp);
    case Elem::F16: return tc::launchF16(p, grid, s.headDim, plan.qVolume, rowsPerWarp);
    case Elem::F32: return tc::launchTf32(p, grid, s.headDim, plan.qVolume);
  }
  return Status::Fail("GNA tensor-core forward: unknown element type");
}

}  // namespace gna

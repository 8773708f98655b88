// Hopper wgmma forward (gna_wgmma.cu): same Params and plan as the mma.sync kernel.
#pragma once
#include "gna_tc.cuh"

namespace gna {
namespace tc {
constexpr int kWgmmaHeadDim = 128;
// Keys per chunk of the kernel instantiation for these tile volumes: 128 for 128-token Q tiles
// over KV tiles of a multiple of 128 tokens, else 64.
constexpr int wgmmaChunk(int qVolume, int kvVolume) {
  return qVolume == 128 && kvVolume % 128 == 0 ? 128 : 64;
}
// Whether this process's device runs the sm_90a kernel (compute capability 9.0).
bool wgmmaAvailable();
// bf16 operands, head dim 128, 64- or 128-token Q tiles, KV tiles of 64 to 512 tokens in steps
// of 64.
bool wgmmaSupports(Elem elem, int headDim, int qVolume, int kvVolume);
// persistent: a grid of the CTAs resident at once, each looping over work items; else one CTA
// per (Q tile, head, batch*group).
Status launchWgmmaBf16(const Params& p, int qVolume, bool persistent);
}  // namespace tc
}  // namespace gna

// bfloat16 instantiations of the tensor-core backward (own file: compiles in parallel).
#include "gna_tc_bwd.cuh"
namespace gna {
namespace tc {
Status launchBackwardBf16(const BwdParams& p, unsigned batchGroups, int headDim) {
  return launchBackwardFor<__nv_bfloat16>(p, batchGroups, headDim);
}
}  // namespace tc
}  // namespace gna

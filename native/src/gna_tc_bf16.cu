// bfloat16 instantiations of the tensor-core forward (own file: compiles in parallel).
#include "gna_tc.cuh"
namespace gna {
namespace tc {
Status launchBf16(const Params& p, dim3 grid, int headDim, int qVolume, int rowsPerWarp) {
  return launchFor<__nv_bfloat16>(p, grid, headDim, qVolume, rowsPerWarp);
}
}  // namespace tc
}  // namespace gna

// float16 instantiations of the tensor-core forward (own file: compiles in parallel).
#include "gna_tc.cuh"
namespace gna {
namespace tc {
Status launchF16(const Params& p, dim3 grid, int headDim, int qVolume, int rowsPerWarp) {
  return launchFor<__half>(p, grid, headDim, qVolume, rowsPerWarp);
}
}  // namespace tc
}  // namespace gna

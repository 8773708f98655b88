// Data-movement kernels: one strided copy serves Transpose, Slice, StridedSlice, SplitV and each
// input of Concat (the offsets and strides carry the op), plus GatherV2 along one axis.
#include <cuda_runtime.h>
#include "op_shape.cuh"

namespace gna {
namespace {

template <class T, class I>
__global__ void stridedCopyKernel(Collapsed<2> c, const T* x, T* y) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < c.size;
       i += (int64_t)gridDim.x * blockDim.x) {
    int64_t off[2];
    offsetsOf<I>(c, (I)i, off);
    y[off[1]] = x[off[0]];
  }
}

template <class T>
__global__ void gatherKernel(int64_t outer, int64_t axisSize, int64_t inner, int64_t nIdx,
                             const T* x, const int32_t* idx, T* y) {
  const int64_t n = outer * nIdx * inner;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t in = i % inner;
    const int64_t j = (i / inner) % nIdx;
    const int64_t o = i / (inner * nIdx);
    const int32_t s = idx[j];
    // The caller validated the indices; the guard keeps a stale buffer from reading outside x.
    y[i] = (s >= 0 && s < axisSize) ? x[(o * axisSize + s) * inner + in] : T(0);
  }
}

template <class T>
void stridedCopy(const Collapsed<2>& c, const void* x, int64_t so, void* y, int64_t dof) {
  auto px = static_cast<const T*>(x) + so;
  auto py = static_cast<T*>(y) + dof;
  if (fits32(c)) stridedCopyKernel<T, int32_t><<<gridFor(c.size, 256), 256>>>(c, px, py);
  else stridedCopyKernel<T, int64_t><<<gridFor(c.size, 256), 256>>>(c, px, py);
}

}  // namespace

Status launchStridedCopy(int elemBytes, const int64_t* shape, int64_t srcOffset,
                         const int64_t* srcStride, int64_t dstOffset, const int64_t* dstStride,
                         const void* x, void* y) {
  const int64_t* strides[2] = {srcStride, dstStride};
  Collapsed<2> c = collapse<2>(shape, strides);
  if (c.size == 0) return Status::Ok();
  if (elemBytes == 4) stridedCopy<uint32_t>(c, x, srcOffset, y, dstOffset);
  else stridedCopy<uint8_t>(c, x, srcOffset, y, dstOffset);
  return lastLaunchStatus("strided copy");
}

Status launchGather(int elemBytes, int64_t outer, int64_t axisSize, int64_t inner, int64_t nIdx,
                    const void* x, const int32_t* idx, void* y) {
  const int64_t n = outer * nIdx * inner;
  if (n == 0) return Status::Ok();
  if (elemBytes == 4) {
    gatherKernel<uint32_t><<<gridFor(n, 256), 256>>>(outer, axisSize, inner, nIdx,
        static_cast<const uint32_t*>(x), idx, static_cast<uint32_t*>(y));
  } else {
    gatherKernel<uint8_t><<<gridFor(n, 256), 256>>>(outer, axisSize, inner, nIdx,
        static_cast<const uint8_t*>(x), idx, static_cast<uint8_t*>(y));
  }
  return lastLaunchStatus("gather");
}

}  // namespace gna

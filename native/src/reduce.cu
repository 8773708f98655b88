// Row reductions (the caller moves reduced axes last) and the row softmax. Sums accumulate in
// float64 so that Sum/Mean match the CPU backend, which accumulates in JS numbers.
#include <cuda_runtime.h>
#include <cfloat>
#include "op_shape.cuh"

namespace gna {
namespace {

constexpr int kThreads = 256;

unsigned rowGrid(int64_t rows) { return (unsigned)(rows < 65535 ? rows : 65535); }

template <class Acc>
struct Reducer {
  ReduceOp op;
  __device__ Acc identity() const {
    switch (op) {
      case ReduceOp::Max: return -INFINITY;
      case ReduceOp::Min: return INFINITY;
      case ReduceOp::Prod: return 1;
      default: return 0;
    }
  }
  __device__ Acc combine(Acc a, Acc b) const {
    switch (op) {
      // NaN propagates, as in the CPU kernels' comparisons-with-NaN outcome.
      case ReduceOp::Max: return (a != a || b != b) ? a + b : (a > b ? a : b);
      case ReduceOp::Min: return (a != a || b != b) ? a + b : (a < b ? a : b);
      case ReduceOp::Prod: return a * b;
      default: return a + b;
    }
  }
};

template <class Acc>
__device__ Acc blockReduce(Acc v, const Reducer<Acc>& r, Acc* shared) {
  for (int o = 16; o > 0; o >>= 1) v = r.combine(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < (int)(blockDim.x / 32) ? shared[lane] : r.identity();
    for (int o = 16; o > 0; o >>= 1) v = r.combine(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (lane == 0) shared[0] = v;
  }
  __syncthreads();
  return shared[0];
}

// One block per row. float32 rows accumulate sums in double, max/min exactly in float.
template <class T, class Acc>
__global__ void reduceRowsKernel(ReduceOp op, int64_t rows, int64_t cols, const T* x, T* y) {
  __shared__ Acc shared[32];
  const Reducer<Acc> r{op};
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* p = x + row * cols;
    Acc v = r.identity();
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) v = r.combine(v, (Acc)p[j]);
    v = blockReduce(v, r, shared);
    if (threadIdx.x == 0) {
      if (op == ReduceOp::Mean) v = v / (Acc)cols;
      y[row] = (T)v;
    }
  }
}

// One warp per row, for short rows (per-head norms reduce 128 values): no block barriers.
template <class T, class Acc>
__global__ void reduceShortRowsKernel(ReduceOp op, int64_t rows, int64_t cols, const T* x, T* y) {
  const Reducer<Acc> r{op};
  const int lane = threadIdx.x % 32, warps = blockDim.x / 32;
  for (int64_t row = (int64_t)blockIdx.x * warps + threadIdx.x / 32; row < rows;
       row += (int64_t)gridDim.x * warps) {
    const T* p = x + row * cols;
    Acc v = r.identity();
    for (int64_t j = lane; j < cols; j += 32) v = r.combine(v, (Acc)p[j]);
    for (int o = 16; o > 0; o >>= 1) v = r.combine(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (lane == 0) y[row] = (T)(op == ReduceOp::Mean ? v / (Acc)cols : v);
  }
}

template <class Acc>
void reduceRows(ReduceOp op, int64_t rows, int64_t cols, const float* x, float* y) {
  if (cols <= 1024) {
    const int64_t blocks = (rows + kThreads / 32 - 1) / (kThreads / 32);
    reduceShortRowsKernel<float, Acc><<<(unsigned)(blocks < 65535 ? blocks : 65535), kThreads>>>(
        op, rows, cols, x, y);
  } else {
    reduceRowsKernel<float, Acc><<<rowGrid(rows), kThreads>>>(op, rows, cols, x, y);
  }
}

__global__ void softmaxRowsKernel(int64_t rows, int64_t cols, const float* x, float* y) {
  __shared__ float sharedF[32];
  __shared__ double sharedD[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* p = x + row * cols;
    float* q = y + row * cols;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) m = fmaxf(m, p[j]);
    m = blockReduce(m, Reducer<float>{ReduceOp::Max}, sharedF);
    double s = 0;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += (double)expf(p[j] - m);
    s = blockReduce(s, Reducer<double>{ReduceOp::Sum}, sharedD);
    const float inv = (float)(1.0 / s);
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) q[j] = expf(p[j] - m) * inv;
  }
}

}  // namespace

Status launchReduceRows(ReduceOp op, DType t, int64_t rows, int64_t cols, const void* x, void* y) {
  if (rows == 0) return Status::Ok();
  const bool sum = op == ReduceOp::Sum || op == ReduceOp::Mean || op == ReduceOp::Prod;
  auto px = static_cast<const float*>(x);
  auto py = static_cast<float*>(y);
  if (t == DType::F32 && sum) {
    reduceRows<double>(op, rows, cols, px, py);
  } else if (t == DType::F32) {
    reduceRows<float>(op, rows, cols, px, py);
  } else {
    return Status::Fail("reduce: only float32 is reduced natively");
  }
  return lastLaunchStatus("reduce rows");
}

Status launchSoftmaxRows(int64_t rows, int64_t cols, const float* x, float* y) {
  if (rows == 0 || cols == 0) return Status::Ok();
  softmaxRowsKernel<<<rowGrid(rows), kThreads>>>(rows, cols, x, y);
  return lastLaunchStatus("softmax");
}

}  // namespace gna

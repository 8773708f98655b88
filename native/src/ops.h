// Launchers of the generic tensor kernels of the `cuda` backend (elementwise, copies, reductions,
// matmul). Shapes arrive already validated and padded to kOpRank by ops_api.cc; every launcher
// returns the launch status, never aborts.
#pragma once
#include <cstdint>
#include "gna_native.h"

namespace gna {

constexpr int kOpRank = 6;  // tfjs ops the backend runs natively: rank <= 6

// Shape and element strides of one operand, padded at the front with size-1 dims.
struct Strided {
  int64_t shape[kOpRank];
  int64_t stride[kOpRank];
};

enum class BinaryOp : int { Add = 0, Sub, Mul, Div, Max, Min, Pow, SquaredDiff };
enum class UnaryOp : int {
  Exp = 0, Log, Sqrt, Rsqrt, Square, Tanh, Erf, Sigmoid, Neg, Softplus, Relu, Abs, Reciprocal
};
enum class DType : int { F32 = 0, I32 = 1, Bool = 2 };
enum class ReduceOp : int { Sum = 0, Mean, Max, Min, Prod };

// out[i] = a[i] op b[i] over the broadcast shape `out.shape`; a/b strides are 0 on broadcast dims.
Status launchBinary(BinaryOp op, DType t, const Strided& out, const int64_t* aStride,
                    const int64_t* bStride, const void* a, const void* b, void* y);
Status launchUnary(UnaryOp op, int64_t n, const float* x, float* y);
Status launchCast(DType from, DType to, int64_t n, const void* x, void* y);
// Fills n elements of elemBytes (1 or 4) with the low bytes of `bits`.
Status launchFill(int elemBytes, int64_t n, uint32_t bits, void* y);
// y[dstOffset + sum i_d dstStride_d] = x[srcOffset + sum i_d srcStride_d] over `shape`.
Status launchStridedCopy(int elemBytes, const int64_t* shape, int64_t srcOffset,
                         const int64_t* srcStride, int64_t dstOffset, const int64_t* dstStride,
                         const void* x, void* y);
// Reduces each contiguous row of `cols` values of x[rows, cols] into y[rows].
Status launchReduceRows(ReduceOp op, DType t, int64_t rows, int64_t cols, const void* x, void* y);
Status launchSoftmaxRows(int64_t rows, int64_t cols, const float* x, float* y);
// y[o, j, i] = x[o, idx[j], i]; out-of-range indices were rejected by the caller.
Status launchGather(int elemBytes, int64_t outer, int64_t axisSize, int64_t inner, int64_t nIdx,
                    const void* x, const int32_t* idx, void* y);

enum class GemmPrecision : int { F32 = 0, TF32 = 1, BF16 = 2 };
enum class Activation : int { Linear = 0, Relu, Relu6, Sigmoid, LeakyRelu, Elu };

constexpr int kGemmBatchRank = 4;

// C[b] = act(op(A[b]) op(B[b]) + bias): A element (m, k) at a + aBatch + m*sAm + k*sAk, B element
// (k, n) at b + bBatch + k*sBk + n*sBn, C row-major [batch, m, n]. Batch offsets come from the
// output batch index through per-dim strides (0 on broadcast dims).
struct GemmArgs {
  const float* a;
  const float* b;
  const float* bias;  // biasMode 1: bias[n]; 2: bias[0]
  float* c;
  int m, n, k;
  int64_t sAm, sAk, sBk, sBn;
  int batchRank;
  int batchShape[kGemmBatchRank];
  int64_t aBatch[kGemmBatchRank], bBatch[kGemmBatchRank];
  int batch;
  int biasMode;
  Activation act;
  float alpha;
};

Status launchGemm(const GemmArgs& g, GemmPrecision p);

}  // namespace gna

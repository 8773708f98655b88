// Elementwise kernels: broadcasting binary ops (float32, int32), float32 unary math, casts and
// fills. Math follows the tfjs CPU kernels' definitions (e.g. Softplus's thresholds) in float32.
#include <cuda_runtime.h>
#include "op_shape.cuh"

namespace gna {
namespace {

template <class T>
__device__ __forceinline__ T applyBinary(BinaryOp op, T a, T b);

template <>
__device__ __forceinline__ float applyBinary<float>(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    // tfjs CPU: NaN when either side is NaN.
    case BinaryOp::Max: return (a != a || b != b) ? __int_as_float(0x7fc00000) : (a > b ? a : b);
    case BinaryOp::Min: return (a != a || b != b) ? __int_as_float(0x7fc00000) : (a < b ? a : b);
    case BinaryOp::Pow: return powf(a, b);
    case BinaryOp::SquaredDiff: return (a - b) * (a - b);
  }
  return 0;
}

template <>
__device__ __forceinline__ int applyBinary<int>(BinaryOp op, int a, int b) {
  // Wrapping two's-complement arithmetic, as Int32Array stores of JS results do.
  const unsigned ua = (unsigned)a, ub = (unsigned)b;
  switch (op) {
    case BinaryOp::Add: return (int)(ua + ub);
    case BinaryOp::Sub: return (int)(ua - ub);
    case BinaryOp::Mul: return (int)(ua * ub);
    case BinaryOp::Max: return a > b ? a : b;
    case BinaryOp::Min: return a < b ? a : b;
    case BinaryOp::SquaredDiff: return (int)((ua - ub) * (ua - ub));
    default: return 0;  // Div and Pow are not offered for int32 (ops_api.cc)
  }
}

template <class T, class I>
__global__ void binaryKernel(BinaryOp op, Collapsed<3> c, const T* a, const T* b, T* y) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < c.size;
       i += (int64_t)gridDim.x * blockDim.x) {
    int64_t off[3];
    offsetsOf<I>(c, (I)i, off);
    y[off[2]] = applyBinary<T>(op, a[off[0]], b[off[1]]);
  }
}

__device__ __forceinline__ float applyUnary(UnaryOp op, float x) {
  switch (op) {
    case UnaryOp::Exp: return expf(x);
    case UnaryOp::Log: return logf(x);
    case UnaryOp::Sqrt: return sqrtf(x);
    case UnaryOp::Rsqrt: return 1.0f / sqrtf(x);
    case UnaryOp::Square: return x * x;
    case UnaryOp::Tanh: return tanhf(x);
    case UnaryOp::Erf: return erff(x);
    case UnaryOp::Sigmoid: return 1.0f / (1.0f + expf(-x));
    case UnaryOp::Neg: return -x;
    case UnaryOp::Softplus: {
      // tfjs: exp(x) below log(eps)+2, x above -(log(eps)+2), else log(1 + exp(x)).
      const float threshold = -13.9423847f;  // log(2^-23) + 2
      if (x > -threshold) return x;
      if (x < threshold) return expf(x);
      return log1pf(expf(x));
    }
    case UnaryOp::Relu: return x < 0.0f ? 0.0f : x;  // NaN passes through, as on the CPU
    case UnaryOp::Abs: return fabsf(x);
    case UnaryOp::Reciprocal: return 1.0f / x;
  }
  return 0;
}

__global__ void unaryKernel(UnaryOp op, int64_t n, const float* x, float* y) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    y[i] = applyUnary(op, x[i]);
  }
}

template <class From, class To>
__device__ __forceinline__ To convert(From v);
template <> __device__ __forceinline__ int convert<float, int>(float v) {
  // Int32Array.from: NaN -> 0, truncation toward zero, modulo 2^32 beyond the int32 range.
  if (!(v == v) || isinf(v)) return 0;
  const double t = trunc((double)v);
  return (int)(unsigned)(long long)fmod(t, 4294967296.0);
}
template <> __device__ __forceinline__ float convert<int, float>(int v) { return (float)v; }
template <> __device__ __forceinline__ uint8_t convert<float, uint8_t>(float v) { return v != 0.0f; }
template <> __device__ __forceinline__ uint8_t convert<int, uint8_t>(int v) { return v != 0; }
template <> __device__ __forceinline__ float convert<uint8_t, float>(uint8_t v) { return v ? 1.0f : 0.0f; }
template <> __device__ __forceinline__ int convert<uint8_t, int>(uint8_t v) { return v ? 1 : 0; }

template <class From, class To>
__global__ void castKernel(int64_t n, const From* x, To* y) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    y[i] = convert<From, To>(x[i]);
  }
}

__global__ void fill32Kernel(int64_t n, uint32_t bits, uint32_t* y) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    y[i] = bits;
  }
}

template <class T>
void binary(BinaryOp op, const Collapsed<3>& c, const void* a, const void* b, void* y) {
  auto pa = static_cast<const T*>(a), pb = static_cast<const T*>(b);
  auto py = static_cast<T*>(y);
  if (fits32(c)) binaryKernel<T, int32_t><<<gridFor(c.size, 256), 256>>>(op, c, pa, pb, py);
  else binaryKernel<T, int64_t><<<gridFor(c.size, 256), 256>>>(op, c, pa, pb, py);
}

template <class From, class To>
Status cast(int64_t n, const void* x, void* y) {
  castKernel<From, To><<<gridFor(n, 256), 256>>>(n, static_cast<const From*>(x), static_cast<To*>(y));
  return lastLaunchStatus("cast");
}

}  // namespace

Status launchBinary(BinaryOp op, DType t, const Strided& out, const int64_t* aStride,
                    const int64_t* bStride, const void* a, const void* b, void* y) {
  const int64_t* strides[3] = {aStride, bStride, out.stride};
  Collapsed<3> c = collapse<3>(out.shape, strides);
  if (c.size == 0) return Status::Ok();
  if (t == DType::F32) {
    binary<float>(op, c, a, b, y);
  } else if (t == DType::I32) {
    binary<int>(op, c, a, b, y);
  } else {
    return Status::Fail("binary: bool operands are not supported natively");
  }
  return lastLaunchStatus("binary");
}

Status launchUnary(UnaryOp op, int64_t n, const float* x, float* y) {
  if (n == 0) return Status::Ok();
  unaryKernel<<<gridFor(n, 256), 256>>>(op, n, x, y);
  return lastLaunchStatus("unary");
}

Status launchCast(DType from, DType to, int64_t n, const void* x, void* y) {
  if (n == 0) return Status::Ok();
  if (from == to) {
    const size_t bytes = (size_t)n * (from == DType::Bool ? 1 : 4);
    return cudaStatus(cudaMemcpyAsync(y, x, bytes, cudaMemcpyDeviceToDevice, 0), "cast copy");
  }
  if (from == DType::F32 && to == DType::I32) return cast<float, int>(n, x, y);
  if (from == DType::I32 && to == DType::F32) return cast<int, float>(n, x, y);
  if (from == DType::F32 && to == DType::Bool) return cast<float, uint8_t>(n, x, y);
  if (from == DType::I32 && to == DType::Bool) return cast<int, uint8_t>(n, x, y);
  if (from == DType::Bool && to == DType::F32) return cast<uint8_t, float>(n, x, y);
  return cast<uint8_t, int>(n, x, y);
}

Status launchFill(int elemBytes, int64_t n, uint32_t bits, void* y) {
  if (n == 0) return Status::Ok();
  if (elemBytes == 1) {
    return cudaStatus(cudaMemsetAsync(y, (int)(bits & 0xff), (size_t)n, 0), "cudaMemsetAsync");
  }
  fill32Kernel<<<gridFor(n, 256), 256>>>(n, bits, static_cast<uint32_t*>(y));
  return lastLaunchStatus("fill");
}

}  // namespace gna

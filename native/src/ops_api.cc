// N-API wrappers of the generic tensor kernels. Each checks its arguments (ranks, enum codes,
// integer ranges) and proves from shapes, strides and offsets that every element a kernel
// touches lies inside the buffers it was given, before launching.
#include <napi.h>
#include <cmath>
#include <string>
#include <vector>
#include "ops.h"
#include "ops_api.h"

namespace gna {
namespace {

constexpr double kMaxElems = 9007199254740991.0;  // 2^53 - 1

void check(Napi::Env env, const Status& st) {
  if (!st.ok) throw Napi::Error::New(env, "cuda backend: " + st.message);
}

int64_t int64Of(Napi::Env env, const Napi::Value& v, const char* name, double lo, double hi) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string(name) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= lo && d <= hi) || d != std::floor(d)) {
    throw Napi::RangeError::New(env, std::string(name) + "=" + std::to_string(d) +
                                         " out of range or not an integer");
  }
  return (int64_t)d;
}

// An array of at most kOpRank integers, front-padded with `pad` to kOpRank entries.
std::vector<int64_t> dimsOf(Napi::Env env, const Napi::Value& v, const char* name, double lo,
                            int64_t pad) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(name) + " must be an array");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > (uint32_t)kOpRank) {
    throw Napi::RangeError::New(env, std::string(name) + ": rank above " +
                                         std::to_string(kOpRank) + " is not supported natively");
  }
  std::vector<int64_t> out(kOpRank, pad);
  const int off = kOpRank - (int)a.Length();
  for (uint32_t i = 0; i < a.Length(); i++) out[off + i] = int64Of(env, a.Get(i), name, lo, kMaxElems);
  return out;
}

void checkVolume(Napi::Env env, const std::vector<int64_t>& shape) {
  double v = 1;
  for (int64_t s : shape) v *= (double)s;
  if (v > kMaxElems) throw Napi::RangeError::New(env, "tensor too large");
}

// The buffer behind `v` must contain offsets [base + min, base + max] of a strided view.
void* viewBuffer(Napi::Env env, const Napi::Value& v, const char* name,
                 const std::vector<int64_t>& shape, int64_t base, const int64_t* stride,
                 int elemBytes) {
  double lo = (double)base, hi = (double)base;
  bool empty = false;
  for (int d = 0; d < kOpRank; d++) {
    if (shape[d] == 0) empty = true;
    const double span = (double)(shape[d] - 1) * (double)stride[d];
    if (span < 0) lo += span; else hi += span;
  }
  if (empty) return deviceBuffer(env, v, name, 0);
  if (lo < 0) throw Napi::RangeError::New(env, std::string(name) + ": view starts before its buffer");
  return deviceBuffer(env, v, name, (hi + 1) * elemBytes);
}

int elemBytesOf(Napi::Env env, const Napi::Value& v) {
  const int64_t b = int64Of(env, v, "elemBytes", 1, 4);
  if (b != 1 && b != 4) throw Napi::RangeError::New(env, "elemBytes must be 1 or 4");
  return (int)b;
}

DType dtypeOf(Napi::Env env, const Napi::Value& v) {
  const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (s == "float32") return DType::F32;
  if (s == "int32") return DType::I32;
  if (s == "bool") return DType::Bool;
  throw Napi::TypeError::New(env, "dtype must be 'float32', 'int32' or 'bool'");
}

int bytesOf(DType t) { return t == DType::Bool ? 1 : 4; }

// binary(op, dtype, outShape, aStrides, bStrides, a, b, y): strides >= 0 (0 = broadcast).
Napi::Value Binary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int op = (int)int64Of(env, info[0], "op", 0, (double)BinaryOp::SquaredDiff);
  const DType t = dtypeOf(env, info[1]);
  if (t == DType::Bool) throw Napi::TypeError::New(env, "binary: bool operands not supported");
  if (t == DType::I32 && (op == (int)BinaryOp::Div || op == (int)BinaryOp::Pow)) {
    throw Napi::TypeError::New(env, "binary: Div and Pow are float32 only");
  }
  Strided out{};
  auto shape = dimsOf(env, info[2], "outShape", 0, 1);
  auto as = dimsOf(env, info[3], "aStrides", 0, 0);
  auto bs = dimsOf(env, info[4], "bStrides", 0, 0);
  int64_t s = 1;
  for (int d = kOpRank - 1; d >= 0; d--) {
    out.shape[d] = shape[d];
    out.stride[d] = s;
    s *= shape[d];
  }
  checkVolume(env, shape);
  const void* a = viewBuffer(env, info[5], "a", shape, 0, as.data(), 4);
  const void* b = viewBuffer(env, info[6], "b", shape, 0, bs.data(), 4);
  void* y = viewBuffer(env, info[7], "y", shape, 0, out.stride, 4);
  check(env, launchBinary((BinaryOp)op, t, out, as.data(), bs.data(), a, b, y));
  return env.Undefined();
}

// unary(op, n, x, y): float32.
Napi::Value Unary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int op = (int)int64Of(env, info[0], "op", 0, (double)UnaryOp::Reciprocal);
  const int64_t n = int64Of(env, info[1], "n", 0, kMaxElems);
  auto x = static_cast<const float*>(deviceBuffer(env, info[2], "x", (double)n * 4));
  auto y = static_cast<float*>(deviceBuffer(env, info[3], "y", (double)n * 4));
  check(env, launchUnary((UnaryOp)op, n, x, y));
  return env.Undefined();
}

// cast(from, to, n, x, y).
Napi::Value Cast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DType from = dtypeOf(env, info[0]), to = dtypeOf(env, info[1]);
  const int64_t n = int64Of(env, info[2], "n", 0, kMaxElems);
  const void* x = deviceBuffer(env, info[3], "x", (double)n * bytesOf(from));
  void* y = deviceBuffer(env, info[4], "y", (double)n * bytesOf(to));
  check(env, launchCast(from, to, n, x, y));
  return env.Undefined();
}

// fill(elemBytes, n, bits, y): bits = the element's bit pattern (uint32).
Napi::Value Fill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int eb = elemBytesOf(env, info[0]);
  const int64_t n = int64Of(env, info[1], "n", 0, kMaxElems);
  const uint32_t bits = (uint32_t)int64Of(env, info[2], "bits", 0, 4294967295.0);
  void* y = deviceBuffer(env, info[3], "y", (double)n * eb);
  check(env, launchFill(eb, n, bits, y));
  return env.Undefined();
}

// stridedCopy(elemBytes, shape, srcOffset, srcStrides, dstOffset, dstStrides, x, y).
Napi::Value StridedCopy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int eb = elemBytesOf(env, info[0]);
  auto shape = dimsOf(env, info[1], "shape", 0, 1);
  const int64_t so = int64Of(env, info[2], "srcOffset", 0, kMaxElems);
  auto ss = dimsOf(env, info[3], "srcStrides", -kMaxElems, 0);
  const int64_t dof = int64Of(env, info[4], "dstOffset", 0, kMaxElems);
  auto ds = dimsOf(env, info[5], "dstStrides", -kMaxElems, 0);
  checkVolume(env, shape);
  const void* x = viewBuffer(env, info[6], "x", shape, so, ss.data(), eb);
  void* y = viewBuffer(env, info[7], "y", shape, dof, ds.data(), eb);
  check(env, launchStridedCopy(eb, shape.data(), so, ss.data(), dof, ds.data(), x, y));
  return env.Undefined();
}

// reduceRows(op, dtype, rows, cols, x, y).
Napi::Value ReduceRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int op = (int)int64Of(env, info[0], "op", 0, (double)ReduceOp::Prod);
  const DType t = dtypeOf(env, info[1]);
  const int64_t rows = int64Of(env, info[2], "rows", 0, kMaxElems);
  const int64_t cols = int64Of(env, info[3], "cols", 0, kMaxElems);
  const void* x = deviceBuffer(env, info[4], "x", (double)rows * cols * bytesOf(t));
  void* y = deviceBuffer(env, info[5], "y", (double)rows * bytesOf(t));
  check(env, launchReduceRows((ReduceOp)op, t, rows, cols, x, y));
  return env.Undefined();
}

// softmaxRows(rows, cols, x, y).
Napi::Value SoftmaxRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t rows = int64Of(env, info[0], "rows", 0, kMaxElems);
  const int64_t cols = int64Of(env, info[1], "cols", 0, kMaxElems);
  auto x = static_cast<const float*>(deviceBuffer(env, info[2], "x", (double)rows * cols * 4));
  auto y = static_cast<float*>(deviceBuffer(env, info[3], "y", (double)rows * cols * 4));
  check(env, launchSoftmaxRows(rows, cols, x, y));
  return env.Undefined();
}

// gather(elemBytes, outer, axisSize, inner, nIdx, x, idx, y).
Napi::Value Gather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int eb = elemBytesOf(env, info[0]);
  const int64_t outer = int64Of(env, info[1], "outer", 0, kMaxElems);
  const int64_t axis = int64Of(env, info[2], "axisSize", 0, 2147483647.0);
  const int64_t inner = int64Of(env, info[3], "inner", 0, kMaxElems);
  const int64_t nIdx = int64Of(env, info[4], "nIdx", 0, kMaxElems);
  const void* x = deviceBuffer(env, info[5], "x", (double)outer * axis * inner * eb);
  auto idx = static_cast<const int32_t*>(deviceBuffer(env, info[6], "indices", (double)nIdx * 4));
  void* y = deviceBuffer(env, info[7], "y", (double)outer * nIdx * inner * eb);
  check(env, launchGather(eb, outer, axis, inner, nIdx, x, idx, y));
  return env.Undefined();
}

// gemm({m, n, k, transposeA, transposeB, batchShape, aBatchStrides, bBatchStrides, precision,
//   biasMode, activation, alpha}, a, b, bias | null, c). A is [..., m, k] ([..., k, m] when
// transposed), B [..., k, n] ([..., n, k]); batch strides are in elements, 0 on broadcast dims.
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "gemm(descriptor, a, b, bias, c)");
  Napi::Object o = info[0].As<Napi::Object>();
  GemmArgs g{};
  g.m = (int)int64Of(env, o.Get("m"), "m", 0, 2147483647.0);
  g.n = (int)int64Of(env, o.Get("n"), "n", 0, 2147483647.0);
  g.k = (int)int64Of(env, o.Get("k"), "k", 0, 2147483647.0);
  const bool ta = o.Get("transposeA").ToBoolean(), tb = o.Get("transposeB").ToBoolean();
  g.sAm = ta ? 1 : g.k;
  g.sAk = ta ? g.m : 1;
  g.sBk = tb ? 1 : g.n;
  g.sBn = tb ? g.k : 1;
  Napi::Value bsv = o.Get("batchShape");
  if (!bsv.IsArray() || bsv.As<Napi::Array>().Length() > (uint32_t)kGemmBatchRank) {
    throw Napi::RangeError::New(env, "gemm: batchShape must be an array of at most 4 dims");
  }
  g.batchRank = (int)bsv.As<Napi::Array>().Length();
  Napi::Value asv = o.Get("aBatchStrides"), bbv = o.Get("bBatchStrides");
  if (!asv.IsArray() || !bbv.IsArray() ||
      asv.As<Napi::Array>().Length() != (uint32_t)g.batchRank ||
      bbv.As<Napi::Array>().Length() != (uint32_t)g.batchRank) {
    throw Napi::RangeError::New(env, "gemm: batch strides must match batchShape");
  }
  double batch = 1, aExtent = (double)g.m * g.k, bExtent = (double)g.k * g.n;
  for (int d = 0; d < g.batchRank; d++) {
    g.batchShape[d] = (int)int64Of(env, bsv.As<Napi::Array>().Get(d), "batchShape", 0, 2147483647.0);
    g.aBatch[d] = int64Of(env, asv.As<Napi::Array>().Get(d), "aBatchStrides", 0, kMaxElems);
    g.bBatch[d] = int64Of(env, bbv.As<Napi::Array>().Get(d), "bBatchStrides", 0, kMaxElems);
    batch *= g.batchShape[d];
    if (g.batchShape[d] > 0) {
      aExtent += (double)(g.batchShape[d] - 1) * g.aBatch[d];
      bExtent += (double)(g.batchShape[d] - 1) * g.bBatch[d];
    }
  }
  if (batch > 2147483647.0) throw Napi::RangeError::New(env, "gemm: batch too large");
  g.batch = (int)batch;
  const int64_t prec = int64Of(env, o.Get("precision"), "precision", 0, (double)GemmPrecision::BF16);
  g.biasMode = (int)int64Of(env, o.Get("biasMode"), "biasMode", 0, 2);
  g.act = (Activation)int64Of(env, o.Get("activation"), "activation", 0, (double)Activation::Elu);
  Napi::Value alpha = o.Get("alpha");
  g.alpha = alpha.IsNumber() ? (float)alpha.As<Napi::Number>().DoubleValue() : 0.0f;
  const bool empty = batch * g.m * g.n == 0;
  const double elems = empty ? 0 : 1;
  g.a = static_cast<const float*>(deviceBuffer(env, info[1], "a", empty || g.k == 0 ? 0 : aExtent * 4));
  g.b = static_cast<const float*>(deviceBuffer(env, info[2], "b", empty || g.k == 0 ? 0 : bExtent * 4));
  g.bias = g.biasMode == 0 ? nullptr : static_cast<const float*>(deviceBuffer(
      env, info[3], "bias", elems * (g.biasMode == 1 ? (double)g.n : 1.0) * 4));
  g.c = static_cast<float*>(deviceBuffer(env, info[4], "c", batch * g.m * g.n * 4));
  check(env, launchGemm(g, (GemmPrecision)prec));
  return env.Undefined();
}

}  // namespace

void registerOps(Napi::Env env, Napi::Object exports) {
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("cast", Napi::Function::New(env, Cast));
  exports.Set("fill", Napi::Function::New(env, Fill));
  exports.Set("stridedCopy", Napi::Function::New(env, StridedCopy));
  exports.Set("reduceRows", Napi::Function::New(env, ReduceRows));
  exports.Set("softmaxRows", Napi::Function::New(env, SoftmaxRows));
  exports.Set("gather", Napi::Function::New(env, Gather));
  exports.Set("gemm", Napi::Function::New(env, Gemm));
}

}  // namespace gna

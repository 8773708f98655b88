// N-API surface of the native CUDA path. Device memory is reached only through integer handles
// of a registry kept here, and every launch checks its buffers against the sizes the shapes
// need, so no JS value can make a kernel read or write outside an allocation. CUDA failures and
// bad arguments become JS exceptions carrying the CUDA error name (issue 5 item 5).
#include <napi.h>
#include <cuda_runtime.h>
#include <climits>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>
#include "cuda_util.h"
#include "gna_native.h"
#include "ops_api.h"

namespace gna {
namespace {

// ---------------------------------------------------------------------------------------------
// Device memory: a registry of live buffers plus a pool of freed blocks by size class, so that
// tensor churn does not pay cudaMalloc/cudaFree (which synchronises) on every op.

struct Buffer {
  void* ptr;
  size_t bytes;     // requested size
  size_t capacity;  // size class actually allocated
};

std::unordered_map<double, Buffer> buffers;
std::multimap<size_t, void*> pool;
size_t pooledBytes = 0, liveBytes = 0;
double nextHandle = 1;

size_t sizeClass(size_t bytes) {
  const size_t small = 512, large = size_t(2) << 20;
  if (bytes < (size_t(1) << 20)) return (bytes + small - 1) / small * small;
  return (bytes + large - 1) / large * large;
}

void releasePool() {
  for (auto& kv : pool) cudaFree(kv.second);
  pool.clear();
  pooledBytes = 0;
}

[[noreturn]] void throwStatus(Napi::Env env, const Status& st) {
  throw Napi::Error::New(env, "cuda backend: " + st.message);
}

void check(Napi::Env env, const Status& st) {
  if (!st.ok) throwStatus(env, st);
}

void checkCuda(Napi::Env env, cudaError_t err, const char* what) { check(env, cudaStatus(err, what)); }

double allocate(Napi::Env env, size_t bytes) {
  const size_t cap = sizeClass(bytes == 0 ? 1 : bytes);
  void* ptr = nullptr;
  auto it = pool.find(cap);
  if (it != pool.end()) {
    ptr = it->second;
    pool.erase(it);
    pooledBytes -= cap;
  } else {
    cudaError_t err = cudaMalloc(&ptr, cap);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      releasePool();
      err = cudaMalloc(&ptr, cap);
    }
    if (err != cudaSuccess) {
      cudaGetLastError();
      size_t freeB = 0, totalB = 0;
      cudaMemGetInfo(&freeB, &totalB);
      char msg[256];
      snprintf(msg, sizeof msg,
               "out of GPU memory: cudaMalloc of %.1f MiB failed with %s (free %.1f MiB of "
               "%.1f MiB; %.1f MiB held by live tensors)",
               cap / 1048576.0, cudaGetErrorName(err), freeB / 1048576.0, totalB / 1048576.0,
               liveBytes / 1048576.0);
      throw Napi::Error::New(env, std::string("cuda backend: ") + msg);
    }
  }
  const double handle = nextHandle++;
  buffers[handle] = Buffer{ptr, bytes, cap};
  liveBytes += cap;
  return handle;
}

Buffer& bufferOf(Napi::Env env, const Napi::Value& v, const char* name) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string(name) + " must be a buffer handle");
  auto it = buffers.find(v.As<Napi::Number>().DoubleValue());
  if (it == buffers.end()) {
    throw Napi::Error::New(env, std::string("cuda backend: ") + name +
                                    " is not a live device buffer (disposed tensor?)");
  }
  return it->second;
}

// A buffer that must hold at least `bytes`.
void* need(Napi::Env env, const Napi::Value& v, const char* name, double bytes) {
  Buffer& b = bufferOf(env, v, name);
  if (bytes > (double)b.bytes) {
    throw Napi::Error::New(env, std::string("cuda backend: buffer ") + name + " holds " +
                                    std::to_string(b.bytes) + " bytes but the op needs " +
                                    std::to_string((long long)bytes));
  }
  return b.ptr;
}

int intOf(Napi::Env env, const Napi::Value& v, const char* name, int lo, int hi) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string(name) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= lo && d <= hi) || d != (double)(long long)d) {
    throw Napi::RangeError::New(env, std::string(name) + "=" + std::to_string(d) +
                                         " must be an integer in [" + std::to_string(lo) + ", " +
                                         std::to_string(hi) + "]");
  }
  return (int)d;
}

std::vector<int> intsOf(Napi::Env env, const Napi::Value& v, const char* name, size_t len, int lo,
                        int hi) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(name) + " must be an array");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() != len) {
    throw Napi::RangeError::New(env, std::string(name) + " must have " + std::to_string(len) +
                                         " entries");
  }
  std::vector<int> out(len);
  for (uint32_t i = 0; i < len; i++) out[i] = intOf(env, a.Get(i), name, lo, hi);
  return out;
}

Napi::Int32Array int32ArrayOf(Napi::Env env, const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw Napi::TypeError::New(env, std::string(name) + " must be an Int32Array");
  }
  return v.As<Napi::Int32Array>();
}

// ---------------------------------------------------------------------------------------------
// Probe and plain memory operations.

Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
  int runtime = 0, driver = 0, count = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  r.Set("runtimeVersion", runtime);
  r.Set("driverVersion", driver);
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    cudaGetLastError();
    r.Set("ok", false);
    r.Set("reason", err != cudaSuccess
                        ? std::string("no usable CUDA driver/device: ") + cudaGetErrorName(err) +
                              " (" + cudaGetErrorString(err) + ")"
                        : std::string("no CUDA device found"));
    return r;
  }
  cudaDeviceProp prop;
  err = cudaGetDeviceProperties(&prop, 0);
  if (err == cudaSuccess) err = cudaFree(nullptr);  // creates the context now, not mid-op
  if (err != cudaSuccess) {
    cudaGetLastError();
    r.Set("ok", false);
    r.Set("reason", std::string("CUDA device 0 unusable: ") + cudaGetErrorName(err));
    return r;
  }
  if (prop.major < 8) {
    r.Set("ok", false);
    r.Set("reason", std::string("GPU ") + prop.name + " has compute capability " +
                        std::to_string(prop.major) + "." + std::to_string(prop.minor) +
                        "; the addon is built for 8.0 and later");
    return r;
  }
  r.Set("ok", true);
  r.Set("name", prop.name);
  r.Set("computeCapability", std::to_string(prop.major) + "." + std::to_string(prop.minor));
  r.Set("multiProcessorCount", prop.multiProcessorCount);
  r.Set("totalMemory", (double)prop.totalGlobalMem);
  return r;
}

Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "alloc(bytes)");
  double bytes = info[0].As<Napi::Number>().DoubleValue();
  if (!(bytes >= 0) || bytes > 1.0e15) throw Napi::RangeError::New(env, "alloc: bad byte count");
  return Napi::Number::New(env, allocate(env, (size_t)bytes));
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Buffer b = bufferOf(env, info[0], "buffer");
  buffers.erase(info[0].As<Napi::Number>().DoubleValue());
  liveBytes -= b.capacity;
  pool.emplace(b.capacity, b.ptr);
  pooledBytes += b.capacity;
  return env.Undefined();
}

Napi::TypedArray viewOf(Napi::Env env, const Napi::Value& v) {
  if (!v.IsTypedArray()) throw Napi::TypeError::New(env, "expected a typed array");
  return v.As<Napi::TypedArray>();
}

uint8_t* bytesOf(Napi::TypedArray t) {
  return static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
}

Napi::Value Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::TypedArray src = viewOf(env, info[1]);
  void* dst = need(env, info[0], "destination", (double)src.ByteLength());
  if (src.ByteLength() > 0) {
    checkCuda(env, cudaMemcpy(dst, bytesOf(src), src.ByteLength(), cudaMemcpyHostToDevice),
              "cudaMemcpy host to device");
  }
  return env.Undefined();
}

Napi::Value Download(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::TypedArray dst = viewOf(env, info[1]);
  void* src = need(env, info[0], "source", (double)dst.ByteLength());
  if (dst.ByteLength() > 0) {
    checkCuda(env, cudaMemcpy(bytesOf(dst), src, dst.ByteLength(), cudaMemcpyDeviceToHost),
              "cudaMemcpy device to host");
  }
  return env.Undefined();
}

Napi::Value Copy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double bytes = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : -1;
  if (!(bytes >= 0)) throw Napi::RangeError::New(env, "copy: bad byte count");
  void* dst = need(env, info[0], "destination", bytes);
  void* src = need(env, info[1], "source", bytes);
  if (bytes > 0) {
    checkCuda(env, cudaMemcpyAsync(dst, src, (size_t)bytes, cudaMemcpyDeviceToDevice, 0),
              "cudaMemcpyAsync device to device");
  }
  return env.Undefined();
}

Napi::Value MemoryInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t freeB = 0, totalB = 0;
  checkCuda(env, cudaMemGetInfo(&freeB, &totalB), "cudaMemGetInfo");
  Napi::Object r = Napi::Object::New(env);
  r.Set("free", (double)freeB);
  r.Set("total", (double)totalB);
  r.Set("live", (double)liveBytes);
  r.Set("pooled", (double)pooledBytes);
  r.Set("buffers", (double)buffers.size());
  return r;
}

Napi::Value ReleasePool(const Napi::CallbackInfo& info) {
  releasePool();
  return info.Env().Undefined();
}

Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  checkCuda(info.Env(), cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  return info.Env().Undefined();
}

// CUDA-event timers: timerStart() records a start event, timerStop(id) records the end, waits
// for it and returns the elapsed milliseconds.
std::unordered_map<double, cudaEvent_t> timers;
double nextTimer = 1;

Napi::Value TimerStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  cudaEvent_t e;
  checkCuda(env, cudaEventCreate(&e), "cudaEventCreate");
  Status st = cudaStatus(cudaEventRecord(e, 0), "cudaEventRecord");
  if (!st.ok) {
    cudaEventDestroy(e);
    throwStatus(env, st);
  }
  double id = nextTimer++;
  timers[id] = e;
  return Napi::Number::New(env, id);
}

Napi::Value TimerStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto it = info[0].IsNumber() ? timers.find(info[0].As<Napi::Number>().DoubleValue())
                               : timers.end();
  if (it == timers.end()) throw Napi::Error::New(env, "cuda backend: unknown timer");
  cudaEvent_t start = it->second;
  timers.erase(it);
  cudaEvent_t end;
  Status st = cudaStatus(cudaEventCreate(&end), "cudaEventCreate");
  float ms = 0;
  if (st.ok) {
    st = cudaStatus(cudaEventRecord(end, 0), "cudaEventRecord");
    if (st.ok) st = cudaStatus(cudaEventSynchronize(end), "cudaEventSynchronize");
    if (st.ok) st = cudaStatus(cudaEventElapsedTime(&ms, start, end), "cudaEventElapsedTime");
    cudaEventDestroy(end);
  }
  cudaEventDestroy(start);
  check(env, st);
  return Napi::Number::New(env, ms);
}

// ---------------------------------------------------------------------------------------------
// Token permute.

PermuteGeometry geometryOf(Napi::Env env, const Napi::Value& v) {
  if (!v.IsObject()) throw Napi::TypeError::New(env, "geometry must be an object");
  Napi::Object o = v.As<Napi::Object>();
  PermuteGeometry g{};
  g.rank = intOf(env, o.Get("rank"), "rank", 1, kMaxRank);
  auto L = intsOf(env, o.Get("spatialShape"), "spatialShape", g.rank, 1, 1 << 24);
  auto T = intsOf(env, o.Get("tileShape"), "tileShape", g.rank, 1, 1 << 24);
  auto D = intsOf(env, o.Get("dilation"), "dilation", g.rank, 1, 1 << 24);
  double seq = 1, tokens = 1, groups = 1;
  for (int a = 0; a < g.rank; a++) {
    seq *= std::ceil((double)L[a] / ((double)T[a] * D[a])) * T[a];
    tokens *= L[a];
    groups *= D[a];
  }
  if (seq > (double)(1LL << 40) || tokens > (double)(1LL << 40) || groups > 65535) {
    throw Napi::RangeError::New(env, "token permute geometry too large");
  }
  g.groups = 1;
  g.seq = 1;
  g.tokens = 1;
  g.tileVolume = 1;
  for (int a = 0; a < kMaxRank; a++) {
    const bool on = a < g.rank;
    g.spatial[a] = on ? L[a] : 1;
    g.tile[a] = on ? T[a] : 1;
    g.dilation[a] = on ? D[a] : 1;
    const long long span = (long long)g.tile[a] * g.dilation[a];
    g.tilesPerDim[a] = (int)((g.spatial[a] + span - 1) / span);
    g.groups *= g.dilation[a];
    g.seq *= (long long)g.tilesPerDim[a] * g.tile[a];
    g.tokens *= g.spatial[a];
    g.tileVolume *= g.tile[a];
  }
  if (g.groups > 65535 || g.seq > (1LL << 40) || g.tokens > (1LL << 40) ||
      g.tileVolume > (1 << 24)) {
    throw Napi::RangeError::New(env, "token permute geometry too large");
  }
  return g;
}

Elem elemOf(Napi::Env env, const Napi::Value& v) {
  std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (s == "float32") return Elem::F32;
  if (s == "float16") return Elem::F16;
  if (s == "bfloat16") return Elem::BF16;
  throw Napi::TypeError::New(env, "element type must be 'float32', 'float16' or 'bfloat16'");
}

size_t elemSize(Elem e) { return e == Elem::F32 ? 4 : 2; }

// tokenPermute(geometry, batch, width, src, dst, outElem)
Napi::Value TokenPermute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PermuteGeometry g = geometryOf(env, info[0]);
  int batch = intOf(env, info[1], "batch", 0, 1 << 30);
  int width = intOf(env, info[2], "width", 0, 1 << 30);
  Elem e = elemOf(env, info[5]);
  const float* src = static_cast<const float*>(
      need(env, info[3], "x", (double)batch * g.tokens * width * 4));
  void* dst = need(env, info[4], "y", (double)batch * g.groups * g.seq * width * elemSize(e));
  check(env, launchTokenPermute(g, batch, width, src, dst, e));
  return env.Undefined();
}

// tokenUnpermute(geometry, batch, width, src, dst)
Napi::Value TokenUnpermute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PermuteGeometry g = geometryOf(env, info[0]);
  int batch = intOf(env, info[1], "batch", 0, 1 << 30);
  int width = intOf(env, info[2], "width", 0, 1 << 30);
  const float* src = static_cast<const float*>(
      need(env, info[3], "y", (double)batch * g.groups * g.seq * width * 4));
  float* dst = static_cast<float*>(need(env, info[4], "x", (double)batch * g.tokens * width * 4));
  check(env, launchTokenUnpermute(g, batch, width, src, dst));
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------
// GNA plans: the window tables (and, for the tensor-core path, the tile tables) of one problem
// geometry, validated here once and kept on the device.

struct DeviceInts {
  int* ptr = nullptr;
  size_t count = 0;
  ~DeviceInts() { if (ptr) cudaFree(ptr); }
};

// `count` 32-bit words from the host into a new device table.
Status uploadWords(const void* data, size_t count, DeviceInts* d) {
  d->count = count;
  if (d->count == 0) return Status::Ok();
  Status st = cudaStatus(cudaMalloc(&d->ptr, d->count * 4), "cudaMalloc (GNA plan table)");
  if (!st.ok) return st;
  return cudaStatus(cudaMemcpy(d->ptr, data, d->count * 4, cudaMemcpyHostToDevice),
                    "cudaMemcpy (GNA plan table)");
}

Status uploadInts(const Napi::Int32Array& a, DeviceInts* d) {
  return uploadWords(a.Data(), a.ElementLength(), d);
}

struct Plan {
  int rank;
  int spatial[kMaxRank], dilation[kMaxRank];
  WindowTables windows{};
  DeviceInts windowData;
  bool tiled = false;
  TilePlan tiles{};
  PermuteGeometry qGeometry{}, kvGeometry{};
  DeviceInts ranges, entries, inverseRanges, inverseEntries, qOffsets, kvOffsets;
  DeviceInts masks, maskIndex;  // WgmmaMasks, where the wgmma kernel can run this plan
};

// Checks one tile table: `ranges` (rows + 1 monotone offsets from 0 to the entry count) and
// `entries` (tile indices below `tiles`, high bit = fine mask), named in errors as given.
void checkTileTable(Napi::Env env, const Napi::Int32Array& ranges,
                    const Napi::Int32Array& entries, size_t rows, int tiles,
                    const std::string& rangesName, const std::string& entriesName) {
  if (ranges.ElementLength() != rows + 1 || ranges[0] != 0 ||
      ranges[ranges.ElementLength() - 1] != (int)entries.ElementLength()) {
    throw Napi::RangeError::New(env, rangesName + ": wrong length or ends");
  }
  for (size_t i = 1; i < ranges.ElementLength(); i++) {
    if (ranges[i] < ranges[i - 1]) throw Napi::RangeError::New(env, rangesName + " not monotone");
  }
  for (size_t i = 0; i < entries.ElementLength(); i++) {
    if ((entries[i] & 0x7fffffff) >= tiles) {
      throw Napi::RangeError::New(env, entriesName + ": tile out of range");
    }
  }
}

std::unordered_map<double, std::unique_ptr<Plan>> plans;
double nextPlan = 1;

PermuteGeometry tiledGeometry(const Plan& p, const std::vector<int>& tile) {
  PermuteGeometry g{};
  g.rank = p.rank;
  g.groups = 1; g.seq = 1; g.tokens = 1; g.tileVolume = 1;
  for (int a = 0; a < kMaxRank; a++) {
    const bool on = a < p.rank;
    g.spatial[a] = on ? p.spatial[a] : 1;
    g.dilation[a] = on ? p.dilation[a] : 1;
    g.tile[a] = on ? tile[a] : 1;
    const long long span = (long long)g.tile[a] * g.dilation[a];
    g.tilesPerDim[a] = (int)((g.spatial[a] + span - 1) / span);
    g.groups *= g.dilation[a];
    g.seq *= (long long)g.tilesPerDim[a] * g.tile[a];
    g.tokens *= g.spatial[a];
    g.tileVolume *= g.tile[a];
  }
  return g;
}

void checkOffsets(Napi::Env env, const Napi::Int32Array& offs, const std::vector<int>& tile,
                  int rank, int volume, const char* name) {
  if ((int)offs.ElementLength() != volume) {
    throw Napi::RangeError::New(env, std::string(name) + " must have one entry per tile token");
  }
  for (int i = 0; i < volume; i++) {
    for (int a = 0; a < rank; a++) {
      int c = (offs[i] >> (10 * a)) & 1023;
      if (c >= tile[a]) throw Napi::RangeError::New(env, std::string(name) + " out of the tile");
    }
  }
}

// createPlan({rank, spatialShape, dilation, extent, windows: Int32Array, tiled?: {qTile, kvTile,
//   tileRanges, entries, qOffsets, kvOffsets}}) -> plan id.
Napi::Value CreatePlan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "createPlan(descriptor)");
  Napi::Object o = info[0].As<Napi::Object>();
  auto plan = std::make_unique<Plan>();
  Plan& p = *plan;
  p.rank = intOf(env, o.Get("rank"), "rank", 1, kMaxRank);
  auto L = intsOf(env, o.Get("spatialShape"), "spatialShape", p.rank, 1, 1 << 24);
  auto D = intsOf(env, o.Get("dilation"), "dilation", p.rank, 1, 1 << 24);
  auto E = intsOf(env, o.Get("extent"), "extent", p.rank, 1, 1 << 24);
  Napi::Int32Array win = int32ArrayOf(env, o, "windows");
  size_t expected = 0;
  for (int a = 0; a < kMaxRank; a++) {
    const bool on = a < p.rank;
    p.spatial[a] = on ? L[a] : 1;
    p.dilation[a] = on ? D[a] : 1;
    p.windows.extent[a] = on ? E[a] : 1;
    p.windows.offset[a] = (int)(expected / 4);
    if (!on) continue;
    if ((long long)E[a] * D[a] < L[a]) throw Napi::RangeError::New(env, "extent too small");
    // Real positions: windows and inverse neighbourhoods inside the group (they bound the
    // float32 kernels' loops); padding positions only feed the tensor-core mask.
    for (int g = 0; g < D[a]; g++) {
      const int n = (L[a] - g + D[a] - 1) / D[a];
      for (int u = 0; u < n; u++) {
        const size_t at = expected + 4 * ((size_t)g * E[a] + u);
        if (at + 4 > win.ElementLength()) throw Napi::RangeError::New(env, "windows too short");
        const int* e = win.Data() + at;
        if (!(0 <= e[0] && e[0] < e[1] && e[1] <= n && 0 <= e[2] && e[2] <= e[3] && e[3] <= n)) {
          throw Napi::RangeError::New(env, "windows: entry outside its dilation group");
        }
      }
    }
    expected += 4 * (size_t)D[a] * E[a];
  }
  if (win.ElementLength() != expected) throw Napi::RangeError::New(env, "windows: wrong length");
  check(env, uploadInts(win, &p.windowData));
  p.windows.device = p.windowData.ptr;

  Napi::Value tv = o.Get("tiled");
  if (tv.IsObject()) {
    Napi::Object t = tv.As<Napi::Object>();
    auto qt = intsOf(env, t.Get("qTile"), "qTile", p.rank, 1, 1023);
    auto kt = intsOf(env, t.Get("kvTile"), "kvTile", p.rank, 1, 1023);
    double qv = 1, kv = 1;
    for (int a = 0; a < p.rank; a++) {
      qv *= qt[a];
      kv *= kt[a];
    }
    if (qv > 1024 || kv > 1024) throw Napi::RangeError::New(env, "tile volumes must be <= 1024");
    double qSeq = 1, kvSeq = 1;
    for (int a = 0; a < p.rank; a++) {
      qSeq *= std::ceil((double)L[a] / ((double)qt[a] * D[a])) * qt[a];
      kvSeq *= std::ceil((double)L[a] / ((double)kt[a] * D[a])) * kt[a];
    }
    if (qSeq > 2e9 || kvSeq > 2e9) {
      throw Napi::RangeError::New(env, "permuted sequence too long (must stay below 2^31 tokens)");
    }
    p.qGeometry = tiledGeometry(p, qt);
    p.kvGeometry = tiledGeometry(p, kt);
    TilePlan& tp = p.tiles;
    tp.qVolume = p.qGeometry.tileVolume;
    tp.kvVolume = p.kvGeometry.tileVolume;
    tp.qSeq = p.qGeometry.seq;
    tp.kvSeq = p.kvGeometry.seq;
    tp.qTiles = (int)(tp.qSeq / tp.qVolume);
    tp.kvTiles = (int)(tp.kvSeq / tp.kvVolume);
    for (int a = 0; a < kMaxRank; a++) {
      tp.qTile[a] = p.qGeometry.tile[a];
      tp.kvTile[a] = p.kvGeometry.tile[a];
      tp.qTilesPerDim[a] = p.qGeometry.tilesPerDim[a];
      tp.kvTilesPerDim[a] = p.kvGeometry.tilesPerDim[a];
      if (a < p.rank && (tp.qTilesPerDim[a] * tp.qTile[a] > E[a] ||
                         tp.kvTilesPerDim[a] * tp.kvTile[a] > E[a])) {
        throw Napi::RangeError::New(env, "extent must cover the padded tile grid");
      }
    }
    const int groups = p.qGeometry.groups;
    Napi::Int32Array ranges = int32ArrayOf(env, t, "tileRanges");
    Napi::Int32Array entries = int32ArrayOf(env, t, "entries");
    Napi::Int32Array inverseRanges = int32ArrayOf(env, t, "inverseRanges");
    Napi::Int32Array inverseEntries = int32ArrayOf(env, t, "inverseEntries");
    checkTileTable(env, ranges, entries, (size_t)groups * tp.qTiles, tp.kvTiles, "tileRanges",
                   "entries");
    checkTileTable(env, inverseRanges, inverseEntries, (size_t)groups * tp.kvTiles, tp.qTiles,
                   "inverseRanges", "inverseEntries");
    if (inverseEntries.ElementLength() != entries.ElementLength()) {
      throw Napi::RangeError::New(env, "inverseEntries must list every tile pair of entries");
    }
    Napi::Int32Array qOffsets = int32ArrayOf(env, t, "qOffsets");
    Napi::Int32Array kvOffsets = int32ArrayOf(env, t, "kvOffsets");
    checkOffsets(env, qOffsets, qt, p.rank, tp.qVolume, "qOffsets");
    checkOffsets(env, kvOffsets, kt, p.rank, tp.kvVolume, "kvOffsets");
    check(env, uploadInts(ranges, &p.ranges));
    check(env, uploadInts(entries, &p.entries));
    check(env, uploadInts(inverseRanges, &p.inverseRanges));
    check(env, uploadInts(inverseEntries, &p.inverseEntries));
    check(env, uploadInts(qOffsets, &p.qOffsets));
    check(env, uploadInts(kvOffsets, &p.kvOffsets));
    tp.tileRanges = p.ranges.ptr;
    tp.entries = p.entries.ptr;
    tp.inverseRanges = p.inverseRanges.ptr;
    tp.inverseEntries = p.inverseEntries.ptr;
    tp.qOffsets = p.qOffsets.ptr;
    tp.kvOffsets = p.kvOffsets.ptr;
    if (wgmmaApplies(Elem::BF16, 128, tp.qVolume, tp.kvVolume)) {
      // The wgmma kernel's fine mask, built from the host copies of the tables just checked.
      WindowTables hostWindows = p.windows;
      hostWindows.device = win.Data();
      TilePlan hostTiles = tp;
      hostTiles.tileRanges = ranges.Data();
      hostTiles.entries = entries.Data();
      hostTiles.qOffsets = qOffsets.Data();
      hostTiles.kvOffsets = kvOffsets.Data();
      const WgmmaMasks m = buildWgmmaMasks(hostWindows, hostTiles, p.rank, p.dilation, groups,
                                           entries.ElementLength());
      // The kernel addresses the words with 32-bit offsets.
      if (m.words.size() > (size_t)INT32_MAX) {
        throw Napi::RangeError::New(env, "tile plan: the wgmma fine masks exceed 2^31 words");
      }
      check(env, uploadWords(m.words.data(), m.words.size(), &p.masks));
      check(env, uploadWords(m.index.data(), m.index.size(), &p.maskIndex));
      tp.masks = reinterpret_cast<const uint32_t*>(p.masks.ptr);
      tp.maskIndex = p.maskIndex.ptr;
      tp.wgmmaMasks = true;
    }
    p.tiled = true;
  }
  const double id = nextPlan++;
  plans[id] = std::move(plan);
  return Napi::Number::New(env, id);
}

Plan& planOf(Napi::Env env, const Napi::Value& v) {
  auto it = v.IsNumber() ? plans.find(v.As<Napi::Number>().DoubleValue()) : plans.end();
  if (it == plans.end()) throw Napi::Error::New(env, "cuda backend: unknown GNA plan");
  return *it->second;
}

Napi::Value DestroyPlan(const Napi::CallbackInfo& info) {
  if (info[0].IsNumber()) plans.erase(info[0].As<Napi::Number>().DoubleValue());
  return info.Env().Undefined();
}

// The problem shape {batch, heads, kvHeads, headDim, valueDim, scale}, checked against the plan.
GnaShape shapeOf(Napi::Env env, const Napi::Value& v, const Plan& p) {
  if (!v.IsObject()) throw Napi::TypeError::New(env, "shape must be an object");
  Napi::Object o = v.As<Napi::Object>();
  GnaShape s{};
  s.rank = p.rank;
  s.batch = intOf(env, o.Get("batch"), "batch", 0, 1 << 30);
  s.heads = intOf(env, o.Get("heads"), "heads", 1, 1 << 20);
  s.kvHeads = intOf(env, o.Get("kvHeads"), "kvHeads", 1, 1 << 20);
  s.headDim = intOf(env, o.Get("headDim"), "headDim", 1, 1 << 20);
  s.valueDim = intOf(env, o.Get("valueDim"), "valueDim", 1, 1 << 20);
  if (s.heads % s.kvHeads != 0) throw Napi::RangeError::New(env, "kvHeads must divide heads");
  Napi::Value sc = o.Get("scale");
  if (!sc.IsNumber()) throw Napi::TypeError::New(env, "scale must be a number");
  s.scale = (float)sc.As<Napi::Number>().DoubleValue();
  for (int a = 0; a < kMaxRank; a++) {
    s.spatial[a] = p.spatial[a];
    s.dilation[a] = p.dilation[a];
  }
  return s;
}

double tokensOf(const Plan& p) {
  double t = 1;
  for (int a = 0; a < p.rank; a++) t *= p.spatial[a];
  return t;
}

// gnaForwardF32(plan, shape, q, k, v, out, lse): original layout, float32.
Napi::Value GnaForwardF32(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Plan& p = planOf(env, info[0]);
  GnaShape s = shapeOf(env, info[1], p);
  const double rows = s.batch * tokensOf(p);
  auto q = static_cast<const float*>(need(env, info[2], "q", rows * s.heads * s.headDim * 4));
  auto k = static_cast<const float*>(need(env, info[3], "k", rows * s.kvHeads * s.headDim * 4));
  auto v = static_cast<const float*>(need(env, info[4], "v", rows * s.kvHeads * s.valueDim * 4));
  auto out = static_cast<float*>(need(env, info[5], "output", rows * s.heads * s.valueDim * 4));
  auto lse = static_cast<float*>(need(env, info[6], "lse", rows * s.heads * 4));
  check(env, launchGnaForwardF32(s, p.windows, q, k, v, out, lse));
  return env.Undefined();
}

// gnaBackwardF32(plan, shape, q, k, v, out, lse, dOut, dLse, delta, dq, dk, dv).
Napi::Value GnaBackwardF32(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Plan& p = planOf(env, info[0]);
  GnaShape s = shapeOf(env, info[1], p);
  const double rows = s.batch * tokensOf(p);
  const double qb = rows * s.heads * s.headDim * 4, kb = rows * s.kvHeads * s.headDim * 4;
  const double vb = rows * s.kvHeads * s.valueDim * 4, ob = rows * s.heads * s.valueDim * 4;
  const double lb = rows * s.heads * 4;
  auto q = static_cast<const float*>(need(env, info[2], "q", qb));
  auto k = static_cast<const float*>(need(env, info[3], "k", kb));
  auto v = static_cast<const float*>(need(env, info[4], "v", vb));
  auto out = static_cast<const float*>(need(env, info[5], "output", ob));
  auto lse = static_cast<const float*>(need(env, info[6], "lse", lb));
  auto dOut = static_cast<const float*>(need(env, info[7], "dOutput", ob));
  auto dLse = static_cast<const float*>(need(env, info[8], "dLse", lb));
  auto delta = static_cast<float*>(need(env, info[9], "delta", lb));
  auto dq = static_cast<float*>(need(env, info[10], "dq", qb));
  auto dk = static_cast<float*>(need(env, info[11], "dk", kb));
  auto dv = static_cast<float*>(need(env, info[12], "dv", vb));
  check(env, launchGnaBackwardF32(s, p.windows, q, k, v, out, lse, dOut, dLse, delta, dq, dk, dv));
  return env.Undefined();
}

// gnaForwardTiled(plan, shape, elem, qP, kP, vP, out, lse[, rowsPerWarp[, kernel[, schedule[,
// persistent[, qNatural[, kNatural, vNatural, castState]]]]]]): q/k/v in the permuted layout (Q
// with the plan's Q tiling, K/V with its KV tiling), float32 output and LSE in the original layout;
// kernel 0 auto, 1 mma.sync, 2 wgmma (TcKernel); wgmma schedule 0 pingpong, 1 cooperative
// (WgmmaSchedule; the default); persistent (default false); qNatural (default false, wgmma only):
// q is float32 in the original layout; kNatural/vNatural (wgmma, 128-token Q tiles, qNatural):
// float32 K/V in the original layout, cast by the kernel into kP/vP, with castState its scratch
// (kvCastStateInts int32s).
// Arguments 0-2 (plan, shape, elem) and 4-5 (k, v) of gnaForwardTiled and gnaBackwardTiled: a
// plan with tile tables, and K/V in its KV-tiled permuted layout.
struct TiledCall {
  Plan& plan;
  GnaShape s;
  Elem e;
  size_t es;             // bytes per operand element
  double bg;             // batch x dilation groups
  double qRows, kvRows;  // rows of the Q- and KV-tiled permuted layouts
  const void* k;
  const void* v;
};

TiledCall tiledCall(Napi::Env env, const Napi::CallbackInfo& info) {
  Plan& p = planOf(env, info[0]);
  if (!p.tiled) throw Napi::Error::New(env, "cuda backend: plan has no tile tables");
  const GnaShape s = shapeOf(env, info[1], p);
  const Elem e = elemOf(env, info[2]);
  const double bg = (double)s.batch * p.qGeometry.groups;
  const double kvRows = bg * p.tiles.kvSeq;
  const size_t es = elemSize(e);
  const void* k = need(env, info[4], "k", kvRows * s.kvHeads * s.headDim * es);
  const void* v = need(env, info[5], "v", kvRows * s.kvHeads * s.valueDim * es);
  return {p, s, e, es, bg, bg * p.tiles.qSeq, kvRows, k, v};
}

Napi::Value GnaForwardTiled(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const TiledCall c = tiledCall(env, info);
  const GnaShape& s = c.s;
  WgmmaConfig wgmma;
  if (!info[12].IsUndefined()) {
    if (!info[12].IsBoolean()) throw Napi::TypeError::New(env, "qNatural must be a boolean");
    wgmma.qNatural = info[12].As<Napi::Boolean>().Value();
  }
  const double rows = s.batch * tokensOf(c.plan);
  // q: float32 in the original layout (qNatural), else permuted like k and v.
  const void* q = need(env, info[3], "q", wgmma.qNatural ? rows * s.heads * s.headDim * 4
                                                        : c.qRows * s.heads * s.headDim * c.es);
  auto out = static_cast<float*>(need(env, info[6], "output", rows * s.heads * s.valueDim * 4));
  auto lse = static_cast<float*>(need(env, info[7], "lse", rows * s.heads * 4));
  const int rowsPerWarp = info[8].IsUndefined() ? 32 : intOf(env, info[8], "rowsPerWarp", 16, 32);
  const auto kernel = static_cast<TcKernel>(
      info[9].IsUndefined() ? 0 : intOf(env, info[9], "kernel", 0, 2));
  if (!info[10].IsUndefined()) {
    wgmma.schedule = static_cast<WgmmaSchedule>(intOf(env, info[10], "schedule", 0, 1));
  }
  if (!info[11].IsUndefined()) {
    if (!info[11].IsBoolean()) throw Napi::TypeError::New(env, "persistent must be a boolean");
    wgmma.persistent = info[11].As<Napi::Boolean>().Value();
  }
  if (!info[13].IsUndefined()) {
    const double kvNatural = rows * s.kvHeads * s.headDim * 4;
    wgmma.kNatural = static_cast<const float*>(need(env, info[13], "kNatural", kvNatural));
    wgmma.vNatural = static_cast<const float*>(need(env, info[14], "vNatural", kvNatural));
    wgmma.castState = static_cast<int*>(
        need(env, info[15], "castState", (double)kvCastStateInts((long long)c.bg, s.kvHeads) * 4));
    // The kernel writes kP, vP and castState while it reads the others.
    const void* written[] = {c.k, c.v, wgmma.castState};
    const void* read[] = {q, wgmma.kNatural, wgmma.vNatural};
    for (int i = 0; i < 3; i++) {
      for (int j = 0; j < 3; j++) {
        if (written[i] == read[j] || (j > i && written[i] == written[j])) {
          throw Napi::Error::New(env, "gnaForwardTiled: kP, vP and castState must be buffers of "
                                      "their own, apart from q, kNatural and vNatural");
        }
      }
    }
  }
  check(env, launchGnaForwardTensorCore(s, c.plan.windows, c.plan.tiles, c.e, rowsPerWarp, kernel,
                                        wgmma, q, c.k, c.v, out, lse));
  return env.Undefined();
}

// gnaBackwardTiled(plan, shape, elem, qP, kP, vP, dOutP, lseP, deltaP, dqP, dkP, dvP): the
// forward's permuted layouts, float16/bfloat16 operands, float32 LSE, delta and gradients.
Napi::Value GnaBackwardTiled(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (elemOf(env, info[2]) == Elem::F32) {
    throw Napi::TypeError::New(env, "gnaBackwardTiled: elem must be half");
  }
  const TiledCall c = tiledCall(env, info);
  const GnaShape& s = c.s;
  const double qRows = c.qRows, kvRows = c.kvRows;
  const size_t es = c.es;
  const void* q = need(env, info[3], "q", qRows * s.heads * s.headDim * es);
  const void* dOut = need(env, info[6], "dOutput", qRows * s.heads * s.valueDim * es);
  auto lse = static_cast<const float*>(need(env, info[7], "lse", qRows * s.heads * 4));
  auto delta = static_cast<const float*>(need(env, info[8], "delta", qRows * s.heads * 4));
  auto dq = static_cast<float*>(need(env, info[9], "dq", qRows * s.heads * s.headDim * 4));
  auto dk = static_cast<float*>(need(env, info[10], "dk", kvRows * s.kvHeads * s.headDim * 4));
  auto dv = static_cast<float*>(need(env, info[11], "dv", kvRows * s.kvHeads * s.valueDim * 4));
  check(env, launchGnaBackwardTensorCore(s, c.plan.windows, c.plan.tiles, c.e, q, c.k, c.v, dOut,
                                         lse, delta, dq, dk, dv));
  return env.Undefined();
}

// gnaBackwardDelta(rows, valueDim, out, dOut, dLse, delta): delta = rowsum(out * dOut) - dLse.
Napi::Value GnaBackwardDelta(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int rows = intOf(env, info[0], "rows", 0, 0x7fffffff);
  const int dim = intOf(env, info[1], "valueDim", 1, 1 << 20);
  const double ob = (double)rows * dim * 4;
  auto out = static_cast<const float*>(need(env, info[2], "output", ob));
  auto dOut = static_cast<const float*>(need(env, info[3], "dOutput", ob));
  auto dLse = static_cast<const float*>(need(env, info[4], "dLse", (double)rows * 4));
  auto delta = static_cast<float*>(need(env, info[5], "delta", (double)rows * 4));
  check(env, launchGnaBackwardDelta(rows, dim, out, dOut, dLse, delta));
  return env.Undefined();
}

// wgmmaApplies(elem, headDim, qVolume, kvVolume): whether gnaForwardTiled would run the Hopper
// kernel (and so accept qNatural) for these operands on this device.
Napi::Value WgmmaApplies(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Elem e = elemOf(env, info[0]);
  auto n = [&](int i) { return info[i].IsNumber() ? info[i].As<Napi::Number>().Int32Value() : 0; };
  return Napi::Boolean::New(env, wgmmaApplies(e, n(1), n(2), n(3)));
}

Napi::Value TensorCoreSupports(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto n = [&](int i) { return info[i].IsNumber() ? info[i].As<Napi::Number>().Int32Value() : 0; };
  return Napi::Boolean::New(env, tensorCoreSupports(n(0), n(1), n(2), n(3)));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, Probe));
  exports.Set("alloc", Napi::Function::New(env, Alloc));
  exports.Set("free", Napi::Function::New(env, Free));
  exports.Set("upload", Napi::Function::New(env, Upload));
  exports.Set("download", Napi::Function::New(env, Download));
  exports.Set("copy", Napi::Function::New(env, Copy));
  exports.Set("memoryInfo", Napi::Function::New(env, MemoryInfo));
  exports.Set("releasePool", Napi::Function::New(env, ReleasePool));
  exports.Set("synchronize", Napi::Function::New(env, Synchronize));
  exports.Set("timerStart", Napi::Function::New(env, TimerStart));
  exports.Set("timerStop", Napi::Function::New(env, TimerStop));
  exports.Set("tokenPermute", Napi::Function::New(env, TokenPermute));
  exports.Set("tokenUnpermute", Napi::Function::New(env, TokenUnpermute));
  exports.Set("createPlan", Napi::Function::New(env, CreatePlan));
  exports.Set("destroyPlan", Napi::Function::New(env, DestroyPlan));
  exports.Set("gnaForwardF32", Napi::Function::New(env, GnaForwardF32));
  exports.Set("gnaBackwardF32", Napi::Function::New(env, GnaBackwardF32));
  exports.Set("gnaForwardTiled", Napi::Function::New(env, GnaForwardTiled));
  exports.Set("gnaBackwardTiled", Napi::Function::New(env, GnaBackwardTiled));
  exports.Set("gnaBackwardDelta", Napi::Function::New(env, GnaBackwardDelta));
  exports.Set("tensorCoreSupports", Napi::Function::New(env, TensorCoreSupports));
  exports.Set("wgmmaApplies", Napi::Function::New(env, WgmmaApplies));
  registerOps(env, exports);
  return exports;
}

}  // namespace

void* deviceBuffer(Napi::Env env, const Napi::Value& v, const char* name, double bytes) {
  return need(env, v, name, bytes);
}

}  // namespace gna

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return gna::Init(env, exports); }

NODE_API_MODULE(tfjs_gna_native, InitAddon)

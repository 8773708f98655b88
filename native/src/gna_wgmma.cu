// Hopper (sm_90a) tensor-core GNA forward: warpgroup MMA (wgmma) with TMA loads, over the same
// token-permuted bf16 operands, plan tables and Params as the mma.sync kernel (gna_tc.cuh). A CTA
// owns one Q tile of BQ = 128 or 64 tokens of one (batch*group, head) and walks the same KV tile
// list, in chunks of NC keys (128, or 64 for 64-token KV tiles and for 64-token Q tiles, whose
// CTAs run two per SM). Warpgroups FlashAttention-3 style:
// - one producer thread streams K/V chunks into a ring of two or four stages with TMA
//   (128B-swizzled boxes, full/empty mbarriers per stage; K one chunk ahead of V), its warpgroup
//   giving its registers to the consumers;
// - BQ / 64 consumer warpgroups of 64 query rows each, Q held in registers: S = Q K^T is an RS
//   wgmma (K K-major in shared memory, read through a matrix descriptor), O += P V an RS wgmma
//   (P converted in registers from the S accumulators, whose fragment layout is mma.sync's; V
//   MN-major). Each step issues S(it), rescales O while it runs, issues P(it-1) V(it-1) and
//   runs the softmax of chunk it while the P V wgmma still executes (intra-warpgroup overlap).
//   After the first chunk a step takes no maximum pass: it exponentiates against the running
//   maximum as it stands, and only where a thread's sums exceed 2^16 (a score well above the
//   maximum) does the warp compute S again and take the pass, whose maximum moves only where a
//   chunk's exceeds it by more than 8 (log2 units; conditional rescaling). Most steps thus
//   neither reduce a maximum nor rescale O.
// The consumers start fetching a later item's Q rows into L2 while their first S runs.
// Partial tiles take their fine mask from the plan's precomputed words (WgmmaMasks, built on the
// host with gna_tc.cuh's window test): two words per thread and chunk, one bit per score. The
// walk is compiled twice, with and without the mask, and an item whose KV tiles are all dense
// (every item of a block-sparse problem) runs the second. The online softmax is gna_tc.cuh's,
// with the scale folded into the exponent's FMA.
// With 128-row CTAs the kernel can also take K/V as float32 in the original layout (the fused
// cast, Params::kNatural): a second producer warp per CTA casts later (batch*group, KV head)
// units into the permuted bf16 buffers that the TMA loads read, paced over the current unit's
// items, and the producer waits, once per unit, until its unit is cast (device-scope counters).
#include "gna_wgmma.h"
#include <cuda.h>
#include <cudaTypedefs.h>
#include <algorithm>
#include <string>
#include <type_traits>

namespace gna {
namespace tc {
namespace {

// wgmma exists only in the arch-specific sm_90a target; other device passes compile an empty
// kernel that the host never launches (wgmmaAvailable() checks compute capability 9.0).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define GNA_WGMMA_DEVICE 1
#endif

constexpr int kWD = kWgmmaHeadDim;

// Consumer threads of a CTA with BQ query rows (one warpgroup per 64); the producer warpgroup
// follows them.
template <int BQ> __host__ __device__ constexpr int consumersFor() { return BQ * 2; }
// CTAs per SM: 64-row CTAs hold one consumer warpgroup, so two share an SM.
template <int BQ> __host__ __device__ constexpr int ctasPerSm() { return BQ == 64 ? 2 : 1; }
// Consumer registers after setmaxnreg: the launch's share (65536 / threads / CTAs per SM, 168 or
// 128) moves from the producer warpgroup (down to 24) to the consumers.
template <int BQ> __host__ __device__ constexpr int consumerRegisters() { return BQ == 64 ? 232 : 240; }
// K/V ring stages: 64-key chunks for a 128-row tile take half the time of 128-key ones, so four
// stages keep as many keys in flight (160 KB of shared memory with the Q tile); two 64-row CTAs
// per SM already keep two rings each.
template <int BQ, int NC> __host__ __device__ constexpr int stagesFor() {
  return BQ == 128 && NC == 64 ? 4 : 2;
}
// The fused K/V cast (Params::kNatural, 128-row CTAs): a CTA's second producer warp claims
// slices of kCastSliceRows permuted KV rows of one unit (batch*group, KV head), K's and V's, in
// unit order, and casts them: bulk copies of kCastRows float32 rows into one of kCastBuffers
// shared-memory buffers, converted to bf16 from there into the permuted k/v buffers.
constexpr int kCastRows = 16;
constexpr int kCastRowBytes = kWD * 4;
constexpr int kCastBuffers = 4;
constexpr int kCastSliceRows = kCastRows * kCastBuffers;  // K's four batches, then V's
// Shared memory of the cast: its buffers, the original-layout rows of a slice, the buffers'
// mbarriers and the producer's current work item.
constexpr int kCastBufferBytes = kCastBuffers * kCastRows * kCastRowBytes;
constexpr int kCastSmem = kCastBufferBytes + 8 * kCastSliceRows + 8 * kCastBuffers + 16;
// A unit's slices, and its work items (items run Q tile fastest, then head, and the heads that
// share a KV head are adjacent).
__host__ __device__ inline int castSlicesPerUnit(const Params& p) {
  return (int)(p.kvSeq / kCastSliceRows);
}
__host__ __device__ inline long long castUnitItems(const Params& p) {
  return (long long)p.qTiles * (p.heads / p.kvHeads);
}

// Ring stage and phase parity of ring slot n (S a power of two).
template <int S> __device__ inline int ringStage(int n) { return (unsigned)n % S; }
template <int S> __device__ inline uint32_t ringPhase(int n) { return ((unsigned)n / S) & 1; }

#ifdef GNA_WGMMA_DEVICE
// Accumulator operand lists of the wgmma wrappers: N float registers d[0..N), read and written.
#define GNA_ACC8(d, i)                                                                       \
  "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), \
      "+f"(d[i + 6]), "+f"(d[i + 7])
#define GNA_ACC32(d) GNA_ACC8(d, 0), GNA_ACC8(d, 8), GNA_ACC8(d, 16), GNA_ACC8(d, 24)
#define GNA_ACC64(d) GNA_ACC32(d), GNA_ACC8(d, 32), GNA_ACC8(d, 40), GNA_ACC8(d, 48), GNA_ACC8(d, 56)
// The matching PTX register lists {%0, ..., %N-1}.
#define GNA_REGS32 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define GNA_REGS64 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"

// D[64xN] (+)= A[64x16] * B[16xN] (N = 64 or 128), A in registers (bf16 pairs), B in shared
// memory through a descriptor: K-major (kTransB 0, S = Q K^T) or MN-major (1, O += P V).
template <int kTransB>
__device__ inline void wgmmaRS64(float* d, const uint32_t* a, uint64_t b, int accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " GNA_REGS32 ", "
      "{%32, %33, %34, %35}, %36, p, 1, 1, %38;\n}\n"
      : GNA_ACC32(d)
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(accumulate), "n"(kTransB));
}
template <int kTransB>
__device__ inline void wgmmaRS128(float* d, const uint32_t* a, uint64_t b, int accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " GNA_REGS64 ", "
      "{%64, %65, %66, %67}, %68, p, 1, 1, %70;\n}\n"
      : GNA_ACC64(d)
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(accumulate), "n"(kTransB));
}

// Keeps ptxas from moving a later wgmma wait ahead of the code that computes `nonNegative`:
// ptxas (CUDA 13.0) schedules a wait for all of a warpgroup's wgmmas at the top of its basic
// block, which put the wait for P V before the softmax it should overlap (seen in the SASS). A
// loop on the value (never negative, so it never runs) ends the block after the value is known.
// A compiler that dropped the loop would cost the overlap, not correctness.
__device__ inline void scheduleAfter(float nonNegative) {
  while (__any_sync(0xffffffffu, nonNegative < 0.f)) {
  }
}
__device__ inline void wgmmaFence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ inline void wgmmaCommit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int N> __device__ inline void wgmmaWait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Keeps the compiler from moving accesses of accumulator registers across wgmma issue/wait.
template <int N> __device__ inline void pinRegisters(float* d) {
#pragma unroll
  for (int i = 0; i < N; i++) asm volatile("" : "+f"(d[i])::"memory");
}
// Named barriers 1 and 2 (0 is __syncthreads): the pingpong hand-over between the two consumer
// warpgroups; `count` threads take part (one warpgroup syncing, the other arriving).
template <int ID> __device__ inline void namedBarSync(int count) {
  asm volatile("bar.sync %0, %1;\n" ::"n"(ID), "r"(count) : "memory");
}
// bar.sync that also returns whether `v` held in any of the `count` threads.
template <int ID> __device__ inline bool namedBarSyncOr(int count, bool v) {
  uint32_t any;
  asm volatile(
      "{\n.reg .pred p, q;\nsetp.ne.u32 q, %2, 0;\nbar.red.or.pred p, %1, %3, q;\n"
      "selp.u32 %0, 1, 0, p;\n}\n"
      : "=r"(any)
      : "n"(ID), "r"((uint32_t)v), "r"(count)
      : "memory");
  return any != 0;
}
template <int ID> __device__ inline void namedBarArrive(int count) {
  asm volatile("bar.arrive %0, %1;\n" ::"n"(ID), "r"(count) : "memory");
}
// cp.async writes through the generic proxy; wgmma reads through the async proxy.
__device__ inline void fenceProxyAsync() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// 2^x with results below 2^-126 flushed to zero (softmax weights that small vanish in the sum
// anyway): one MUFU instruction, without the denormal fix-up of exp2f.
__device__ inline float exp2Ftz(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// How far (log2 units) a chunk's row maximum may exceed the running one before the latter moves
// (FlashAttention-4's conditional rescaling): the exponentials then stay below 2^8, harmless in
// float32 sums and bf16 P, and most steps skip the rescale of O.
constexpr float kRescaleSlack = 8.f;
// The max-free step (chunks after the first): exponentials taken against the running maximum as
// it stands, whose sums then show whether the chunk held a score far enough above it to move it.
// A thread's partial sum of at most 2^16 bounds each of its weights by 2^16 (harmless in float32
// sums and bf16 P, like the slack above); above that, or not finite, the warp computes the chunk's
// scores again and takes the step with the maximum pass. The pass's reduction and shuffles sat
// between the S wait and the first exponential of every step; without them the forward runs
// about 10% faster (H100, session 10).
constexpr float kMaxFreeSumLimit = 65536.f;

// Shared-memory matrix descriptor, 128-byte swizzle. lbo/sbo in bytes.
__device__ inline uint64_t descriptor(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)(lbo >> 4) << 16) |
         ((uint64_t)(sbo >> 4) << 32) | (1ull << 62);
}

// The descriptor of a matrix `bytes` further on: the start address field counts 16-byte units
// in bits 0-13, and shared-memory addresses stay below 2^18, so the addition never carries out.
__device__ inline uint64_t descAdvance(uint32_t bytes) { return bytes >> 4; }

// Byte offset of 16-byte chunk c (0..15) of row r in a [rows][128] bf16 tile stored as two
// column halves of [rows][64], each row 128 bytes with the chunk index XOR (r mod 8): the
// canonical 128B-swizzle layout (8-row atoms of 1024 bytes) for K-major and MN-major operands.
template <int ROWS> __device__ inline uint32_t sw128(int r, int c) {
  return (c >> 3) * ROWS * 128 + r * 128 + (((c & 7) ^ (r & 7)) << 4);
}

template <int ROWS, int THREADS>
__device__ inline void loadSw128(unsigned char* dst, const __nv_bfloat16* src, long long stride) {
  for (int i = threadIdx.x; i < ROWS * 16; i += THREADS) {
    const int r = i >> 4, c = i & 15;
    cpAsync16(dst + sw128<ROWS>(r, c), src + r * stride + c * 8);
  }
}

// Head h of token row `row` (batch * tokens + token) of float32 Q in the original layout.
__device__ inline const float* naturalQRow(const Params& p, long long row, int h) {
  return static_cast<const float*>(p.q) + (row * p.heads + h) * kWD;
}

// Q tile rows from float32 Q in the original layout ([tokens][heads][128], row `rows[r]`, zeros
// where it is -1), converted to bf16 into the swizzled tile: the permute-and-cast pass that the
// K/V operands need is fused here for Q, which every CTA reads exactly once. All of a thread's
// loads are issued before the first conversion, so their latencies overlap. `sign` (0 or
// 0x80008000) flips the sign bit of every bf16 value: an exact negation.
template <int ROWS, int THREADS>
__device__ inline void loadNaturalQ(unsigned char* dst, const Params& p, const long long* rows,
                                    int h, uint32_t sign) {
  static_assert(ROWS * 16 % THREADS == 0, "whole 16-byte chunks per thread");
  constexpr int kPer = ROWS * 16 / THREADS;
  float4 v[kPer][2];
#pragma unroll
  for (int j = 0; j < kPer; j++) {
    const int i = threadIdx.x + j * THREADS;
    const long long row = rows[i >> 4];
    const float4 zero = make_float4(0.f, 0.f, 0.f, 0.f);
    v[j][0] = v[j][1] = zero;
    if (row >= 0) {
      const float4* src = reinterpret_cast<const float4*>(naturalQRow(p, row, h) + (i & 15) * 8);
      v[j][0] = __ldg(src);
      v[j][1] = __ldg(src + 1);
    }
  }
#pragma unroll
  for (int j = 0; j < kPer; j++) {
    const int i = threadIdx.x + j * THREADS;
    const float4 a = v[j][0], b = v[j][1];
    *reinterpret_cast<uint4*>(dst + sw128<ROWS>(i >> 4, i & 15)) = make_uint4(
        Mma<__nv_bfloat16>::pack(a.x, a.y) ^ sign, Mma<__nv_bfloat16>::pack(a.z, a.w) ^ sign,
        Mma<__nv_bfloat16>::pack(b.x, b.y) ^ sign, Mma<__nv_bfloat16>::pack(b.z, b.w) ^ sign);
  }
}

// Negates (sign bit flip, exact) the 16-byte chunks of a swizzled tile that this thread loaded
// with loadSw128: its own cp.async writes, complete after cpAsyncWait.
template <int ROWS, int THREADS>
__device__ inline void negateOwnSw128(unsigned char* tile) {
  for (int i = threadIdx.x; i < ROWS * 16; i += THREADS) {
    uint4* chunk = reinterpret_cast<uint4*>(tile + sw128<ROWS>(i >> 4, i & 15));
    const uint4 x = *chunk;
    *chunk = make_uint4(x.x ^ 0x80008000u, x.y ^ 0x80008000u, x.z ^ 0x80008000u, x.w ^ 0x80008000u);
  }
}

// Starts fetching `bytes` at `src` into L2 (no destination, nothing to wait for).
__device__ inline void prefetchL2(const void* src, uint32_t bytes) {
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(src), "r"(bytes) : "memory");
}

__device__ inline void mbarInit(uint32_t bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ inline void mbarExpectTx(uint32_t bar, int bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes)
               : "memory");
}
__device__ inline void mbarArrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// Spins until the phase with this parity has completed.
__device__ inline void mbarWait(uint32_t bar, uint32_t parity) {
  asm volatile(
      "{\n.reg .pred done;\nWAIT_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT_%=;\n}\n" ::"r"(bar), "r"(parity)
      : "memory");
}
// One 2D TMA box (64 columns = 128 bytes, 128B-swizzled, by NC rows) into shared memory,
// completing `bytes` on the mbarrier.
__device__ inline void tmaLoad(void* dst, const CUtensorMap* map, int col, int row, uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, "
      "%3}], [%4];\n" ::"r"(smemAddr(dst)), "l"(reinterpret_cast<uint64_t>(map)), "r"(col), "r"(row),
      "r"(bar)
      : "memory");
}

// `bytes` (a multiple of 16) from global memory into shared memory, completing on the mbarrier,
// with L2 eviction priority first: the fused cast reads its float32 K/V once, and must not push
// the attention's K/V tiles out of L2.
__device__ inline void bulkLoadOnce(uint32_t dst, const void* src, uint32_t bytes, uint32_t bar) {
  asm volatile(
      "{\n.reg .b64 policy;\ncreatepolicy.fractional.L2::evict_first.b64 policy, 1.0;\n"
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint "
      "[%0], [%1], %2, [%3], policy;\n}\n" ::"r"(dst), "l"(src), "r"(bytes), "r"(bar)
      : "memory");
}
// Four bf16 values of cast K/V, stored evict-first (st.global.cs): a later unit's work items read
// them, after much more has gone through L2 than it holds.
__device__ inline void storeCast(__nv_bfloat16* dst, float4 x) {
  asm volatile("st.global.cs.v2.b32 [%0], {%1, %2};\n" ::"l"(dst),
               "r"(Mma<__nv_bfloat16>::pack(x.x, x.y)), "r"(Mma<__nv_bfloat16>::pack(x.z, x.w))
               : "memory");
}
// Device-scope synchronisation of the fused cast: its generic-proxy stores of K/V are read by
// other CTAs' TMA loads (async proxy), so both sides fence the proxies around release/acquire.
__device__ inline void fenceProxyAsyncGlobal() {
  asm volatile("fence.proxy.async.global;\n" ::: "memory");
}
__device__ inline int loadAcquire(const int* p) {
  int v;
  asm volatile("ld.acquire.gpu.global.s32 %0, [%1];\n" : "=r"(v) : "l"(p) : "memory");
  return v;
}
__device__ inline int loadRelaxed(const int* p) {
  int v;
  asm volatile("ld.relaxed.gpu.global.s32 %0, [%1];\n" : "=r"(v) : "l"(p) : "memory");
  return v;
}
__device__ inline void addRelease(int* p, int v) {
  asm volatile("red.release.gpu.global.add.s32 [%0], %1;\n" ::"l"(p), "r"(v) : "memory");
}

// One work item: a Q tile of one (batch*group, head). Items are numbered Q tile fastest, then
// head, then batch*group; an item's KV walk is kvWalk<NC>(p, bg % groups, qTile).
struct WorkItem {
  int qTile, h, bg;
};

__device__ inline WorkItem itemCoords(const Params& p, int w) {
  WorkItem t{};
  t.qTile = w % p.qTiles;
  t.h = (w / p.qTiles) % p.heads;
  t.bg = w / (p.qTiles * p.heads);
  return t;
}

// Row r of work item t's Q tile in bf16 Q permuted beforehand (Q tiles of BQ rows).
template <int BQ>
__device__ inline const __nv_bfloat16* permutedQRow(const Params& p, const WorkItem& t, int r) {
  const long long row = (long long)t.bg * p.qSeq + (long long)t.qTile * BQ + r;
  return static_cast<const __nv_bfloat16*>(p.q) + (row * p.heads + t.h) * kWD;
}

// The fused cast's unit of work item t: its (batch*group, KV head), in item order.
__device__ inline int castUnit(const Params& p, const WorkItem& t) {
  return t.bg * p.kvHeads + t.h / (p.heads / p.kvHeads);
}

// Casts slice `slice` (kCastSliceRows permuted rows of one unit, K's and V's) into the permuted
// bf16 k/v buffers, then counts it done for its unit (release). Rows of tile padding become zeros
// (written into their buffer row): the walk masks their scores, but P V must not meet a NaN there.
// Buffer q of the ring holds batch q and then q + kCastBuffers (V's rows) of every slice, so its
// phases alternate per slice. Lean on registers: the producer warpgroup runs on 24 per thread.
__device__ inline void castSlice(const Params& p, int slice, int perUnit, uint32_t stage,
                                 uint32_t bars, long long* sRows, int lane) {
  const int unit = slice / perUnit;
  const int bg = unit / p.kvHeads, hk = unit - bg * p.kvHeads;
  const int row0 = (slice - unit * perUnit) * kCastSliceRows;
  // The original-layout row of each of the slice's rows (-1: tile padding), two per lane.
  for (int r = lane; r < kCastSliceRows; r += 32) {
    int dg[kMaxRank];
    groupCoords(bg % p.groups, p.rank, p.dilation, dg);
    sRows[r] = naturalKvRow(p, bg, row0 + r, dg);
  }
  __syncwarp();
  // Lanes 0..kCastRows-1 each bring one row of batch b (K's rows for b < kCastBuffers, then V's).
  auto issue = [&](int b) {
    const int q = b % kCastBuffers;
    const uint32_t dst = stage + (q * kCastRows + lane) * kCastRowBytes;
    const long long row = lane < kCastRows ? sRows[q * kCastRows + lane] : 0;
    if (row < 0) {
      for (int i = 0; i < kCastRowBytes; i += 16) {
        asm volatile("st.shared.v4.u32 [%0], {%1, %1, %1, %1};\n" ::"r"(dst + i), "r"(0u)
                     : "memory");
      }
    }
    const uint32_t valid = __ballot_sync(0xffffffffu, lane < kCastRows && row >= 0);
    const uint32_t bar = bars + 8 * q;
    if (lane == 0) mbarExpectTx(bar, __popc(valid) * kCastRowBytes);
    if (valid >> lane & 1u) {
      const float* src = b < kCastBuffers ? p.kNatural : p.vNatural;
      bulkLoadOnce(dst, src + (row * p.kvHeads + hk) * kWD, kCastRowBytes, bar);
    }
  };
#pragma unroll 1
  for (int b = 0; b < kCastBuffers; b++) issue(b);
#pragma unroll 1
  for (int b = 0; b < 2 * kCastBuffers; b++) {
    const int q = b % kCastBuffers;
    mbarWait(bars + 8 * q, b / kCastBuffers);
    __syncwarp();  // the zeros other lanes wrote into padding rows
    auto* dst = static_cast<__nv_bfloat16*>(const_cast<void*>(b < kCastBuffers ? p.k : p.v));
    const long long first = ((long long)bg * p.kvSeq + row0 + q * kCastRows) * p.kvHeads + hk;
#pragma unroll 4
    for (int j = 0; j < kCastRows; j++) {
      float4 x;
      asm volatile("ld.shared.v4.f32 {%0, %1, %2, %3}, [%4];\n"
                   : "=f"(x.x), "=f"(x.y), "=f"(x.z), "=f"(x.w)
                   : "r"(stage + (q * kCastRows + j) * kCastRowBytes + lane * 16));
      storeCast(dst + (first + (long long)j * p.kvHeads) * kWD + lane * 4, x);
    }
    if (b < kCastBuffers) {
      // The buffer's generic-proxy reads (and zero writes) are done, in every lane, before the
      // bulk copies (async proxy) reuse it.
      fenceProxyAsync();
      __syncwarp();
      issue(b + kCastBuffers);
    }
  }
  fenceProxyAsyncGlobal();
  __threadfence();
  __syncwarp();
  if (lane == 0) addRelease(p.castState + 1 + unit, 1);
}

// The cast warp of a 128-row CTA: claims slices in order (the claim counter castState[0]) and
// casts them, paced by its producer's current work item w (*sItem; -1 once the producer has
// issued its last load): claims may reach the slice that lies as far into the next unit as item
// w + resident lies into its own, so that the next unit is cast evenly over the current one's
// items, a wave of CTAs before its first item starts (a burst of casting would compete with the
// attention for memory). A claimed slice is always cast, and casting never waits on another CTA,
// so a producer waiting for its unit's slices always sees them completed: the pace lets its own
// cast warp claim whatever of the unit is left.
__device__ inline void castWorker(const Params& p, uint32_t stage, uint32_t bars, int* sItem,
                                  long long* sRows, int lane) {
  const int perUnit = castSlicesPerUnit(p);
  const int total = perUnit * p.batchGroups * p.kvHeads;
  const long long unitItems = castUnitItems(p);
  for (;;) {
    int slice = -1;  // -1: wait for the producer to move on
    if (lane == 0) {
      const int w = atomicOr(sItem, 0);
      const int claimed = loadRelaxed(p.castState);
      const long long pace = (w + p.resident + unitItems) * perUnit / unitItems;
      if (w < 0 || claimed >= total) {
        slice = total;  // nothing more for this CTA to cast
      } else if (claimed < pace) {
        slice = atomicAdd(p.castState, 1);
      }
    }
    slice = __shfl_sync(0xffffffffu, slice, 0);
    if (slice >= total) return;
    if (slice < 0) {
      __nanosleep(2000);
      continue;
    }
    castSlice(p, slice, perUnit, stage, bars, sRows, lane);
  }
}

#endif  // GNA_WGMMA_DEVICE

// The fused cast's start: the units that the first wave of CTAs works on (slices [0, slices)),
// cast at the full width of the GPU before the attention kernel starts (its cast warps alone
// would hold every CTA back until the first unit is done), and the cast state initialised as if
// the cast warps had claimed and cast them. One warp per permuted row, K's and V's.
__global__ void __launch_bounds__(256) castKvPrologue(Params p, int slices) {
#ifdef GNA_WGMMA_DEVICE
  const int perUnit = castSlicesPerUnit(p);
  const int units = p.batchGroups * p.kvHeads;
  if (blockIdx.x == 0) {
    for (int u = threadIdx.x; u <= units; u += blockDim.x) {
      p.castState[u] = u == 0 ? slices : (u - 1 < slices / perUnit ? perUnit : 0);
    }
  }
  const int lane = threadIdx.x % 32;
  const long long rows = (long long)slices * kCastSliceRows;
  for (long long r = (blockIdx.x * (long long)blockDim.x + threadIdx.x) / 32; r < rows;
       r += (long long)gridDim.x * blockDim.x / 32) {
    const int unit = (int)(r / p.kvSeq);
    const int bg = unit / p.kvHeads, hk = unit - bg * p.kvHeads;
    const int s = (int)(r - (long long)unit * p.kvSeq);
    int dg[kMaxRank];
    groupCoords(bg % p.groups, p.rank, p.dilation, dg);
    const long long row = naturalKvRow(p, bg, s, dg);
    float4 k = make_float4(0.f, 0.f, 0.f, 0.f), v = k;
    if (row >= 0) {
      const long long at = (row * p.kvHeads + hk) * kWD + lane * 4;
      k = __ldcs(reinterpret_cast<const float4*>(p.kNatural + at));
      v = __ldcs(reinterpret_cast<const float4*>(p.vNatural + at));
    }
    const long long to = (((long long)bg * p.kvSeq + s) * p.kvHeads + hk) * kWD + lane * 4;
    storeCast(static_cast<__nv_bfloat16*>(const_cast<void*>(p.k)) + to, k);
    storeCast(static_cast<__nv_bfloat16*>(const_cast<void*>(p.v)) + to, v);
  }
#endif
}

// A CTA runs work items blockIdx.x, blockIdx.x + gridDim.x, ...: one each when the grid covers
// them all, several when persistent (grid = CTAs resident at once), the producer streaming the
// next item's K/V while the consumers finish the current one. Ring slot n (counted over all of
// the CTA's items) is stage n % S; in step it the consumers read K(it) and V(it - 1).
template <int BQ, int NC>
__global__ void __launch_bounds__(consumersFor<BQ>() + 128, ctasPerSm<BQ>())
wgmmaForwardKernel(Params p, const __grid_constant__ CUtensorMap tmK,
               const __grid_constant__ CUtensorMap tmV) {
#ifdef GNA_WGMMA_DEVICE
  using T = __nv_bfloat16;
  constexpr int NT = NC / 8;
  constexpr int DT = kWD / 8;
  constexpr int kConsumers = consumersFor<BQ>();
  constexpr int kQBytes = BQ * kWD * 2, kChunkBytes = NC * kWD * 2;
  constexpr int S = stagesFor<BQ, NC>();
  extern __shared__ unsigned char smemRaw[];
  unsigned char* smem = reinterpret_cast<unsigned char*>(
      (reinterpret_cast<uintptr_t>(smemRaw) + 1023) & ~uintptr_t(1023));
  unsigned char* sQ = smem;
  unsigned char* sK = sQ + kQBytes;
  unsigned char* sV = sK + S * kChunkBytes;
  // mbarriers: fullK[S], fullV[S] (TMA bytes landed), emptyK[S], emptyV[S] (consumers done).
  unsigned char* sBars = sV + S * kChunkBytes;
  const uint32_t bars = smemAddr(sBars);
  // Row of the original layout per Q tile row (-1: tile padding), for the Q load and the output.
  long long* sRow = reinterpret_cast<long long*>(sBars + 32 * S);
  // The fused cast's shared memory (kCastSmem bytes, allocated only when the launch fuses it).
  unsigned char* sCast = reinterpret_cast<unsigned char*>(sRow + BQ);
  long long* sCastRows = reinterpret_cast<long long*>(sCast + kCastBufferBytes);
  const uint32_t castBars = smemAddr(sCastRows + kCastSliceRows);
  int* sCastItem = reinterpret_cast<int*>(sCastRows + kCastSliceRows + kCastBuffers);
  const bool castKv = BQ == 128 && p.kNatural != nullptr;
  auto fullK = [&](int st) { return bars + 8 * st; };
  auto fullV = [&](int st) { return bars + 8 * (S + st); };
  auto emptyK = [&](int st) { return bars + 8 * (2 * S + st); };
  auto emptyV = [&](int st) { return bars + 8 * (3 * S + st); };

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wg = warp / 4;
  const int rowBase = warp * 16;
  const long long qStride = (long long)p.heads * kWD;
  const int items = p.qTiles * p.heads * p.batchGroups;

  if (threadIdx.x == kConsumers) {
    for (int i = 0; i < 2 * S; i++) {
      mbarInit(bars + 8 * i, 1);
      mbarInit(bars + 8 * (2 * S + i), kConsumers / 32);  // one release per consumer warp
    }
    if (castKv) {
      for (int i = 0; i < kCastBuffers; i++) mbarInit(castBars + 8 * i, 1);
      *sCastItem = blockIdx.x;
    }
    fenceProxyAsync();  // barrier initialisation visible to the TMA unit
  }
  __syncthreads();  // the only CTA-wide barrier: from here on, stages hand over via mbarriers

  if (warp >= kConsumers / 32) {  // producer warpgroup: one thread streams K/V chunks with TMA
    asm volatile("setmaxnreg.dec.sync.aligned.u32 24;\n" ::: "memory");
    if (castKv && warp == kConsumers / 32 + 1) {
      castWorker(p, smemAddr(sCast), castBars, sCastItem, sCastRows, lane);
    } else if (warp == kConsumers / 32 && lane == 0) {
      // Ring slot n: wait for the release of its previous use (slot n - S), then load both
      // column halves of the chunk at permuted KV row `row`, KV head `hk`.
      auto load = [&](const CUtensorMap* map, unsigned char* ring, uint32_t full, uint32_t empty,
                      int n, int hk, int row) {
        if (n >= S) mbarWait(empty, ringPhase<S>(n) ^ 1);
        mbarExpectTx(full, kChunkBytes);
        tmaLoad(ring + ringStage<S>(n) * kChunkBytes, map, hk * kWD, row, full);
        tmaLoad(ring + ringStage<S>(n) * kChunkBytes + NC * 128, map, hk * kWD + 64, row, full);
      };
      // Order K(0), K(1), V(0), K(2), V(1), ...: K(n + 1) and V(n) are both first read in step
      // n + 1, and K's slot is released half a step before V's, so K no longer waits behind V.
      int n = 0, lastHk = 0, lastRow = 0;
      auto loadLastV = [&] {
        load(&tmV, sV, fullV(ringStage<S>(n - 1)), emptyV(ringStage<S>(n - 1)), n - 1, lastHk,
             lastRow);
      };
      // The first item of each unit waits until the unit's K/V are cast (fused cast): every
      // slice counted done with release, then this thread's TMA reads follow the proxy fence.
      int readyUnit = -1;
      auto awaitCast = [&](int w, const WorkItem& t) {
        atomicExch(sCastItem, w);
        const int unit = castUnit(p, t);
        if (unit == readyUnit) return;
        while (loadAcquire(p.castState + 1 + unit) < castSlicesPerUnit(p)) __nanosleep(128);
        fenceProxyAsyncGlobal();
        readyUnit = unit;
      };
      for (int w = blockIdx.x; w < items; w += gridDim.x) {
        const WorkItem t = itemCoords(p, w);
        if (castKv) awaitCast(w, t);
        const KvWalk<NC> walk = kvWalk<NC>(p, t.bg % p.groups, t.qTile);
        const int hk = t.h / (p.heads / p.kvHeads);
        const int rowBaseKv = t.bg * (int)p.kvSeq;
        for (int it = 0; it < walk.total; it++, n++) {
          const int row = rowBaseKv + (int)walk.key(p, it);
          load(&tmK, sK, fullK(ringStage<S>(n)), emptyK(ringStage<S>(n)), n, hk, row);
          if (n > 0) loadLastV();
          lastHk = hk;
          lastRow = row;
        }
      }
      if (n > 0) loadLastV();
      if (castKv) atomicExch(sCastItem, -1);  // the cast warp stops claiming
    }
    return;
  }
  // Consumers take the producer's registers: 128 x 24 + 256 x 240 (two 64-row CTAs: 2 x (128 x
  // 24 + 128 x 232)) fits the 64K register file.
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(consumerRegisters<BQ>()) : "memory");

  float o[DT * 4];
  float rowMax[2], rowSum[2];
  uint32_t pf[NC / 16][4];  // P of the previous chunk, bf16 A fragments
  WorkItem t{};
  KvWalk<NC> walk{};
  int base = 0;  // ring slots of the CTA's earlier items
  auto stage = [&](int it) { return ringStage<S>(base + it); };
  auto phase = [&](int it) { return ringPhase<S>(base + it); };

  auto issuePV = [&](int chunk) {
    const uint64_t v = descriptor(smemAddr(sV + stage(chunk) * kChunkBytes), NC * 128, 1024);
#pragma unroll
    for (int kk = 0; kk < NC / 16; kk++) {
      wgmmaRS128<1>(o, pf[kk], v + descAdvance(kk * 16 * 128), 1);
    }
    wgmmaCommit();
  };

  // A consumer warp hands a stage back once its wgmma reads of it have completed (wait_group
  // is warp-synchronous), so one lane arrives for the warp.
  auto release = [&](uint32_t bar) {
    __syncwarp();
    if (lane == 0) mbarArrive(bar);
  };

  // Q is held in registers (RS wgmma): an SS wgmma would read Q from shared memory again for
  // every chunk, on top of K, V and the TMA writes.
  uint32_t qf[kWD / 16][4];
  float s[NT * 4];
  auto issueS = [&](int it) {
    const uint64_t k = descriptor(smemAddr(sK + stage(it) * kChunkBytes), 16, 1024);
#pragma unroll
    for (int kk = 0; kk < kWD / 16; kk++) {
      const uint64_t b = k + descAdvance((kk >> 2) * NC * 128 + (kk & 3) * 32);
      if constexpr (NC == 128) wgmmaRS128<0>(s, qf[kk], b, kk);
      else wgmmaRS64<0>(s, qf[kk], b, kk);
    }
    wgmmaCommit();
  };
  // This warp's 16 rows of S(it) by mma.sync from the K stage (still held) and Q's fragments,
  // whose layouts are the RS wgmma's: the rare step whose max-free pass failed recomputes its own
  // rows without the warpgroup (a wgmma needs all four warps, and the others may have settled).
  // ldmatrix lane l addresses matrix l / 8: keys 16j + 8 (m / 2) + l % 8, dims chunk 2kk + m % 2,
  // so b[0..1] and b[2..3] are the B fragments of key tiles 2j and 2j + 1. The address is
  // sw128<NC> written out with the key's low bits (l % 8) known: through sw128 ptxas spilled loop
  // counters of the main loop to local memory.
  auto warpS = [&](int it) {
    const unsigned char* kTile = sK + stage(it) * kChunkBytes;
    const int m = lane / 8;
#pragma unroll
    for (int i = 0; i < NT * 4; i++) s[i] = 0.f;
#pragma unroll
    for (int kk = 0; kk < kWD / 16; kk++) {
#pragma unroll
      for (int j = 0; j < NT / 2; j++) {
        uint32_t b[4];
        const unsigned char* row =
            kTile + (kk >> 2) * NC * 128 + (16 * j + (m >> 1) * 8 + lane % 8) * 128;
        ldmatrix4(b, row + ((((2 * kk + (m & 1)) & 7) ^ (lane % 8)) << 4));
        Mma<T>::run(&s[8 * j], qf[kk], b[0], b[1]);
        Mma<T>::run(&s[8 * j + 4], qf[kk], b[2], b[3]);
      }
    }
  };
  // Scores enter the exponent as one FMA, s * |scale| - max, so the row maximum is taken over the
  // raw products; with a negative scale Q enters negated (exact in bf16), so S is -Q K^T.
  const float scaleLog2 = fabsf(p.scaleLog2);
  bool rescaleO = true;  // whether this warp's O rows owe a rescale (by alpha) before the next P V
  const bool negateQ = p.scaleLog2 < 0.f;
  // Starts fetching into L2 the Q rows of the work item p.resident after item w: a CTA starts
  // it when one of the resident ones finishes (the next item of this CTA when persistent), and
  // its prologue's Q load then waits for L2, not for device memory. One row per consumer thread.
  auto prefetchQ = [&](int w) {
    if (w < items - p.resident && threadIdx.x < BQ) {
      const WorkItem n = itemCoords(p, w + p.resident);
      const int r = threadIdx.x;
      if (p.qNatural) {
        int dg[kMaxRank];
        groupCoords(n.bg % p.groups, p.rank, p.dilation, dg);
        const long long row = naturalRow(p, n.bg, n.qTile, r, dg);
        if (row >= 0) prefetchL2(naturalQRow(p, row, n.h), kWD * 4);
      } else {
        prefetchL2(permutedQRow<BQ>(p, n, r), kWD * 2);
      }
    }
  };
  // The fine mask of one chunk for this thread's two rows (WgmmaMasks: bit 2i + j of bits[rr]
  // is score s[4i + 2rr + j]), for a chunk of a partial tile (or one with KV padding).
  struct ChunkMask {
    bool on;
    uint32_t bits[2];
  };
  // This thread's first word of a mask chunk (WgmmaMasks).
  const uint32_t maskLane = rowBase * 4 + lane;
  // The fine mask: scores of hidden keys become -inf.
  auto applyMask = [&](const ChunkMask& mask) {
    if (mask.on) {
#pragma unroll
      for (int i = 0; i < NT; i++) {
#pragma unroll
        for (int rr = 0; rr < 2; rr++) {
          if (!(mask.bits[rr] >> (2 * i) & 1u)) s[4 * i + 2 * rr] = -INFINITY;
          if (!(mask.bits[rr] >> (2 * i + 1) & 1u)) s[4 * i + 2 * rr + 1] = -INFINITY;
        }
      }
    }
  };
  // The step with the maximum pass: mask and exponentiate one chunk in place; returns the O
  // rescale factors in alpha.
  auto softmax = [&](const ChunkMask& mask, float* alpha) {
    applyMask(mask);
#pragma unroll
    for (int rr = 0; rr < 2; rr++) {
      // Four partial maxima (sums below): dependent chains a quarter as long.
      float part[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
#pragma unroll
      for (int i = 0; i < NT; i++) {
        part[i % 4] = fmaxf(part[i % 4], fmaxf(s[4 * i + 2 * rr], s[4 * i + 2 * rr + 1]));
      }
      float mx = fmaxf(fmaxf(part[0], part[1]), fmaxf(part[2], part[3]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      // The running maximum moves only where the chunk's exceeds it by more than kRescaleSlack,
      // so that most steps leave it, and with it O, unchanged.
      const float mChunk = mx * scaleLog2;
      const float mNew = mChunk > rowMax[rr] + kRescaleSlack ? mChunk : rowMax[rr];
      const float mUse = mNew == -INFINITY ? 0.f : mNew;  // rows with nothing visible yet
      alpha[rr] = mNew == rowMax[rr] ? 1.f : exp2Ftz(rowMax[rr] - mUse);
      part[0] = part[1] = part[2] = part[3] = 0.f;
#pragma unroll
      for (int i = 0; i < NT; i++) {
        s[4 * i + 2 * rr] = exp2Ftz(fmaf(s[4 * i + 2 * rr], scaleLog2, -mUse));
        s[4 * i + 2 * rr + 1] = exp2Ftz(fmaf(s[4 * i + 2 * rr + 1], scaleLog2, -mUse));
        part[i % 4] += s[4 * i + 2 * rr] + s[4 * i + 2 * rr + 1];
      }
      rowSum[rr] = rowSum[rr] * alpha[rr] + ((part[0] + part[1]) + (part[2] + part[3]));
      rowMax[rr] = mNew;
    }
    // O's rescale is skipped by warps none of whose rows moved their maximum.
    rescaleO = __any_sync(0xffffffffu, alpha[0] != 1.f || alpha[1] != 1.f);
  };
  // The max-free step for warps whose rows all have a running maximum: true where every
  // thread's sums stay within kMaxFreeSumLimit (the maximum stays, O owes no rescale); false leaves
  // s overwritten, and the step must compute S again.
  auto softmaxMaxFree = [&](const ChunkMask& mask) {
    applyMask(mask);
    float total[2];
#pragma unroll
    for (int rr = 0; rr < 2; rr++) {
      float part[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
      for (int i = 0; i < NT; i++) {
        s[4 * i + 2 * rr] = exp2Ftz(fmaf(s[4 * i + 2 * rr], scaleLog2, -rowMax[rr]));
        s[4 * i + 2 * rr + 1] = exp2Ftz(fmaf(s[4 * i + 2 * rr + 1], scaleLog2, -rowMax[rr]));
        part[i % 4] += s[4 * i + 2 * rr] + s[4 * i + 2 * rr + 1];
      }
      total[rr] = (part[0] + part[1]) + (part[2] + part[3]);
    }
    // NaN fails the test too: the maximum pass then handles it as before.
    if (!__all_sync(0xffffffffu, total[0] <= kMaxFreeSumLimit && total[1] <= kMaxFreeSumLimit)) {
      return false;
    }
    rowSum[0] += total[0];
    rowSum[1] += total[1];
    rescaleO = false;
    return true;
  };
  auto rescale = [&](const float* alpha) {
#pragma unroll
    for (int i = 0; i < DT; i++) {
      o[4 * i + 0] *= alpha[0];
      o[4 * i + 1] *= alpha[0];
      o[4 * i + 2] *= alpha[1];
      o[4 * i + 3] *= alpha[1];
    }
  };
  auto packP = [&] {
#pragma unroll
    for (int kk = 0; kk < NC / 16; kk++) {
      pf[kk][0] = Mma<T>::pack(s[8 * kk + 0], s[8 * kk + 1]);
      pf[kk][1] = Mma<T>::pack(s[8 * kk + 2], s[8 * kk + 3]);
      pf[kk][2] = Mma<T>::pack(s[8 * kk + 4], s[8 * kk + 5]);
      pf[kk][3] = Mma<T>::pack(s[8 * kk + 6], s[8 * kk + 7]);
    }
  };

  for (int w = blockIdx.x; w < items; w += gridDim.x) {
    t = itemCoords(p, w);
    walk = kvWalk<NC>(p, t.bg % p.groups, t.qTile);
    // Every consumer is done with the previous item's Q tile and windows before they are
    // replaced, and sees the new ones before its first product.
    namedBarSync<3>(kConsumers);
    int dg[kMaxRank];
    groupCoords(t.bg % p.groups, p.rank, p.dilation, dg);
    for (int r = threadIdx.x; r < BQ; r += kConsumers) {
      sRow[r] = naturalRow(p, t.bg, t.qTile, r, dg);
    }
    if (p.qNatural) {
      namedBarSync<3>(kConsumers);  // sRow complete
      loadNaturalQ<BQ, kConsumers>(sQ, p, sRow, t.h, negateQ ? 0x80008000u : 0u);
    } else {
      loadSw128<BQ, kConsumers>(sQ, permutedQRow<BQ>(p, t, 0), qStride);
      cpAsyncCommit();
    }
    cpAsyncWait<0>();
    if (!p.qNatural && negateQ) negateOwnSw128<BQ, kConsumers>(sQ);
    fenceProxyAsync();  // Q, written through the generic proxy, is read by wgmma
    // Whether any KV tile of the walk carries the fine mask: the consumers look at its tiles'
    // mask indices between them, and the barrier ORs what they found. Items without (all of a
    // block-sparse problem's) skip every per-chunk step of the mask.
    bool anyMask = false;
    for (int e = threadIdx.x; e < walk.total / walk.chunksPerTile; e += kConsumers) {
      anyMask = anyMask || __ldg(p.maskIndex + walk.first + e) >= 0;
    }
    // The vote adds nothing to the barrier's CTA-wide OR but lets ptxas see a warp-uniform value.
    anyMask = __any_sync(0xffffffffu, namedBarSyncOr<3>(kConsumers, anyMask));
#pragma unroll
    for (int kk = 0; kk < kWD / 16; kk++) {  // this warp's 16 rows, mma.sync's A layout
      ldmatrix4(qf[kk], sQ + sw128<BQ>(rowBase + lane % 16, 2 * kk + lane / 16));
    }

#pragma unroll
    for (int i = 0; i < DT * 4; i++) o[i] = 0.f;
    rowMax[0] = rowMax[1] = -INFINITY;
    rowSum[0] = rowSum[1] = 0.f;
    const int total = walk.total;

    // Pingpong (128-row CTAs, p.pingpong): the two consumer warpgroups take turns issuing their
    // matrix products, so that one warpgroup's softmax runs while the other's wgmmas execute.
    // Each issue point waits for this warpgroup's turn and then hands the turn over; warpgroup 1
    // opens the first turn for warpgroup 0 and skips the hand-over after its last issue point, so
    // every arrival is consumed (total + 1 issue points per warpgroup and item).
    const bool pingpong = BQ == 128 && p.pingpong && total > 0;
    auto turnBegin = [&] {
      if (!pingpong) return;
      if (wg == 0) namedBarSync<1>(256);
      else namedBarSync<2>(256);
    };
    auto turnEnd = [&](bool last) {
      if (!pingpong) return;
      if (wg == 0) namedBarArrive<2>(256);
      else if (!last) namedBarArrive<1>(256);
    };
    if (pingpong && wg == 1) namedBarArrive<1>(256);

    // The walk, compiled twice: with the fine mask for items that have partial tiles, and
    // without any per-chunk trace of it for the others.
    auto walkChunks = [&](auto masked) {
      constexpr bool kMasked = decltype(masked)::value;
      // The walk position of the current chunk and the mask index of its KV tile. chunkMask,
      // called once the chunk's S and P V are issued, loads its mask words (they land while the
      // wgmmas run), moves on one chunk and reads the next tile's mask index right before the
      // wait for S: ptxas may move that warp-uniform value to a uniform register at once,
      // waiting for the load there, which the wait for S then hides.
      int walkTile = 0, walkChunk = 0;
      const int endTile = total / walk.chunksPerTile;
      int maskIndex = kMasked && total > 0 ? __ldg(p.maskIndex + walk.first) : -1;
      auto chunkMask = [&] {
        ChunkMask m;
        m.on = kMasked && maskIndex >= 0;
        if (!kMasked) return m;
        if (m.on) {
          const uint32_t word =
              (uint32_t)(maskIndex * walk.chunksPerTile + walkChunk) * (BQ * 4) + maskLane;
          m.bits[0] = __ldg(p.masks + word);
          m.bits[1] = __ldg(p.masks + word + 32);
        }
        if (++walkChunk == walk.chunksPerTile) {
          walkChunk = 0;
          if (++walkTile < endTile) maskIndex = __ldg(p.maskIndex + walk.first + walkTile);
        }
        return m;
      };
      // alpha: the rescale O owes before the next P V, applied while S of the next chunk runs.
      float alpha[2];
      if (total > 0) {  // chunk 0: nothing to overlap with yet
        mbarWait(fullK(stage(0)), phase(0));
        turnBegin();
        wgmmaFence();
        issueS(0);
        turnEnd(false);
        const ChunkMask chunk = chunkMask();
        prefetchQ(w);  // while S(0) runs
        wgmmaWait<0>();
        release(emptyK(stage(0)));
        pinRegisters<NT * 4>(s);
        softmax(chunk, alpha);
        packP();
      }
      // Rescales O by alpha between the issue of S and of P V: the pins keep the multiplications
      // after the S issue (overlapping it) and before the fence that P V's accumulators need.
      auto rescaleThenPV = [&](int chunk) {
        pinRegisters<DT * 4>(o);
        if (rescaleO) rescale(alpha);
        pinRegisters<DT * 4>(o);
        wgmmaFence();
        issuePV(chunk);
      };
      // The steps it >= 1 issue S(it) and P(it-1) V(it-1) and run chunk it's softmax while P V
      // executes (intra-warpgroup overlap).
      for (int it = 1; it < total; it++) {
        mbarWait(fullK(stage(it)), phase(it));
        mbarWait(fullV(stage(it - 1)), phase(it - 1));
        pinRegisters<DT * 4>(o);
        turnBegin();
        wgmmaFence();
        issueS(it);
        rescaleThenPV(it - 1);
        turnEnd(false);
        const ChunkMask chunk = chunkMask();
        wgmmaWait<1>();  // S(it) done
        pinRegisters<NT * 4>(s);
        // The max-free step where every row of the warp has a running maximum; else, or where
        // its sums call for the maximum pass, that pass (on S computed again by the warp if the
        // max-free step has overwritten it: K(it) stays held until the step is settled).
        const bool maxFree =
            __all_sync(0xffffffffu, rowMax[0] != -INFINITY && rowMax[1] != -INFINITY);
        if (!maxFree || !softmaxMaxFree(chunk)) {
          if (maxFree) warpS(it);
          softmax(chunk, alpha);
        }
        release(emptyK(stage(it)));
        scheduleAfter(rowSum[0] + rowSum[1]);
        wgmmaWait<0>();
        release(emptyV(stage(it - 1)));
        pinRegisters<DT * 4>(o);
        pinRegisters<NC / 4>(reinterpret_cast<float*>(&pf[0][0]));
        packP();
      }
      if (total > 0) {  // the last chunk's P V
        mbarWait(fullV(stage(total - 1)), phase(total - 1));
        turnBegin();
        rescaleThenPV(total - 1);
        turnEnd(true);
        wgmmaWait<0>();
        release(emptyV(stage(total - 1)));  // the producer may refill it for the next item
        pinRegisters<DT * 4>(o);
        pinRegisters<kWD / 4>(reinterpret_cast<float*>(&qf[0][0]));
      }
    };
    if (anyMask) walkChunks(std::true_type{});
    else walkChunks(std::false_type{});

#pragma unroll
    for (int rr = 0; rr < 2; rr++) {
      float sum = rowSum[rr];
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      const float inv = sum > 0.f ? 1.f / sum : 0.f;
      const long long row = sRow[rowBase + lane / 4 + rr * 8];
      if (row < 0) continue;
      float* dst = p.out + (row * p.heads + t.h) * kWD + (lane % 4) * 2;
#pragma unroll
      for (int i = 0; i < DT; i++) {
        *reinterpret_cast<float2*>(dst + i * 8) =
            make_float2(o[4 * i + 2 * rr] * inv, o[4 * i + 2 * rr + 1] * inv);
      }
      if (lane % 4 == 0) {
        p.lse[row * p.heads + t.h] =
            sum > 0.f ? rowMax[rr] * 0.69314718055994531f + logf(sum) : -INFINITY;
      }
    }
    base += total;
  }
#endif  // GNA_WGMMA_DEVICE
}

// Row-major [rows][kvHeads*128] bf16 view of permuted K or V; boxes of 64 columns x NC rows.
Status encodeKvMap(CUtensorMap* map, const void* base, long long rows, int kvHeads, int nc) {
  static PFN_cuTensorMapEncodeTiled_v12000 encode = [] {
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult q{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault,
                                         &q) != cudaSuccess || q != cudaDriverEntryPointSuccess) {
      fn = nullptr;
    }
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
  }();
  if (encode == nullptr) return Status::Fail("GNA wgmma forward: cuTensorMapEncodeTiled unavailable");
  const cuuint64_t dims[2] = {(cuuint64_t)kvHeads * kWD, (cuuint64_t)rows};
  const cuuint64_t strides[1] = {(cuuint64_t)kvHeads * kWD * 2};
  const cuuint32_t box[2] = {64, (cuuint32_t)nc};
  const cuuint32_t elementStrides[2] = {1, 1};
  const CUresult r = encode(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<void*>(base), dims,
                            strides, box, elementStrides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                            CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                            CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) {
    return Status::Fail("GNA wgmma forward: cuTensorMapEncodeTiled failed (" + std::to_string(r) + ")");
  }
  return Status::Ok();
}

template <int BQ, int NC>
Status launchWgmma(const Params& p, bool persistent) {
  constexpr int S = stagesFor<BQ, NC>();
  const long long rows = (long long)p.batchGroups * p.kvSeq;
  if (rows > INT32_MAX) return Status::Fail("GNA wgmma forward: more than 2^31 permuted KV rows");
  CUtensorMap tmK, tmV;
  Status st = encodeKvMap(&tmK, p.k, rows, p.kvHeads, NC);
  if (st.ok) st = encodeKvMap(&tmV, p.v, rows, p.kvHeads, NC);
  if (!st.ok) return st;
  const size_t smem = 1024 + (size_t)(BQ + 2 * S * NC) * kWD * 2 + 32 * S + BQ * sizeof(long long) +
                      (p.kNatural != nullptr ? kCastSmem : 0);
  st = cudaStatus(cudaFuncSetAttribute(wgmmaForwardKernel<BQ, NC>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem),
                  "cudaFuncSetAttribute (GNA wgmma forward shared memory)");
  if (!st.ok) return st;
  const long long items = (long long)p.qTiles * p.heads * p.batchGroups;
  if (items > INT32_MAX) return Status::Fail("GNA wgmma forward: more than 2^31 work items");
  int device = 0, sms = 0;
  st = cudaStatus(cudaGetDevice(&device), "cudaGetDevice");
  if (st.ok) {
    st = cudaStatus(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device),
                    "cudaDeviceGetAttribute (multiprocessor count)");
  }
  if (!st.ok) return st;
  Params launch = p;
  launch.resident = sms * ctasPerSm<BQ>();
  const long long ctas = persistent ? std::min(items, (long long)launch.resident) : items;
  if (p.kNatural != nullptr) {
    // The units of the first wave's items (items are in unit order).
    const int firstUnits =
        1 + (int)((std::min(items, (long long)launch.resident) - 1) / castUnitItems(p));
    const int slices = firstUnits * castSlicesPerUnit(p);
    const long long warps = (long long)slices * kCastSliceRows;
    castKvPrologue<<<(unsigned)std::min<long long>((warps + 7) / 8, (long long)sms * 16), 256>>>(
        p, slices);
    st = lastLaunchStatus("GNA forward (wgmma, K/V cast prologue)");
    if (!st.ok) return st;
  }
  wgmmaForwardKernel<BQ, NC><<<(unsigned)ctas, consumersFor<BQ>() + 128, smem>>>(launch, tmK, tmV);
  return lastLaunchStatus("GNA forward (wgmma, TMA)");
}

}  // namespace

bool wgmmaAvailable() {
  static const bool available = [] {
    int device = 0, major = 0, minor = 0;
    if (cudaGetDevice(&device) != cudaSuccess) return false;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) {
      return false;
    }
    return major == 9 && minor == 0;
  }();
  return available;
}

bool wgmmaSupports(Elem elem, int headDim, int qVolume, int kvVolume) {
  // KV tile extents up to kGuardBit keep the guard-bit test (tileWindow/sees) that builds the
  // masks exact.
  return elem == Elem::BF16 && headDim == kWD && (qVolume == 64 || qVolume == 128) &&
         kvVolume % 64 == 0 && kvVolume <= kGuardBit;
}

Status launchWgmmaBf16(const Params& p, int qVolume, bool persistent) {
  if (qVolume == 64) return launchWgmma<64, 64>(p, persistent);
  return wgmmaChunk(qVolume, p.kvVolume) == 128 ? launchWgmma<128, 128>(p, persistent)
                                                : launchWgmma<128, 64>(p, persistent);
}

}  // namespace tc
}  // namespace gna

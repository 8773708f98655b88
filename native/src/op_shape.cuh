// Index helpers shared by the elementwise and copy kernels: an n-d index space collapsed on the
// host (size-1 dims dropped, dims merged where every operand is contiguous across them), so most
// launches decompose a flat index over one to three dims.
#pragma once
#include <cstdint>
#include "cuda_util.h"
#include "ops.h"

namespace gna {

template <int N>
struct Collapsed {
  int rank = 0;
  int64_t shape[kOpRank];
  int64_t stride[N][kOpRank];
  int64_t size = 1;
};

// Collapses `shape` with the strides of N operands (each kOpRank long).
template <int N>
inline Collapsed<N> collapse(const int64_t* shape, const int64_t* const strides[N]) {
  Collapsed<N> c;
  for (int d = 0; d < kOpRank; d++) c.size *= shape[d];
  for (int d = 0; d < kOpRank; d++) {
    if (shape[d] == 1) continue;
    bool merge = c.rank > 0;
    for (int o = 0; o < N && merge; o++) {
      merge = c.stride[o][c.rank - 1] == strides[o][d] * shape[d];
    }
    if (merge) {
      c.shape[c.rank - 1] *= shape[d];
      for (int o = 0; o < N; o++) c.stride[o][c.rank - 1] = strides[o][d];
    } else {
      c.shape[c.rank] = shape[d];
      for (int o = 0; o < N; o++) c.stride[o][c.rank] = strides[o][d];
      c.rank++;
    }
  }
  return c;
}

// Whether every index and offset of `c` fits in 32 bits (then kernels divide in 32 bits, which
// is several times cheaper than the 64-bit division).
template <int N>
inline bool fits32(const Collapsed<N>& c) {
  if (c.size >= (int64_t(1) << 31)) return false;
  for (int o = 0; o < N; o++) {
    int64_t span = 0;
    for (int d = 0; d < c.rank; d++) {
      const int64_t s = c.stride[o][d] < 0 ? -c.stride[o][d] : c.stride[o][d];
      span += (c.shape[d] - 1) * s;
    }
    if (span >= (int64_t(1) << 31)) return false;
  }
  return true;
}

// Offsets of flat index i in each operand (row-major over c.shape), computed in index type I.
template <class I, int N>
__device__ __forceinline__ void offsetsOf(const Collapsed<N>& c, I i, int64_t* off) {
  I acc[N];
  for (int o = 0; o < N; o++) acc[o] = 0;
  for (int d = c.rank - 1; d >= 0; d--) {
    const I n = (I)c.shape[d];
    const I q = i / n;
    const I r = i - q * n;
    for (int o = 0; o < N; o++) acc[o] += r * (I)c.stride[o][d];
    i = q;
  }
  for (int o = 0; o < N; o++) off[o] = acc[o];
}

inline unsigned gridFor(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return (unsigned)(blocks < 65536 ? (blocks < 1 ? 1 : blocks) : 65536);
}

}  // namespace gna

/**
 * Per-axis tile statistics for multi-dimensional tiling. The GNA mask is a product over axes
 * (spec §1.1), so a (Q tile, KV tile) pair is visited iff it is non-empty on every axis and
 * dense iff it is dense on every axis (spec §5). Every count over tile pairs is therefore a
 * product of per-axis counts, and a maximum over Q tiles a product of per-axis maxima: the
 * simulator never enumerates token pairs or even multi-dimensional tile pairs.
 */
import {
  AxisWindow, Interval, TileClass, classifyTilePair, isAxisBlockSparse, kvTileCount, kvTileRange,
  windowEnd, windowStart,
} from '../window';

export interface AxisTileStats {
  qTiles: number;
  kvTiles: number;
  /** Per Q tile: KV tiles with at least one attended (query, key) pair. */
  visited: Int32Array;
  /** Per Q tile: KV tiles whose every (real query, real key) pair is attended. */
  dense: Int32Array;
  /** Per Q tile: KV tiles of the tile-aligned box a static (TMA) kernel walks (spec §5.3). */
  staticCount: Int32Array;
  /** Per Q tile: KV tiles a dynamic (Ampere-style) kernel walks from the exact window start. */
  dynamicCount: Int32Array;
  /** The exact "perfectly block-sparse" test of this axis (spec §5). */
  blockSparse: boolean;
  /** Sums and maxima over Q tiles of the arrays above, and the Q tile of the largest static count. */
  totals: { visited: number; dense: number; staticCount: number; dynamicCount: number };
  maxima: { visited: number; staticCount: number; dynamicCount: number };
  worstTile: number;
}

/** Token ranges of tile `index` of extent `tile`: padding beyond `n` is clipped by the window math. */
export function tileInterval(index: number, tile: number): Interval {
  return { start: index * tile, end: (index + 1) * tile };
}

/** Class of the (Q tile `t`, KV tile `u`) pair along one axis. */
export function axisPairClass(axis: AxisWindow, qTile: number, kvTile: number, t: number,
                              u: number): TileClass {
  return classifyTilePair(tileInterval(t, qTile), tileInterval(u, kvTile), axis);
}

export function computeAxisTileStats(axis: AxisWindow, qTile: number, kvTile: number): AxisTileStats {
  const qTiles = Math.ceil(axis.n / qTile);
  const stats: AxisTileStats = {
    qTiles,
    kvTiles: Math.ceil(axis.n / kvTile),
    visited: new Int32Array(qTiles),
    dense: new Int32Array(qTiles),
    staticCount: new Int32Array(qTiles),
    dynamicCount: new Int32Array(qTiles),
    blockSparse: isAxisBlockSparse(qTile, kvTile, axis),
    totals: { visited: 0, dense: 0, staticCount: 0, dynamicCount: 0 },
    maxima: { visited: 0, staticCount: 0, dynamicCount: 0 },
    worstTile: 0,
  };
  for (let t = 0; t < qTiles; t++) {
    const box = kvTileRange(t, qTile, kvTile, axis, 'static');
    stats.staticCount[t] = kvTileCount(box, kvTile, 'static');
    stats.dynamicCount[t] = kvTileCount(kvTileRange(t, qTile, kvTile, axis, 'dynamic'), kvTile,
      'dynamic');
    // The union of the tile's windows is contiguous, so every KV tile of the static box holds an
    // attended pair. Window starts and ends are monotone (spec §1.6), so the keys every real
    // query sees are [start(last), end(first)): a KV tile is dense iff its real keys lie there.
    // This is classifyTilePair in O(1) per pair (the tests check the two agree).
    const first = t * qTile;
    const last = Math.min(first + qTile, axis.n) - 1;
    const commonStart = windowStart(last, axis);
    const commonEnd = windowEnd(first, axis);
    stats.visited[t] = stats.staticCount[t];
    for (let u = box.start; u < box.end; u++) {
      if (commonStart <= u * kvTile && Math.min((u + 1) * kvTile, axis.n) <= commonEnd) stats.dense[t]++;
    }
  }
  const { visited, dense, staticCount, dynamicCount } = stats;
  stats.totals = { visited: sum(visited), dense: sum(dense), staticCount: sum(staticCount),
    dynamicCount: sum(dynamicCount) };
  stats.worstTile = argMax(staticCount);
  stats.maxima = { visited: visited[argMax(visited)], staticCount: staticCount[stats.worstTile],
    dynamicCount: dynamicCount[argMax(dynamicCount)] };
  return stats;
}

/**
 * Memoises per-axis statistics: dilation groups share axis lengths and a configuration search
 * revisits the same (axis, tile) pairs across strides and tile shapes of other axes.
 */
export class AxisTileStatsCache {
  private readonly entries = new Map<string, AxisTileStats>();
  private readonly pairs = new Map<string, number>();

  get(axis: AxisWindow, qTile: number, kvTile: number): AxisTileStats {
    const key = `${axis.n},${axis.windowSize},${axis.stride},${axis.isCausal ? 1 : 0},${qTile},${kvTile}`;
    let stats = this.entries.get(key);
    if (stats === undefined) {
      stats = computeAxisTileStats(axis, qTile, kvTile);
      this.entries.set(key, stats);
    }
    return stats;
  }

  /** `compute()` once per key: attended pairs of one axis over all its dilation groups. */
  attendedPairs(key: string, compute: () => number): number {
    let pairs = this.pairs.get(key);
    if (pairs === undefined) {
      pairs = compute();
      this.pairs.set(key, pairs);
    }
    return pairs;
  }
}

export function sum(xs: Int32Array): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s;
}

/** Index of the first maximum. */
export function argMax(xs: Int32Array): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

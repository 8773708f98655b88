/**
 * The window math of GNA, the single source of truth for every backend, the simulator and the
 * tests. All functions here are per axis and work on *in-group* coordinates: with dilation `d`,
 * axis index `x` belongs to group `x mod d` at position `x div d`, and the window rules apply to
 * that position inside a group of length `dilationGroupLength(L, d, g)` (spec §1.2).
 *
 * Windows are half-open intervals `[start, end)` of in-group key positions.
 */

/** One axis of a GNA problem inside a dilation group. */
export interface AxisWindow {
  /** Length `n` of the dilation group along this axis. */
  n: number;
  windowSize: number;
  stride: number;
  isCausal: boolean;
}

/** A half-open interval `[start, end)`. */
export interface Interval {
  start: number;
  end: number;
}

/** Keys left of the centre. Even windows put the extra key on the left, as NATTEN does (§1.3). */
export function windowLeft(windowSize: number): number {
  return Math.floor(windowSize / 2);
}

/** Keys right of the centre, so that `left + 1 + right == windowSize`. */
export function windowRight(windowSize: number): number {
  return Math.floor(windowSize / 2) + (windowSize % 2) - 1;
}

/** Length of dilation group `g` along an axis of length `L` with dilation `d` (§1.2). */
export function dilationGroupLength(L: number, d: number, g: number): number {
  return Math.ceil((L - g) / d);
}

/**
 * The query whose window a whole stride group shares (§1.4, §1.5): the centre of the group
 * (right-hand centre for even strides) or, when causal, its last query; clamped to `n - 1` so a
 * partial last group (and queries in tile padding) still get a valid window.
 */
export function strideGroupLeader(i: number, axis: AxisWindow): number {
  const { n, stride: s, isCausal } = axis;
  const first = Math.floor(i / s) * s;
  return Math.min(isCausal ? first + s - 1 : first + Math.floor(s / 2), n - 1);
}

/**
 * First key of query `i`'s window. Non-causal windows shift inward at the borders instead of
 * shrinking; causal windows are truncated at 0 (§1.4, §1.5).
 */
export function windowStart(i: number, axis: AxisWindow): number {
  const { n, windowSize: K, isCausal } = axis;
  const leader = strideGroupLeader(i, axis);
  if (isCausal) return Math.max(leader - (K - 1), 0);
  const left = windowLeft(K);
  const centre = Math.min(Math.max(leader, left), n - 1 - windowRight(K));
  return centre - left;
}

/** One past the last key of query `i`'s window; a causal window ends at the query itself. */
export function windowEnd(i: number, axis: AxisWindow): number {
  if (axis.isCausal) return Math.min(i + 1, axis.n);
  return windowStart(i, axis) + axis.windowSize;
}

/** Query `i`'s window as an interval. */
export function queryWindow(i: number, axis: AxisWindow): Interval {
  return { start: windowStart(i, axis), end: windowEnd(i, axis) };
}

/** Smallest `i` in `[lo, hi)` with `pred(i)`, or `hi`; `pred` must be monotone false→true. */
function firstTrue(lo: number, hi: number, pred: (i: number) => boolean): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (pred(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * The queries that attend key `j`, as one interval (§1.7). Window starts and ends are
 * non-decreasing in the query index, so the set is `{q : end(q) > j} ∩ {q : start(q) <= j}`,
 * a suffix intersected with a prefix; binary search finds both bounds exactly.
 */
export function inverseNeighborhood(j: number, axis: AxisWindow): Interval {
  const start = firstTrue(0, axis.n, (q) => windowEnd(q, axis) > j);
  const end = firstTrue(0, axis.n, (q) => windowStart(q, axis) > j);
  return { start, end: Math.max(start, end) };
}

/**
 * A run of consecutive queries that share one window. Non-causal queries of a stride group always
 * share it (and neighbouring groups often do too, at the borders); causal queries differ in their
 * end, so each is its own run. Kernels compute one window per run and reuse it for every query.
 */
export interface WindowRun {
  queries: Interval;
  keys: Interval;
}

/** Partition `[0, n)` into maximal runs of queries with identical windows, in order. */
export function windowRuns(axis: AxisWindow): WindowRun[] {
  const runs: WindowRun[] = [];
  for (let q = 0; q < axis.n; q++) {
    const keys = queryWindow(q, axis);
    const last = runs[runs.length - 1];
    if (last !== undefined && last.keys.start === keys.start && last.keys.end === keys.end) {
      last.queries.end = q + 1;
    } else {
      runs.push({ queries: { start: q, end: q + 1 }, keys });
    }
  }
  return runs;
}

/**
 * Union of the windows of the real queries in `queries` (clipped to `[0, n)`): by monotonicity
 * it runs from the first query's start to the last real query's end. Returns an empty interval
 * when the range holds no real query.
 */
export function keyRangeOfQueries(queries: Interval, axis: AxisWindow): Interval {
  const first = Math.max(queries.start, 0);
  const last = Math.min(queries.end, axis.n) - 1;
  if (last < first) return { start: 0, end: 0 };
  return { start: windowStart(first, axis), end: windowEnd(last, axis) };
}

/** How KV tiles are walked: a box aligned to the tile grid (TMA kernels) or from the exact start. */
export type KvTiling = 'static' | 'dynamic';

/**
 * KV tiles a query tile must visit along one axis (§5.3). `static` returns tile indices
 * `[A, B)` on the KV tile grid; `dynamic` returns the token range it walks, which starts exactly
 * at the window start and so is not tile aligned (`ceil(len / kvTile)` steps).
 */
export function kvTileRange(queryTile: number, qTile: number, kvTile: number, axis: AxisWindow,
                            tiling: KvTiling = 'static'): Interval {
  const keys = keyRangeOfQueries({ start: queryTile * qTile, end: (queryTile + 1) * qTile }, axis);
  if (keys.end <= keys.start) return { start: 0, end: 0 };
  if (tiling === 'dynamic') return keys;
  return { start: Math.floor(keys.start / kvTile), end: Math.ceil(keys.end / kvTile) };
}

/** Number of KV tiles a `kvTileRange` result stands for. */
export function kvTileCount(range: Interval, kvTile: number, tiling: KvTiling): number {
  const len = range.end - range.start;
  if (len <= 0) return 0;
  return tiling === 'dynamic' ? Math.ceil(len / kvTile) : len;
}

/** How one (query tile, KV tile) pair is masked along one axis. */
export type TileClass = 'empty' | 'partial' | 'dense';

/**
 * Exact classification of a (query range, key range) pair along one axis, counting real tokens
 * only (positions `< n`; the rest is tile padding). `empty`: no real query sees a real key of the
 * range; `dense`: every real query sees every real key of it; otherwise `partial`. The mask is a
 * product over axes, so a multi-dimensional pair is empty iff some axis is empty and dense iff
 * every axis is dense (§5).
 */
export function classifyTilePair(queries: Interval, keys: Interval, axis: AxisWindow): TileClass {
  const q0 = Math.max(queries.start, 0);
  const q1 = Math.min(queries.end, axis.n);
  const k0 = Math.max(keys.start, 0);
  const k1 = Math.min(keys.end, axis.n);
  if (q1 <= q0 || k1 <= k0) return 'empty';
  let anySeen = false;
  let allSeen = true;
  for (let q = q0; q < q1; q++) {
    const w = queryWindow(q, axis);
    const lo = Math.max(w.start, k0);
    const hi = Math.min(w.end, k1);
    if (hi > lo) anySeen = true;
    if (lo !== k0 || hi !== k1) allSeen = false;
  }
  if (!anySeen) return 'empty';
  return allSeen ? 'dense' : 'partial';
}

/**
 * The exact "perfectly block-sparse" test along one axis (§5): every query tile's real queries
 * share one window whose start is KV-tile aligned and whose end is aligned or the axis end, so
 * a static-tiling kernel needs no fine mask (only the KV padding mask when `n % kvTile != 0`).
 */
export function isAxisBlockSparse(qTile: number, kvTile: number, axis: AxisWindow): boolean {
  if (axis.isCausal) return false;
  const tiles = Math.ceil(axis.n / qTile);
  for (let t = 0; t < tiles; t++) {
    const first = t * qTile;
    const last = Math.min((t + 1) * qTile, axis.n) - 1;
    const a = windowStart(first, axis);
    const b = windowEnd(first, axis);
    if (windowStart(last, axis) !== a || windowEnd(last, axis) !== b) return false;
    if (a % kvTile !== 0 || (b % kvTile !== 0 && b !== axis.n)) return false;
  }
  return true;
}

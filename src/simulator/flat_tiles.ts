/**
 * Tile statistics for 1-D tiling: tiles of consecutive tokens of one dilation group's grid,
 * flattened row-major. A tile is then not a box, so the per-axis product of `axis_tiles.ts` no
 * longer holds; each Q tile is instead cut into row segments (queries that differ only in the
 * last coordinate), whose keys form one box, and each box is walked row by row in KV tile space.
 *
 * Dense test: a KV tile is dense iff its real keys lie in every real query's window box, i.e. in
 * the intersection of those boxes. That intersection is a box too, per axis the intersection of
 * the windows of the queries' coordinates, which by monotonicity of window starts and ends
 * (spec §1.6) is `[start(max coord), end(min coord))`. A flat token range lies in a box iff its
 * per-axis coordinate span does.
 */
import { AxisWindow, TileClass, windowEnd, windowStart } from '../window';

export interface FlatGrid {
  axes: AxisWindow[];
  /** Row-major strides of the group's grid. */
  strides: number[];
  tokens: number;
}

export function flatGrid(axes: AxisWindow[]): FlatGrid {
  const strides = new Array<number>(axes.length).fill(1);
  for (let i = axes.length - 2; i >= 0; i--) strides[i] = strides[i + 1] * axes[i + 1].n;
  return { axes, strides, tokens: strides[0] * axes[0].n };
}

/** Per-axis coordinate span `[min, max]` of the flat token range `[a, b)`, `b > a`. */
function coordinateSpan(grid: FlatGrid, a: number, b: number, min: number[], max: number[]) {
  grid.axes.forEach((axis, i) => {
    const block = grid.strides[i] * axis.n;
    if (Math.floor(a / block) === Math.floor((b - 1) / block)) {
      min[i] = Math.floor(a / grid.strides[i]) % axis.n;
      max[i] = Math.floor((b - 1) / grid.strides[i]) % axis.n;
    } else {
      // The range crosses a row of this axis: it holds both coordinate 0 and n - 1.
      min[i] = 0;
      max[i] = axis.n - 1;
    }
  });
}

/** What one Q tile visits under 1-D tiling. */
export interface FlatQTileVisits {
  /** KV tiles with an attended pair, ascending, and their classes (never 'empty'). */
  tiles: number[];
  classes: TileClass[];
  /** The contiguous KV tile range a static 1-D kernel walks: first to last visited tile. */
  staticRange: { start: number; end: number };
  /** KV tiles a dynamic kernel walks from the first to the last attended key. */
  dynamicCount: number;
}

/**
 * Scans Q tile `t`. `stamp` (one entry per KV tile, never holding `t + 1` before the call)
 * de-duplicates KV tiles reached from several rows; callers reuse it across Q tiles.
 */
export function scanFlatQTile(grid: FlatGrid, qTile: number, kvTile: number, t: number,
                              stamp: Int32Array): FlatQTileVisits {
  const { axes, strides, tokens } = grid;
  const rank = axes.length;
  const last = rank - 1;
  const q0 = t * qTile;
  const q1 = Math.min(q0 + qTile, tokens);
  const tiles: number[] = [];
  let minKey = Infinity;
  let maxKey = -Infinity;
  const lo = new Array<number>(rank);
  const hi = new Array<number>(rank);
  const pos = new Array<number>(rank);
  for (let seg = q0; seg < q1;) {
    const x0 = seg % axes[last].n;
    const segEnd = Math.min(q1, seg - x0 + axes[last].n);
    for (let i = 0; i < last; i++) {
      const c = Math.floor(seg / strides[i]) % axes[i].n;
      lo[i] = windowStart(c, axes[i]);
      hi[i] = windowEnd(c, axes[i]);
      pos[i] = lo[i];
    }
    const a = windowStart(x0, axes[last]);
    const b = windowEnd(x0 + segEnd - seg - 1, axes[last]);
    // Walk the rows of the segment's key box (odometer over the leading axes).
    for (;;) {
      let base = 0;
      for (let i = 0; i < last; i++) base += pos[i] * strides[i];
      minKey = Math.min(minKey, base + a);
      maxKey = Math.max(maxKey, base + b - 1);
      const uEnd = Math.ceil((base + b) / kvTile);
      for (let u = Math.floor((base + a) / kvTile); u < uEnd; u++) {
        if (stamp[u] !== t + 1) {
          stamp[u] = t + 1;
          tiles.push(u);
        }
      }
      let i = last - 1;
      for (; i >= 0; i--) {
        if (++pos[i] < hi[i]) break;
        pos[i] = lo[i];
      }
      if (i < 0) break;
    }
    seg = segEnd;
  }
  tiles.sort((x, y) => x - y);
  return {
    tiles,
    classes: classifyFlatTiles(grid, q0, q1, kvTile, tiles),
    staticRange: { start: tiles[0], end: tiles[tiles.length - 1] + 1 },
    dynamicCount: Math.ceil((maxKey + 1 - minKey) / kvTile),
  };
}

/** Dense or partial, for KV tiles already known to hold an attended pair with queries `[q0, q1)`. */
function classifyFlatTiles(grid: FlatGrid, q0: number, q1: number, kvTile: number,
                           tiles: number[]): TileClass[] {
  const rank = grid.axes.length;
  const min = new Array<number>(rank);
  const max = new Array<number>(rank);
  coordinateSpan(grid, q0, q1, min, max);
  const common = grid.axes.map((axis, i) => ({
    start: windowStart(max[i], axis), end: windowEnd(min[i], axis),
  }));
  return tiles.map((u) => {
    coordinateSpan(grid, u * kvTile, Math.min((u + 1) * kvTile, grid.tokens), min, max);
    const inside = common.every((w, i) => w.start <= min[i] && max[i] < w.end);
    return inside ? 'dense' : 'partial';
  });
}

export interface FlatTileStats {
  qTiles: number;
  kvTiles: number;
  visited: Int32Array;
  dense: Int32Array;
  staticCount: Int32Array;
  dynamicCount: Int32Array;
  /** No fine mask needed: every tile of every static range is dense and no axis is causal. */
  blockSparse: boolean;
}

export function computeFlatTileStats(axes: AxisWindow[], qTile: number,
                                     kvTile: number): FlatTileStats {
  const grid = flatGrid(axes);
  const qTiles = Math.ceil(grid.tokens / qTile);
  const kvTiles = Math.ceil(grid.tokens / kvTile);
  const stats: FlatTileStats = {
    qTiles, kvTiles,
    visited: new Int32Array(qTiles),
    dense: new Int32Array(qTiles),
    staticCount: new Int32Array(qTiles),
    dynamicCount: new Int32Array(qTiles),
    blockSparse: !axes.some((a) => a.isCausal),
  };
  const stamp = new Int32Array(kvTiles);
  for (let t = 0; t < qTiles; t++) {
    const v = scanFlatQTile(grid, qTile, kvTile, t, stamp);
    stats.visited[t] = v.tiles.length;
    stats.dense[t] = v.classes.filter((c) => c === 'dense').length;
    stats.staticCount[t] = v.staticRange.end - v.staticRange.start;
    stats.dynamicCount[t] = v.dynamicCount;
    if (stats.dense[t] !== stats.staticCount[t]) stats.blockSparse = false;
  }
  return stats;
}

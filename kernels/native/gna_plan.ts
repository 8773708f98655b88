/**
 * The tiling of a GNA problem for the CUDA kernels, computed on the host from the shared window
 * math (src/window.ts), never re-derived on the device:
 * - window tables: per axis, dilation group and in-group position, the window
 *   `[windowStart, windowEnd)` and the inverse neighbourhood (spec §1.7);
 * - for the tensor-core path, per Q tile the KV tiles of its `kvTileRange` box (static tiling,
 *   spec §5), each flagged for the fine mask unless `classifyTilePair` finds it dense on every
 *   axis and it holds no KV padding. This is the tiling and classification of the simulator.
 * Tile shapes are chosen by the same per-axis counts: the fewest (masked-weighted) tile visits.
 */
import { GnaProblem, axisWindow } from '../../src/params';
import { AxisWindow, Interval, classifyTilePair, inverseNeighborhood, kvTileRange, windowEnd,
         windowStart } from '../../src/window';
import { TFJS_GNA_TILE_VOLUMES } from '../../src/simulator/tile_configs';
import { NativeAddon, PlanDesc, PermuteGeometryDesc } from './addon';

/** Rows of one Q tile the kernels support (16 rows per warp), and KV tiles (64-key chunks). */
// The tile volumes the simulator's table lists for this kernel (one source of truth).
const Q_TILE_VOLUMES = TFJS_GNA_TILE_VOLUMES;
const KV_TILE_VOLUMES = TFJS_GNA_TILE_VOLUMES;
/** The kernel pass a tiling is chosen for: each has its own plan and cost weights. */
export type TilePass = 'forward' | 'backward';

/**
 * Relative costs per token pair: a masked visit against an unmasked one, a 64-row Q tile and a
 * 64-key wgmma chunk against 128. The forward's are the wgmma kernel's (the one that runs where
 * it applies), fitted to H100 timings of FLUX-4K NA and GNA on four tilings
 * (docs/native-performance.md, session 8): its fine mask is a precomputed word per row, 64-row
 * CTAs run two per SM, each streaming its own K/V, and 64-key chunks take twice the steps per
 * key. The backward's mma.sync kernels (64-key chunks at any tile size, the guard-bit mask per
 * score) keep the earlier weights, which favour the fewest visited pairs.
 */
const PASS_COSTS: Record<TilePass, { masked: number; q64: number; kvChunk64: number }> = {
  forward: { masked: 1.05, q64: 1.1, kvChunk64: 1.09 },
  backward: { masked: 1.15, q64: 1, kvChunk64: 1 },
};

export interface TileShapes {
  qTile: number[];
  kvTile: number[];
}

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);
const ceilDiv = (a: number, b: number) => Math.ceil(a / b);

/** In-group extent of an axis, `ceil(L / d)`: the longest dilation group. */
function groupExtent(problem: GnaProblem, axis: number): number {
  return ceilDiv(problem.spatialShape[axis], problem.dilation[axis]);
}

function axisWindows(problem: GnaProblem, axis: number): AxisWindow[] {
  return Array.from({ length: problem.dilation[axis] },
    (_, g) => axisWindow(problem, problem.spatialShape, axis, g));
}

/** Per-axis statistics of one Q tile coordinate: its KV tile range and how many are unmasked. */
interface AxisTileRow {
  range: Interval;
  /** Per KV tile in `range`: true when dense on this axis and free of KV padding. */
  unmasked: boolean[];
}

function axisTileRows(axis: AxisWindow, qTile: number, kvTile: number,
                      qTiles: number): AxisTileRow[] {
  const rows: AxisTileRow[] = [];
  for (let qc = 0; qc < qTiles; qc++) {
    const range = kvTileRange(qc, qTile, kvTile, axis, 'static');
    const queries = { start: qc * qTile, end: (qc + 1) * qTile };
    const unmasked: boolean[] = [];
    for (let kc = range.start; kc < range.end; kc++) {
      const keys = { start: kc * kvTile, end: (kc + 1) * kvTile };
      unmasked.push(classifyTilePair(queries, keys, axis) === 'dense' && keys.end <= axis.n);
    }
    rows.push({ range, unmasked });
  }
  return rows;
}

/** Power-of-two tile shapes of `volume` tokens for the axes' extents. */
function candidateShapes(extents: number[], volume: number): number[][] {
  const out: number[][] = [];
  const limit = extents.map((e) => Math.max(1, 2 ** Math.ceil(Math.log2(e))));
  const walk = (axis: number, left: number, acc: number[]) => {
    if (axis === extents.length - 1) {
      if (left <= limit[axis]) out.push([...acc, left]);
      return;
    }
    for (let t = 1; t <= Math.min(left, limit[axis]); t *= 2) walk(axis + 1, left / t, [...acc, t]);
  };
  walk(0, volume, []);
  if (out.length === 0) {
    // A grid smaller than one tile: the last axis takes the rest of the volume (padding).
    limit[extents.length - 1] = volume;
    walk(0, volume, []);
  }
  return out;
}

function tilesPerDim(problem: GnaProblem, tile: number[]): number[] {
  return tile.map((t, a) => ceilDiv(problem.spatialShape[a], t * problem.dilation[a]));
}

/**
 * Keys per step of the wgmma kernel for these tile volumes: 128 for 128-token Q tiles over KV
 * tiles of a multiple of 128 tokens, else 64 (native/src/gna_wgmma.h: wgmmaChunk).
 */
function wgmmaChunk(qVolume: number, kvVolume: number): number {
  return qVolume === 128 && kvVolume % 128 === 0 ? 128 : 64;
}

/**
 * Visit cost of a tiling for a pass: tile-pair visits times tile volumes, masked visits, 64-row
 * Q tiles and 64-key chunks weighted up by the pass's costs.
 */
export function tilingCost(problem: GnaProblem, shapes: TileShapes,
                           pass: TilePass = 'forward'): number {
  const costs = PASS_COSTS[pass];
  const rank = problem.spatialShape.length;
  const qTiles = tilesPerDim(problem, shapes.qTile);
  let cost = 0;
  const groups = product(problem.dilation);
  for (let group = 0; group < groups; group++) {
    const g = groupOffsets(problem.dilation, group);
    const perAxis = Array.from({ length: rank }, (_, a) => axisTileRows(
      axisWindow(problem, problem.spatialShape, a, g[a]), shapes.qTile[a], shapes.kvTile[a],
      qTiles[a]).map((r) => ({ visits: r.range.end - r.range.start,
      unmasked: r.unmasked.filter(Boolean).length })));
    // Sum over Q tiles of prod(visits) and prod(unmasked), by the product structure.
    let visits = 1;
    let unmasked = 1;
    for (const rows of perAxis) {
      visits *= rows.reduce((s, r) => s + r.visits, 0);
      unmasked *= rows.reduce((s, r) => s + r.unmasked, 0);
    }
    cost += unmasked + (visits - unmasked) * costs.masked;
  }
  const qVolume = product(shapes.qTile);
  const kvVolume = product(shapes.kvTile);
  return cost * qVolume * kvVolume * (qVolume === 64 ? costs.q64 : 1) *
    (wgmmaChunk(qVolume, kvVolume) === 64 ? costs.kvChunk64 : 1);
}

/** Dilation offsets of folded group `group`, row-major over `dilation` (spec §4). */
function groupOffsets(dilation: number[], group: number): number[] {
  const g = new Array<number>(dilation.length);
  for (let a = dilation.length - 1; a >= 0; a--) {
    g[a] = group % dilation[a];
    group = Math.floor(group / dilation[a]);
  }
  return g;
}

/**
 * The cheapest supported tile shapes for a problem under a pass's costs (ties: larger Q tiles,
 * then order).
 */
export function chooseTileShapes(problem: GnaProblem, pass: TilePass = 'forward'): TileShapes {
  const rank = problem.spatialShape.length;
  const extents = Array.from({ length: rank }, (_, a) => groupExtent(problem, a));
  let best: TileShapes | undefined;
  let bestCost = Infinity;
  for (const qv of Q_TILE_VOLUMES) {
    for (const qTile of candidateShapes(extents, qv)) {
      for (const kvv of KV_TILE_VOLUMES) {
        for (const kvTile of candidateShapes(extents, kvv)) {
          const cost = tilingCost(problem, { qTile, kvTile }, pass);
          if (cost < bestCost * (1 - 1e-9)) {
            bestCost = cost;
            best = { qTile, kvTile };
          }
        }
      }
    }
  }
  if (best === undefined) throw new Error('gna (cuda): no tile shape fits this problem');
  return best;
}

/** In-tile coordinates of every position of a tile, row-major, 10 bits per axis. */
function packedOffsets(tile: number[]): Int32Array {
  const out = new Int32Array(product(tile));
  for (let i = 0; i < out.length; i++) {
    let rest = i;
    let packed = 0;
    for (let a = tile.length - 1; a >= 0; a--) {
      packed |= (rest % tile[a]) << (10 * a);
      rest = Math.floor(rest / tile[a]);
    }
    out[i] = packed;
  }
  return out;
}

/** Window and inverse-neighbourhood tables covering `extent[a]` positions per axis and group. */
function windowTables(problem: GnaProblem, extent: number[]): Int32Array {
  const rank = problem.spatialShape.length;
  const total = extent.reduce((s, e, a) => s + 4 * e * problem.dilation[a], 0);
  const out = new Int32Array(total);
  let at = 0;
  for (let a = 0; a < rank; a++) {
    for (const axis of axisWindows(problem, a)) {
      for (let u = 0; u < extent[a]; u++, at += 4) {
        // Positions past the group (tile padding) get their clamped window, for the mask only.
        out[at] = windowStart(u, axis);
        out[at + 1] = windowEnd(u, axis);
        if (u < axis.n) {
          const inv = inverseNeighborhood(u, axis);
          out[at + 2] = inv.start;
          out[at + 3] = inv.end;
        }
      }
    }
  }
  return out;
}

/** The tile table of every (dilation group, Q tile): KV tile indices, high bit = fine mask. */
function tileTables(problem: GnaProblem, shapes: TileShapes) {
  const rank = problem.spatialShape.length;
  const qTiles = tilesPerDim(problem, shapes.qTile);
  const kvTiles = tilesPerDim(problem, shapes.kvTile);
  const groups = product(problem.dilation);
  const qCount = product(qTiles);
  const ranges = new Int32Array(groups * qCount + 1);
  const entries: number[] = [];
  for (let group = 0; group < groups; group++) {
    const g = groupOffsets(problem.dilation, group);
    const rows = Array.from({ length: rank }, (_, a) => axisTileRows(
      axisWindow(problem, problem.spatialShape, a, g[a]), shapes.qTile[a], shapes.kvTile[a],
      qTiles[a]));
    for (let qt = 0; qt < qCount; qt++) {
      const qc = groupOffsets(qTiles, qt);
      const axisRows = qc.map((c, a) => rows[a][c]);
      if (axisRows.every((r) => r.range.end > r.range.start)) {
        const kc = axisRows.map((r) => r.range.start);
        for (;;) {
          let linear = 0;
          let unmasked = true;
          for (let a = 0; a < rank; a++) {
            linear = linear * kvTiles[a] + kc[a];
            unmasked = unmasked && axisRows[a].unmasked[kc[a] - axisRows[a].range.start];
          }
          entries.push(unmasked ? linear : (linear | 0x80000000) | 0);
          let a = rank - 1;
          for (; a >= 0; a--) {
            if (++kc[a] < axisRows[a].range.end) break;
            kc[a] = axisRows[a].range.start;
          }
          if (a < 0) break;
        }
      }
      ranges[group * qCount + qt + 1] = entries.length;
    }
  }
  return { tileRanges: ranges, entries: Int32Array.from(entries) };
}

/**
 * The tile table transposed (spec §3.4): per (dilation group, KV tile), the Q tiles whose KV
 * range holds it, in Q tile order, with the same fine-mask bit. The dK/dV kernel walks it.
 */
export function inverseTileTables(ranges: Int32Array, entries: Int32Array, groups: number,
                                  kvCount: number) {
  const qCount = (ranges.length - 1) / groups;
  const counts = new Int32Array(groups * kvCount + 1);
  for (let group = 0; group < groups; group++) {
    for (let qt = 0; qt < qCount; qt++) {
      const row = group * qCount + qt;
      for (let i = ranges[row]; i < ranges[row + 1]; i++) {
        counts[group * kvCount + (entries[i] & 0x7fffffff) + 1]++;
      }
    }
  }
  for (let i = 1; i < counts.length; i++) counts[i] += counts[i - 1];
  const inverseRanges = Int32Array.from(counts);
  const fill = counts.subarray(0, groups * kvCount);
  const inverseEntries = new Int32Array(entries.length);
  for (let group = 0; group < groups; group++) {
    for (let qt = 0; qt < qCount; qt++) {
      const row = group * qCount + qt;
      for (let i = ranges[row]; i < ranges[row + 1]; i++) {
        const slot = group * kvCount + (entries[i] & 0x7fffffff);
        inverseEntries[fill[slot]++] = qt | (entries[i] & 0x80000000);
      }
    }
  }
  return { inverseRanges, inverseEntries };
}

export interface GnaPlan {
  id: number;
  shapes?: TileShapes;
  qGeometry?: PermuteGeometryDesc;
  kvGeometry?: PermuteGeometryDesc;
  /** Tile-pair visits and how many carry the fine mask (for benchmarks and docs). */
  visits?: number;
  maskedVisits?: number;
}

function planKey(problem: GnaProblem, shapes?: TileShapes): string {
  const { spatialShape, windowSize, stride, dilation, isCausal } = problem;
  return JSON.stringify([spatialShape, windowSize, stride, dilation, isCausal, shapes ?? null]);
}

const MAX_PLANS = 64;

/** Plans by geometry, each owning device tables in the addon; oldest evicted past MAX_PLANS. */
export class PlanCache {
  private plans = new Map<string, GnaPlan>();
  /** chooseTileShapes per geometry: its search costs milliseconds, more than a layer's kernel. */
  private shapes = new Map<string, TileShapes>();

  constructor(private readonly addon: NativeAddon) {}

  /** The tile shapes `chooseTileShapes` picks for this geometry and pass, computed once. */
  tileShapes(problem: GnaProblem, pass: TilePass = 'forward'): TileShapes {
    const key = `${pass}:${planKey(problem)}`;
    let shapes = this.shapes.get(key);
    if (shapes === undefined) {
      shapes = chooseTileShapes(problem, pass);
      if (this.shapes.size >= MAX_PLANS) this.shapes.delete(this.shapes.keys().next().value as string);
      this.shapes.set(key, shapes);
    }
    return shapes;
  }

  /** The window tables alone (float32 kernels) or with the tile tables for `shapes`. */
  get(problem: GnaProblem, shapes?: TileShapes): GnaPlan {
    const key = planKey(problem, shapes);
    const hit = this.plans.get(key);
    if (hit !== undefined) {
      this.plans.delete(key);
      this.plans.set(key, hit);
      return hit;
    }
    const plan = this.build(problem, shapes);
    this.plans.set(key, plan);
    if (this.plans.size > MAX_PLANS) {
      const [oldKey, old] = this.plans.entries().next().value as [string, GnaPlan];
      this.plans.delete(oldKey);
      this.addon.destroyPlan(old.id);
    }
    return plan;
  }

  dispose() {
    for (const plan of this.plans.values()) this.addon.destroyPlan(plan.id);
    this.plans.clear();
    this.shapes.clear();
  }

  private build(problem: GnaProblem, shapes?: TileShapes): GnaPlan {
    const rank = problem.spatialShape.length;
    const extent = Array.from({ length: rank }, (_, a) => {
      let e = groupExtent(problem, a);
      if (shapes !== undefined) {
        const span = (t: number) => ceilDiv(problem.spatialShape[a], t * problem.dilation[a]) * t;
        e = Math.max(e, span(shapes.qTile[a]), span(shapes.kvTile[a]));
      }
      return e;
    });
    const desc: PlanDesc = {
      rank, spatialShape: problem.spatialShape, dilation: problem.dilation, extent,
      windows: windowTables(problem, extent),
    };
    if (shapes === undefined) return { id: this.addon.createPlan(desc) };
    const tables = tileTables(problem, shapes);
    const inverse = inverseTileTables(tables.tileRanges, tables.entries, product(problem.dilation),
      product(tilesPerDim(problem, shapes.kvTile)));
    desc.tiled = {
      qTile: shapes.qTile, kvTile: shapes.kvTile, ...tables, ...inverse,
      qOffsets: packedOffsets(shapes.qTile), kvOffsets: packedOffsets(shapes.kvTile),
    };
    const geometry = (tileShape: number[]): PermuteGeometryDesc => ({
      rank, spatialShape: problem.spatialShape, tileShape, dilation: problem.dilation,
    });
    let masked = 0;
    tables.entries.forEach((e) => { if (e < 0) masked++; });
    return {
      id: this.addon.createPlan(desc), shapes,
      qGeometry: geometry(shapes.qTile), kvGeometry: geometry(shapes.kvTile),
      visits: tables.entries.length, maskedVisits: masked,
    };
  }
}

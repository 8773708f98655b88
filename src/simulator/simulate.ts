/**
 * The tile simulator (the paper's NATTENSim, spec §6): how a tiled kernel visits KV tiles for a
 * GNA problem, and the speedups that follow. Definitions:
 *
 * - exact: over all (Q tile, KV tile) pairs of one dilation group, `visited` pairs hold at least
 *   one attended (query, key) pair, `dense` ones have every (real query, real key) pair attended,
 *   `partial` = visited − dense. This is what a block-sparse kernel with per-tile lists visits.
 * - static: the tile-aligned KV box (multi) or range (1d) each Q tile walks, as TMA kernels do;
 *   dynamic: the walk from the exact first key (spec §5.3).
 * - simulatedSpeedup = dense KV tiles / the worst Q tile's static count (the paper's bound).
 * - flopSpeedup = dense (query, key) pairs / attended pairs.
 * - e2eSpeedup = 1 / ((1 − f) + f / simulatedSpeedup), f = attentionShare × sparseStepFraction.
 */
import { attendedPairs } from '../flops';
import { axisWindow } from '../params';
import { AxisTileStats, AxisTileStatsCache, argMax, sum } from './axis_tiles';
import { NormalizedSimulationConfig, SimulationConfig, attrsOf, normalizeSimulationConfig } from './config';
import { computeFlatTileStats } from './flat_tiles';
import { GroupClass, dilationGroupClasses } from './groups';

export interface TileCounts {
  /** KV tiles the worst Q tile visits. */
  maxPerQTile: number;
  meanPerQTile: number;
  /** KV tiles visited, summed over all Q tiles (and dilation groups). */
  total: number;
}

export interface SimulationResult {
  config: NormalizedSimulationConfig;
  /** Dilation groups, `prod(dilation)`. */
  groups: number;
  /** Q and KV tiles, summed over dilation groups (tiles holding at least one real token). */
  qTiles: number;
  kvTiles: number;
  /** (Q tile, KV tile) pairs of the same dilation group. */
  tilePairs: number;
  exact: { visited: number; dense: number; partial: number; maxPerQTile: number };
  static: TileCounts;
  dynamic: TileCounts;
  /** KV tiles of dense attention over the unpermuted grid (spec §6). */
  denseTiles: number;
  /** Attended (query, key) pairs, per batch and head. */
  attendedPairs: number;
  flopSpeedup: number;
  simulatedSpeedup: number;
  /** `denseTiles / dynamic.maxPerQTile`. */
  dynamicSpeedup: number;
  /**
   * The exact test of spec §5: no visited tile needs a fine mask. Per spatial dim under `multi`
   * (null under `1d` for 2-D and 3-D grids, where the mask no longer factorises over tiles).
   */
  perfectlyBlockSparse: { perAxis: boolean[] | null; overall: boolean };
  /** Share of the static-tiling kernel's (query, key) products that the mask discards. */
  maskedFlopFraction: number;
  /** A Q tile with the most statically visited KV tiles: its dilation group and tile coordinates. */
  worstQTile: { group: number[]; tile: number[] };
  /** Present when `attentionShare` is given: end-to-end speedup from `simulatedSpeedup`... */
  e2eSpeedup?: number;
  /** ...and the same from `flopSpeedup`. */
  e2eFlopBound?: number;
}

/** One dilation-group class, reduced to what the result needs. */
interface GroupSummary {
  qTiles: number;
  kvTiles: number;
  visited: number;
  dense: number;
  exactMax: number;
  staticTotal: number;
  staticMax: number;
  dynamicTotal: number;
  dynamicMax: number;
  worstTile: number[];
  blockSparse: boolean[];
}

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

function maxOf(xs: Int32Array): number {
  return xs.length === 0 ? 0 : xs[argMax(xs)];
}

function summarizeMulti(stats: AxisTileStats[]): GroupSummary {
  const prod = (pick: (s: AxisTileStats) => number) => stats.reduce((acc, s) => acc * pick(s), 1);
  return {
    qTiles: prod((s) => s.qTiles),
    kvTiles: prod((s) => s.kvTiles),
    visited: prod((s) => s.totals.visited),
    dense: prod((s) => s.totals.dense),
    exactMax: prod((s) => s.maxima.visited),
    staticTotal: prod((s) => s.totals.staticCount),
    staticMax: prod((s) => s.maxima.staticCount),
    dynamicTotal: prod((s) => s.totals.dynamicCount),
    dynamicMax: prod((s) => s.maxima.dynamicCount),
    worstTile: stats.map((s) => s.worstTile),
    blockSparse: stats.map((s) => s.blockSparse),
  };
}

function summarizeFlat(config: NormalizedSimulationConfig, group: GroupClass): GroupSummary {
  const axes = config.shape.map((_, i) => axisWindow(attrsOf(config), config.shape, i, group.group[i]));
  const s = computeFlatTileStats(axes, config.qTile[0], config.kvTile[0]);
  return {
    qTiles: s.qTiles,
    kvTiles: s.kvTiles,
    visited: sum(s.visited),
    dense: sum(s.dense),
    exactMax: maxOf(s.visited),
    staticTotal: sum(s.staticCount),
    staticMax: maxOf(s.staticCount),
    dynamicTotal: sum(s.dynamicCount),
    dynamicMax: maxOf(s.dynamicCount),
    worstTile: [argMax(s.staticCount)],
    blockSparse: [s.blockSparse],
  };
}

function summarizeGroup(config: NormalizedSimulationConfig, group: GroupClass,
                        cache: AxisTileStatsCache): GroupSummary {
  if (config.tiling === '1d') return summarizeFlat(config, group);
  return summarizeMulti(config.shape.map((_, i) => cache.get(
    axisWindow(attrsOf(config), config.shape, i, group.group[i]), config.qTile[i], config.kvTile[i])));
}

/** Attended (query, key) pairs along axis `i`: the mask is a product, so the total is a product. */
function axisAttendedPairs(config: NormalizedSimulationConfig, i: number, cache: AxisTileStatsCache): number {
  const [L, K, s, d, causal] = [config.shape[i], config.windowSize[i], config.stride[i],
    config.dilation[i], config.isCausal[i]];
  return cache.attendedPairs(`${L},${K},${s},${d},${causal ? 1 : 0}`, () => attendedPairs({
    windowSize: [K], stride: [s], dilation: [d], isCausal: [causal], scale: 1, spatialShape: [L],
    batch: 1, heads: 1, kvHeads: 1, headDim: 1, valueDim: 1,
  }));
}

/** End-to-end speedup when a share `f` of the time is sped up `opSpeedup` times (Amdahl). */
export function endToEndSpeedup(opSpeedup: number, f: number): number {
  return 1 / ((1 - f) + f / opSpeedup);
}

/** `simulate` on an already-normalised config, sharing per-axis statistics through `cache`. */
export function simulateNormalized(config: NormalizedSimulationConfig,
                                   cache: AxisTileStatsCache = new AxisTileStatsCache()): SimulationResult {
  const classes = dilationGroupClasses(config.shape, config.dilation);
  const summaries = classes.map((g) => summarizeGroup(config, g, cache));
  const weighted = (pick: (s: GroupSummary) => number) =>
    summaries.reduce((acc, s, i) => acc + classes[i].count * pick(s), 0);
  const worst = summaries.reduce((w, s, i) => (s.staticMax > summaries[w].staticMax ? i : w), 0);
  const qTiles = weighted((s) => s.qTiles);
  const counts = (total: number, max: number): TileCounts =>
    ({ maxPerQTile: max, meanPerQTile: total / qTiles, total });
  const visited = weighted((s) => s.visited);
  const dense = weighted((s) => s.dense);
  const staticCounts = counts(weighted((s) => s.staticTotal), Math.max(...summaries.map((s) => s.staticMax)));
  const dynamicCounts = counts(weighted((s) => s.dynamicTotal), Math.max(...summaries.map((s) => s.dynamicMax)));

  const tokens = product(config.shape);
  const denseTiles = config.tiling === '1d' ? Math.ceil(tokens / config.kvTile[0])
    : product(config.shape.map((L, i) => Math.ceil(L / config.kvTile[i])));
  const attended = product(config.shape.map((_, i) => axisAttendedPairs(config, i, cache)));
  const tileProducts = staticCounts.total * product(config.qTile) * product(config.kvTile);
  const perAxis = summaries[0].blockSparse.map((_, i) => summaries.every((s) => s.blockSparse[i]));
  const overall = perAxis.every((b) => b);
  const result: SimulationResult = {
    config,
    groups: product(config.dilation),
    qTiles,
    kvTiles: weighted((s) => s.kvTiles),
    tilePairs: weighted((s) => s.qTiles * s.kvTiles),
    exact: { visited, dense, partial: visited - dense, maxPerQTile: Math.max(...summaries.map((s) => s.exactMax)) },
    static: staticCounts,
    dynamic: dynamicCounts,
    denseTiles,
    attendedPairs: attended,
    flopSpeedup: (tokens * tokens) / attended,
    simulatedSpeedup: denseTiles / staticCounts.maxPerQTile,
    dynamicSpeedup: denseTiles / dynamicCounts.maxPerQTile,
    perfectlyBlockSparse: {
      perAxis: config.tiling === 'multi' || config.shape.length === 1 ? perAxis : null,
      overall,
    },
    maskedFlopFraction: 1 - attended / tileProducts,
    worstQTile: { group: classes[worst].group, tile: summaries[worst].worstTile },
  };
  if (config.attentionShare !== undefined) {
    const f = config.attentionShare * config.sparseStepFraction;
    result.e2eSpeedup = endToEndSpeedup(result.simulatedSpeedup, f);
    result.e2eFlopBound = endToEndSpeedup(result.flopSpeedup, f);
  }
  return result;
}

/** Simulates how a tiled GNA kernel visits KV tiles; see the module comment for definitions. */
export function simulate(config: SimulationConfig): SimulationResult {
  return simulateNormalized(normalizeSimulationConfig(config));
}

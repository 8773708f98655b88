/**
 * The KV tiles one Q tile visits, tile by tile: what the CLI prints and draws, and what the
 * spec §5 examples list. Under `multi` tiling the static walk is a box in KV tile space whose
 * classes are products of per-axis classes; under `1d` it is a contiguous range of flat tiles,
 * some of which may hold no attended pair at all (tiles of rows the window skips).
 */
import { axisWindow } from '../params';
import { AxisWindow, TileClass, kvTileCount, kvTileRange } from '../window';
import { argMax, axisPairClass, computeAxisTileStats } from './axis_tiles';
import { NormalizedSimulationConfig, SimulationConfig, attrsOf, normalizeSimulationConfig } from './config';
import { computeFlatTileStats, flatGrid, scanFlatQTile } from './flat_tiles';
import { simulateNormalized } from './simulate';

export interface KvTileVisit {
  /** KV tile coordinates (one per spatial dim under `multi`, one flat index under `1d`). */
  tile: number[];
  /** 'empty': walked by a static kernel although no (query, key) pair in it is attended. */
  kvClass: TileClass;
}

export interface QTileVisits {
  group: number[];
  /** In-group length of every spatial dim. */
  lengths: number[];
  qTile: number[];
  /** Q and KV tiles per dim of this dilation group (one entry under `1d`). */
  qTileGrid: number[];
  kvTileGrid: number[];
  /** The static walk, in row-major KV tile order. */
  visits: KvTileVisit[];
  counts: { visited: number; dense: number; partial: number; static: number; dynamic: number };
}

function fail(message: string): never {
  throw new Error(`qTileVisits: ${message}`);
}

function groupAxes(config: NormalizedSimulationConfig, group: number[]): AxisWindow[] {
  if (group.length !== config.shape.length ||
      group.some((g, i) => !Number.isInteger(g) || g < 0 || g >= config.dilation[i])) {
    fail(`group=[${group.join(', ')}] must give one dilation group per dim, each in [0, dilation)` +
      ` with dilation [${config.dilation.join(', ')}]`);
  }
  return config.shape.map((_, i) => axisWindow(attrsOf(config), config.shape, i, group[i]));
}

function checkTile(qTile: number[], grid: number[]) {
  if (qTile.length !== grid.length ||
      qTile.some((t, i) => !Number.isInteger(t) || t < 0 || t >= grid[i])) {
    fail(`Q tile [${qTile.join(', ')}] is outside the Q tile grid [${grid.join(', ')}]`);
  }
}

function multiVisits(config: NormalizedSimulationConfig, axes: AxisWindow[], group: number[],
                     qTile: number[]): QTileVisits {
  const qTileGrid = axes.map((a, i) => Math.ceil(a.n / config.qTile[i]));
  const kvTileGrid = axes.map((a, i) => Math.ceil(a.n / config.kvTile[i]));
  checkTile(qTile, qTileGrid);
  const boxes = axes.map((a, i) => kvTileRange(qTile[i], config.qTile[i], config.kvTile[i], a));
  const classes = axes.map((a, i) => {
    const row: TileClass[] = [];
    for (let u = boxes[i].start; u < boxes[i].end; u++) {
      row.push(axisPairClass(a, config.qTile[i], config.kvTile[i], qTile[i], u));
    }
    return row;
  });
  const visits: KvTileVisit[] = [];
  const pos = boxes.map((b) => b.start);
  while (boxes.every((b) => b.end > b.start)) {
    const perAxis = pos.map((u, i) => classes[i][u - boxes[i].start]);
    const kvClass: TileClass = perAxis.includes('empty') ? 'empty'
      : perAxis.every((c) => c === 'dense') ? 'dense' : 'partial';
    visits.push({ tile: pos.slice(), kvClass });
    let i = pos.length - 1;
    for (; i >= 0; i--) {
      if (++pos[i] < boxes[i].end) break;
      pos[i] = boxes[i].start;
    }
    if (i < 0) break;
  }
  const dynamic = axes.reduce((acc, a, i) => acc * kvTileCount(
    kvTileRange(qTile[i], config.qTile[i], config.kvTile[i], a, 'dynamic'), config.kvTile[i], 'dynamic'), 1);
  return {
    group, lengths: axes.map((a) => a.n), qTile, qTileGrid, kvTileGrid, visits,
    counts: countsOf(visits, dynamic),
  };
}

function flatVisits(config: NormalizedSimulationConfig, axes: AxisWindow[], group: number[],
                    qTile: number[]): QTileVisits {
  const grid = flatGrid(axes);
  const qTileGrid = [Math.ceil(grid.tokens / config.qTile[0])];
  const kvTileGrid = [Math.ceil(grid.tokens / config.kvTile[0])];
  checkTile(qTile, qTileGrid);
  const scan = scanFlatQTile(grid, config.qTile[0], config.kvTile[0], qTile[0],
    new Int32Array(kvTileGrid[0]));
  const visits: KvTileVisit[] = [];
  for (let u = scan.staticRange.start, j = 0; u < scan.staticRange.end; u++) {
    const hit = scan.tiles[j] === u;
    visits.push({ tile: [u], kvClass: hit ? scan.classes[j++] : 'empty' });
  }
  return {
    group, lengths: axes.map((a) => a.n), qTile, qTileGrid, kvTileGrid, visits,
    counts: countsOf(visits, scan.dynamicCount),
  };
}

function countsOf(visits: KvTileVisit[], dynamic: number): QTileVisits['counts'] {
  const dense = visits.filter((v) => v.kvClass === 'dense').length;
  const visited = visits.filter((v) => v.kvClass !== 'empty').length;
  return { visited, dense, partial: visited - dense, static: visits.length, dynamic };
}

/**
 * The KV tiles Q tile `qTile` (tile coordinates in dilation group `group`) visits. Without
 * `qTile`, the worst Q tile of the configuration (most statically visited KV tiles).
 */
export function qTileVisits(config: SimulationConfig, qTile?: number[], group?: number[]): QTileVisits {
  const c = normalizeSimulationConfig(config);
  const g = group ?? (qTile === undefined ? simulateNormalized(c).worstQTile.group : c.shape.map(() => 0));
  const axes = groupAxes(c, g);
  const tile = qTile ?? worstQTileOfGroup(c, axes);
  return c.tiling === '1d' ? flatVisits(c, axes, g, tile) : multiVisits(c, axes, g, tile);
}

/** The Q tile of one dilation group with the most statically visited KV tiles. */
function worstQTileOfGroup(config: NormalizedSimulationConfig, axes: AxisWindow[]): number[] {
  if (config.tiling === '1d') {
    return [argMax(computeFlatTileStats(axes, config.qTile[0], config.kvTile[0]).staticCount)];
  }
  return axes.map((a, i) => computeAxisTileStats(a, config.qTile[i], config.kvTile[i]).worstTile);
}

/** Codes of `TilePairMatrix.classes`: not walked, walked but empty, partial, dense. */
export const PAIR_CODE = { outside: 0, empty: 1, partial: 2, dense: 3 } as const;

export interface TilePairMatrix {
  group: number[];
  qTiles: number;
  kvTiles: number;
  /** Row-major `[qTiles, kvTiles]` over linear (row-major) tile indices: `PAIR_CODE`s. */
  classes: Uint8Array;
}

/** The largest matrix `tilePairMatrix` builds; it exists for pictures of small layouts. */
export const MAX_MATRIX_PAIRS = 1 << 18;

/** Every (Q tile, KV tile) pair of one dilation group, classified (small layouts only). */
export function tilePairMatrix(config: SimulationConfig, group?: number[]): TilePairMatrix {
  const c = normalizeSimulationConfig(config);
  const g = group ?? new Array<number>(c.shape.length).fill(0);
  const first = qTileVisits(c, c.tiling === '1d' ? [0] : c.shape.map(() => 0), g);
  const qTiles = first.qTileGrid.reduce((a, b) => a * b, 1);
  const kvTiles = first.kvTileGrid.reduce((a, b) => a * b, 1);
  if (qTiles * kvTiles > MAX_MATRIX_PAIRS) {
    throw new Error(`tilePairMatrix: ${qTiles} x ${kvTiles} tile pairs exceed ${MAX_MATRIX_PAIRS} ` +
      '(draw one Q tile instead)');
  }
  const classes = new Uint8Array(qTiles * kvTiles);
  const linear = (tile: number[], grid: number[]) => tile.reduce((acc, t, i) => acc * grid[i] + t, 0);
  for (let q = 0; q < qTiles; q++) {
    const coords = first.qTileGrid.map(() => 0);
    for (let i = coords.length - 1, rest = q; i >= 0; i--) {
      coords[i] = rest % first.qTileGrid[i];
      rest = Math.floor(rest / first.qTileGrid[i]);
    }
    for (const v of qTileVisits(c, coords, g).visits) {
      classes[q * kvTiles + linear(v.tile, first.kvTileGrid)] = PAIR_CODE[v.kvClass];
    }
  }
  return { group: g, qTiles, kvTiles, classes };
}

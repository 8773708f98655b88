/**
 * Brute-force tile statistics for the simulator tests: every (query, key) pair of the test
 * reference's explicit mask (`refMask`, independent of src/), grouped into tiles by the token
 * permutation of spec §4 (multi-dimensional tiles inside each dilation group) or by flat
 * row-major tiles of each group's grid. Only real tokens are counted; padding never exists here.
 */
import { refMask } from '../helpers/reference';

export interface BruteConfig {
  shape: number[];
  windowSize: number[];
  stride: number[];
  dilation: number[];
  isCausal: boolean[];
  qTile: number[];
  kvTile: number[];
  tiling: 'multi' | '1d';
}

export interface BruteStats {
  qTiles: number;
  tilePairs: number;
  visited: number;
  dense: number;
  staticMax: number;
  staticTotal: number;
  dynamicMax: number;
  dynamicTotal: number;
  /** Every KV tile of every Q tile's static walk is dense. */
  staticWalkAllDense: boolean;
}

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

function unflatten(index: number, shape: number[]): number[] {
  const c = new Array<number>(shape.length);
  for (let i = shape.length - 1; i >= 0; i--) {
    c[i] = index % shape[i];
    index = Math.floor(index / shape[i]);
  }
  return c;
}

const flatten = (c: number[], shape: number[]) => c.reduce((acc, x, i) => acc * shape[i] + x, 0);

/** Where a token lands: its group, in-group coordinates, and Q/KV tile (coordinates per axis under multi). */
interface Placement {
  group: number;
  u: number[];
  lengths: number[];
  qTile: number[];
  kvTile: number[];
}

function place(c: BruteConfig, token: number): Placement {
  const x = unflatten(token, c.shape);
  const g = x.map((xi, i) => xi % c.dilation[i]);
  const u = x.map((xi, i) => Math.floor(xi / c.dilation[i]));
  const lengths = c.shape.map((L, i) => Math.ceil((L - g[i]) / c.dilation[i]));
  const tileOf = (tile: number[]) => (c.tiling === 'multi'
    ? u.map((ui, i) => Math.floor(ui / tile[i]))
    : [Math.floor(flatten(u, lengths) / tile[0])]);
  return { group: flatten(g, c.dilation), u, lengths, qTile: tileOf(c.qTile), kvTile: tileOf(c.kvTile) };
}

export function bruteForceTiles(c: BruteConfig): BruteStats {
  const mask = refMask({ ...c, scale: 1 });
  const tokens = product(c.shape);
  const placements = Array.from({ length: tokens }, (_, t) => place(c, t));
  const key = (p: Placement, tile: number[]) => `${p.group}|${tile.join(',')}`;
  const qTiles = new Map<string, number[]>();
  const kvTiles = new Map<string, number[]>();
  placements.forEach((p, t) => {
    const qk = key(p, p.qTile);
    const kk = key(p, p.kvTile);
    if (!qTiles.has(qk)) qTiles.set(qk, []);
    if (!kvTiles.has(kk)) kvTiles.set(kk, []);
    qTiles.get(qk)!.push(t);
    kvTiles.get(kk)!.push(t);
  });
  const stats: BruteStats = {
    qTiles: qTiles.size, tilePairs: 0, visited: 0, dense: 0, staticMax: 0, staticTotal: 0,
    dynamicMax: 0, dynamicTotal: 0, staticWalkAllDense: true,
  };
  for (const queries of qTiles.values()) {
    const qp = placements[queries[0]];
    // The attended keys' extent, per axis (multi) or in flat order (1d), in in-group coordinates.
    const coordOf = (p: Placement) => (c.tiling === 'multi' ? p.u : [flatten(p.u, p.lengths)]);
    const rank = coordOf(qp).length;
    const min = new Array<number>(rank).fill(Infinity);
    const max = new Array<number>(rank).fill(-Infinity);
    const denseTiles = new Set<string>();
    for (const [kk, keys] of kvTiles) {
      if (!kk.startsWith(`${qp.group}|`)) continue;
      stats.tilePairs++;
      let attended = 0;
      for (const q of queries) {
        for (const k of keys) {
          if (!mask[q * tokens + k]) continue;
          attended++;
          coordOf(placements[k]).forEach((v, i) => {
            min[i] = Math.min(min[i], v);
            max[i] = Math.max(max[i], v);
          });
        }
      }
      if (attended > 0) stats.visited++;
      if (attended === queries.length * keys.length) {
        stats.dense++;
        denseTiles.add(kk);
      }
    }
    const tile = c.kvTile;
    const staticCount = product(min.map((m, i) => Math.floor(max[i] / tile[i]) - Math.floor(m / tile[i]) + 1));
    const dynamicCount = product(min.map((m, i) => Math.ceil((max[i] + 1 - m) / tile[i])));
    stats.staticMax = Math.max(stats.staticMax, staticCount);
    stats.staticTotal += staticCount;
    stats.dynamicMax = Math.max(stats.dynamicMax, dynamicCount);
    stats.dynamicTotal += dynamicCount;
    // Walk the static box (or range) of KV tiles and check each is dense.
    const lo = min.map((m, i) => Math.floor(m / tile[i]));
    const hi = max.map((m, i) => Math.floor(m / tile[i]));
    for (let w = 0; w < staticCount; w++) {
      const coords = unflatten(w, hi.map((h, i) => h - lo[i] + 1)).map((v, i) => v + lo[i]);
      if (!denseTiles.has(`${qp.group}|${coords.join(',')}`)) stats.staticWalkAllDense = false;
    }
  }
  return stats;
}

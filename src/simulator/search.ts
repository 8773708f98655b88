/**
 * Configuration search (what the paper uses NATTENSim for, spec §6): for one layout and window,
 * simulate every stride against every tile shape a backend supports, rank by simulated speedup
 * and mark the perfectly block-sparse ones, whose speedup equals the FLOP-wise bound.
 */
import { PerAxis } from '../params';
import { AxisTileStatsCache } from './axis_tiles';
import { Tiling, normalizeSimulationConfig } from './config';
import { simulateNormalized } from './simulate';
import { TileBackend, tileConfigs } from './tile_configs';

export interface SearchOptions {
  shape: number[];
  windowSize: PerAxis<number>;
  dilation?: PerAxis<number>;
  isCausal?: PerAxis<boolean>;
  /** Default `multi`; `1d` searches the backends' 1-D tile lists over the flattened grid. */
  tiling?: Tiling;
  /** Backends whose forward tile lists are searched; default all of `TILE_BACKENDS`. */
  backends?: TileBackend[];
  /** Keep only tile configs built for this head dim (Hopper's lists depend on it). */
  headDim?: number;
  /** Candidate strides, one per spatial dim each; default every stride `1..windowSize` per dim. */
  strides?: number[][];
  /** Explicit tile shapes instead of the backends' lists. */
  tiles?: Array<{ qTile: number[]; kvTile: number[] }>;
  /** Keep the best `limit` entries; default all. */
  limit?: number;
  attentionShare?: number;
  sparseStepFraction?: number;
}

export interface SearchEntry {
  stride: number[];
  qTile: number[];
  kvTile: number[];
  /** Backends offering this tile shape (empty for explicit `tiles`). */
  backends: TileBackend[];
  simulatedSpeedup: number;
  dynamicSpeedup: number;
  flopSpeedup: number;
  maxPerQTile: number;
  denseTiles: number;
  perfectlyBlockSparse: boolean;
  maskedFlopFraction: number;
  e2eSpeedup?: number;
}

export interface SearchResult {
  /** Number of (stride, tile shape) pairs simulated. */
  evaluated: number;
  /** Best first: higher simulated speedup, then perfectly block-sparse, then smaller strides. */
  entries: SearchEntry[];
}

interface TileCandidate {
  qTile: number[];
  kvTile: number[];
  backends: TileBackend[];
}

function fail(message: string): never {
  throw new Error(`searchConfigs: ${message}`);
}

function tileCandidates(options: SearchOptions, rank: number): TileCandidate[] {
  if (options.tiles !== undefined) {
    return options.tiles.map((t) => ({ qTile: t.qTile.slice(), kvTile: t.kvTile.slice(), backends: [] }));
  }
  const candidates = new Map<string, TileCandidate>();
  for (const backend of options.backends ?? [undefined]) {
    for (const c of tileConfigs({ backend, rank, pass: 'forward', headDim: options.headDim })) {
      const key = `${c.qTile.join('x')}/${c.kvTile.join('x')}`;
      const found = candidates.get(key);
      if (found === undefined) {
        candidates.set(key, { qTile: c.qTile.slice(), kvTile: c.kvTile.slice(), backends: [c.backend] });
      } else if (!found.backends.includes(c.backend)) {
        found.backends.push(c.backend);
      }
    }
  }
  return [...candidates.values()];
}

/** Every stride tuple with `1 <= stride_i <= windowSize_i`. */
function allStrides(windowSize: number[]): number[][] {
  return windowSize.reduce<number[][]>((acc, K) =>
    acc.flatMap((prefix) => Array.from({ length: K }, (_, s) => [...prefix, s + 1])), [[]]);
}

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

function compareEntries(a: SearchEntry, b: SearchEntry): number {
  return (b.simulatedSpeedup - a.simulatedSpeedup) ||
    (Number(b.perfectlyBlockSparse) - Number(a.perfectlyBlockSparse)) ||
    (product(a.stride) - product(b.stride));
}

export function searchConfigs(options: SearchOptions): SearchResult {
  if (options === null || typeof options !== 'object') fail('options must be an object');
  const tiling = options.tiling ?? 'multi';
  // Validates the layout and window once; every candidate below only varies stride and tiles.
  const base = normalizeSimulationConfig({
    shape: options.shape, windowSize: options.windowSize, dilation: options.dilation,
    isCausal: options.isCausal, tiling, qTile: 1, kvTile: 1,
    attentionShare: options.attentionShare, sparseStepFraction: options.sparseStepFraction,
  });
  const rank = tiling === '1d' ? 1 : base.shape.length;
  const tiles = tileCandidates(options, rank);
  if (tiles.length === 0) {
    fail(`no ${rank}-D forward tile shapes for backends [${(options.backends ?? []).join(', ')}]` +
      (options.headDim === undefined ? '' : ` and head dim ${options.headDim}`));
  }
  const strides = options.strides ?? allStrides(base.windowSize);
  if (options.limit !== undefined && !(Number.isInteger(options.limit) && options.limit >= 1)) {
    fail(`limit=${options.limit} must be a positive integer`);
  }
  const cache = new AxisTileStatsCache();
  const entries: SearchEntry[] = [];
  const tiled = tiles.map((t) => normalizeSimulationConfig({ ...base, ...t }));
  for (const candidate of strides) {
    // User-given strides go through the same rules as every op's; tiles were checked above.
    const { stride } = normalizeSimulationConfig({ ...base, stride: candidate });
    tiles.forEach((t, j) => {
      const r = simulateNormalized({ ...tiled[j], stride }, cache);
      entries.push({
        stride,
        qTile: r.config.qTile,
        kvTile: r.config.kvTile,
        backends: t.backends,
        simulatedSpeedup: r.simulatedSpeedup,
        dynamicSpeedup: r.dynamicSpeedup,
        flopSpeedup: r.flopSpeedup,
        maxPerQTile: r.static.maxPerQTile,
        denseTiles: r.denseTiles,
        perfectlyBlockSparse: r.perfectlyBlockSparse.overall,
        maskedFlopFraction: r.maskedFlopFraction,
        ...(r.e2eSpeedup === undefined ? {} : { e2eSpeedup: r.e2eSpeedup }),
      });
    });
  }
  entries.sort(compareEntries);
  return { evaluated: entries.length, entries: options.limit === undefined ? entries : entries.slice(0, options.limit) };
}

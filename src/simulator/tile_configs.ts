/**
 * Tile shapes per backend: one table shared by the simulator's search, the CLI and (later) the
 * kernels and tools, as NATTEN builds its profiler and dry-run on the kernels' own config lists.
 * NATTEN entries are its forward (and Blackwell backward) lists of spec §3.6; `tfjs-gna` lists
 * this project's kernels and is meant to be edited by them as they land.
 */

export type TileBackend = 'blackwell-fna' | 'hopper-fna' | 'cutlass-fna' | 'flex-fna' | 'tfjs-gna';

export const TILE_BACKENDS: readonly TileBackend[] =
  ['blackwell-fna', 'hopper-fna', 'cutlass-fna', 'flex-fna', 'tfjs-gna'];

export interface TileConfig {
  backend: TileBackend;
  pass: 'forward' | 'backward';
  qTile: readonly number[];
  kvTile: readonly number[];
  /** Head dims the config is built for; absent when any supported head dim works. */
  headDims?: readonly number[];
  /** The backend's default for its rank (and head dims). */
  isDefault?: boolean;
}

type Entry = [qTile: number[], kvTile: number[], headDims?: number[], isDefault?: boolean];

function entries(backend: TileBackend, pass: TileConfig['pass'], list: Entry[]): TileConfig[] {
  return list.map(([qTile, kvTile, headDims, isDefault]) => ({
    backend, pass, qTile, kvTile,
    ...(headDims ? { headDims } : {}),
    ...(isDefault ? { isDefault } : {}),
  }));
}

const SMALL = [32, 64];

/** Tile volumes (tokens) of this project's tensor-core forward, for queries and for keys. */
export const TFJS_GNA_TILE_VOLUMES = [128, 64];

/**
 * Power-of-two tile shapes of `volume` tokens over `rank` dims, each dim at least 2 and at most
 * 64 (wider tiles only pad real layouts), for the tables; kernels fit them to the grid.
 */
export function powerOfTwoTiles(rank: number, volume: number): number[][] {
  if (rank === 1) return [[volume]];
  const out: number[][] = [];
  for (let t = 2; t <= Math.min(64, volume / 2 ** (rank - 1)); t *= 2) {
    for (const rest of powerOfTwoTiles(rank - 1, volume / t)) {
      if (rest.every((r) => r >= 2 && r <= 64)) out.push([t, ...rest]);
    }
  }
  return out;
}

/** Blackwell backward: every pair of the 2-D shapes (16,8) and (8,16). */
const blackwellBackward2d: Entry[] = [[16, 8], [8, 16]].flatMap((q) =>
  [[16, 8], [8, 16]].map((kv): Entry => [q, kv]));

export const TILE_CONFIGS: readonly TileConfig[] = [
  // Blackwell FNA forward: Q tiles of 256 tokens, KV tiles of 128 (spec §3.6).
  ...entries('blackwell-fna', 'forward', [
    [[256], [128], undefined, true],
    [[16, 16], [16, 8], undefined, true], [[16, 16], [8, 16]], [[8, 32], [8, 16]], [[8, 32], [4, 32]],
    [[8, 4, 8], [4, 4, 8], undefined, true], [[8, 4, 8], [2, 8, 8]], [[2, 8, 16], [4, 4, 8]],
    [[2, 8, 16], [2, 8, 8]], [[4, 4, 16], [2, 4, 16]], [[2, 16, 8], [2, 8, 8]], [[4, 8, 8], [2, 8, 8]],
  ]),
  ...entries('blackwell-fna', 'backward', [
    [[128], [128], undefined, true],
    ...blackwellBackward2d,
    [[4, 4, 8], [4, 4, 8]], [[4, 4, 8], [2, 8, 8]], [[1, 8, 16], [4, 4, 8]], [[2, 8, 8], [4, 4, 8]],
    [[1, 8, 16], [2, 8, 8]], [[2, 4, 16], [2, 4, 16]], [[4, 2, 16], [2, 4, 16]], [[4, 4, 8], [2, 4, 16]],
    [[2, 8, 8], [2, 8, 8]],
  ]),
  // Hopper FNA forward, by head dim.
  ...entries('hopper-fna', 'forward', [
    [[64], [128], SMALL], [[128], [128], [128]], [[128], [64], [256]],
    [[8, 8], [16, 8], SMALL], [[8, 8], [8, 16], SMALL], [[16, 8], [16, 8], [128]],
    [[16, 8], [8, 8], [256]], [[8, 16], [8, 8], [256]],
    [[4, 4, 4], [4, 4, 8], SMALL], [[4, 4, 4], [2, 8, 8], SMALL], [[4, 4, 8], [4, 4, 8], [128]],
    [[2, 8, 8], [2, 8, 8], [128]], [[4, 4, 8], [4, 4, 4], [256]], [[2, 8, 8], [4, 4, 4], [256]],
  ]),
  // cutlass-fna has many 64-token shapes; the spec lists its defaults.
  ...entries('cutlass-fna', 'forward', [[[8, 8], [8, 8], undefined, true], [[4, 4, 4], [4, 4, 4], undefined, true]]),
  ...entries('flex-fna', 'forward', [
    [[64], [64]], [[8, 8], [8, 8]], [[4, 16], [4, 16]], [[4, 16], [8, 8]],
    [[4, 4, 4], [4, 4, 4]], [[2, 4, 8], [2, 4, 8]], [[2, 4, 8], [4, 4, 4]],
  ]),
  // This project's CUDA tensor-core forward (kernels/native): power-of-two Q and KV tiles of 64
  // or 128 tokens; the kernel picks per problem by the same visit count as the simulator. Listed:
  // KV tiles nested in the Q tile (the block-sparse candidates), which keeps searches fast.
  ...[1, 2, 3].flatMap((rank) => {
    const shapes = TFJS_GNA_TILE_VOLUMES.flatMap((v) => powerOfTwoTiles(rank, v));
    return entries('tfjs-gna', 'forward', shapes.flatMap((q) => shapes
      .filter((kv) => kv.every((t, i) => t <= q[i]))
      .map((kv): Entry => [q, kv])));
  }),
];

export interface TileConfigQuery {
  backend?: TileBackend;
  /** Number of tiled dims (the spatial rank under multi-dimensional tiling, 1 under 1-D tiling). */
  rank?: number;
  pass?: TileConfig['pass'];
  /** Keep configs built for this head dim (or for any). */
  headDim?: number;
}

/** The table's entries matching every given field. */
export function tileConfigs(query: TileConfigQuery = {}): TileConfig[] {
  if (query.backend !== undefined && !TILE_BACKENDS.includes(query.backend)) {
    throw new Error(`tileConfigs: backend '${query.backend}' is unknown (known: ${TILE_BACKENDS.join(', ')})`);
  }
  return TILE_CONFIGS.filter((c) =>
    (query.backend === undefined || c.backend === query.backend) &&
    (query.rank === undefined || c.qTile.length === query.rank) &&
    (query.pass === undefined || c.pass === query.pass) &&
    (query.headDim === undefined || c.headDims === undefined || c.headDims.includes(query.headDim)));
}

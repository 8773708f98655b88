/**
 * Token permutation layout (spec §4): a multi-dimensional grid re-laid out tile by tile, with
 * dilation groups folded into the batch and zero padding up to whole tiles. Both `lin` orders are
 * row-major (last dim fastest), for the tile index and for the position inside a tile.
 */
import { TokenPermuteAttrs } from './params';

export interface PermuteLayout {
  spatialShape: number[];
  tileShape: number[];
  dilation: number[];
  /** Number of dilation groups `G = prod(dilation)`, folded into the batch. */
  groups: number;
  /** Per-group extent along each axis, padded to whole tiles: `ceil(L/(T*D))*T`. */
  groupExtent: number[];
  /** Tiles along each axis inside one group. */
  tilesPerDim: number[];
  /** Tokens in one tile, `prod(tileShape)`. */
  tileVolume: number;
  /** Permuted tokens per group, `prod(groupExtent)`. */
  sequenceLength: number;
  /** Tokens of the original grid, `prod(spatialShape)`. */
  tokens: number;
}

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

export function permuteLayout(attrs: TokenPermuteAttrs): PermuteLayout {
  const { spatialShape, tileShape, dilation } = attrs;
  const tilesPerDim = spatialShape.map((L, i) => Math.ceil(L / (tileShape[i] * dilation[i])));
  const groupExtent = tilesPerDim.map((r, i) => r * tileShape[i]);
  return {
    spatialShape, tileShape, dilation,
    groups: product(dilation),
    groupExtent,
    tilesPerDim,
    tileVolume: product(tileShape),
    sequenceLength: product(groupExtent),
    tokens: product(spatialShape),
  };
}

/** Row-major strides of `shape`. */
export function rowMajorStrides(shape: number[]): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

/**
 * Position of permuted token `seq` of dilation group `group`, as the in-group coordinates
 * `u_i = r_i * T_i + t_i` (tile index `r`, position in tile `t`).
 */
export function permutedToGroupCoords(layout: PermuteLayout, seq: number): number[] {
  const { tileShape, tilesPerDim, tileVolume } = layout;
  let tile = Math.floor(seq / tileVolume);
  let inTile = seq % tileVolume;
  const u = new Array<number>(tileShape.length);
  for (let i = tileShape.length - 1; i >= 0; i--) {
    const t = inTile % tileShape[i];
    const r = tile % tilesPerDim[i];
    inTile = Math.floor(inTile / tileShape[i]);
    tile = Math.floor(tile / tilesPerDim[i]);
    u[i] = r * tileShape[i] + t;
  }
  return u;
}

/** Dilation offsets `g_i` of folded group `group` (row-major over `dilation`). */
export function groupOffsets(layout: PermuteLayout, group: number): number[] {
  const g = new Array<number>(layout.dilation.length);
  for (let i = layout.dilation.length - 1; i >= 0; i--) {
    g[i] = group % layout.dilation[i];
    group = Math.floor(group / layout.dilation[i]);
  }
  return g;
}

/**
 * Gather map of the permutation: entry `group * sequenceLength + seq` holds the row-major index
 * of the source token in the original grid, or -1 for a padding slot. Unpermute reads the same
 * map the other way round, so the two ops are exact inverses by construction.
 */
export function permuteGatherMap(layout: PermuteLayout): Int32Array {
  const { groups, sequenceLength, spatialShape, dilation } = layout;
  const strides = rowMajorStrides(spatialShape);
  const map = new Int32Array(groups * sequenceLength);
  for (let group = 0; group < groups; group++) {
    const g = groupOffsets(layout, group);
    for (let seq = 0; seq < sequenceLength; seq++) {
      const u = permutedToGroupCoords(layout, seq);
      let index = 0;
      for (let i = 0; i < u.length && index >= 0; i++) {
        const x = u[i] * dilation[i] + g[i];
        index = x < spatialShape[i] ? index + x * strides[i] : -1;
      }
      map[group * sequenceLength + seq] = index;
    }
  }
  return map;
}

/** True when permutation is a pure reshape: 1-D, no dilation and no padding. */
export function isIdentityPermute(layout: PermuteLayout): boolean {
  return layout.spatialShape.length === 1 && layout.groups === 1 &&
    layout.sequenceLength === layout.tokens;
}

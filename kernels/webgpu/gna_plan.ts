/**
 * Host-side tiling of a GNA problem for the WebGPU kernels (spec §5). A workgroup owns one tile
 * of the token-permuted layout (a box of `tileShape` tokens in one dilation group) and walks the
 * other side of the attention in chunks (boxes of `chunkShape` tokens):
 *  - 'keys': the owner is a query tile; it walks the key range its queries' windows cover
 *    (`kvTileRange`, dynamic tiling: the walk starts exactly at the first window start);
 *  - 'queries': the owner is a key tile; it walks the union of its keys' inverse neighbourhoods
 *    (`inverseNeighborhood`), for dK/dV.
 * Every window rule comes from src/window.ts, evaluated here once per axis and dilation group and
 * uploaded as one small int32 table; the WGSL only looks values up. Each chunk step is classified
 * per axis with `classifyTilePair`; a chunk needs no fine mask if every axis is dense (the mask
 * is a product over axes). A walk covers the union of overlapping windows, so it meets no empty
 * chunk in practice; the kernels would mask one like a partial chunk rather than branch on it.
 */
import { GnaProblem, axisWindow } from '../../src/params';
import { PermuteLayout, permuteLayout } from '../../src/layout';
import {
  AxisWindow, Interval, classifyTilePair, inverseNeighborhood, kvTileRange, windowEnd, windowStart,
} from '../../src/window';

export type WalkDirection = 'keys' | 'queries';

/** Step classes, ordered so that the class of a multi-axis chunk is the minimum over axes. */
export const STEP_EMPTY = 0;
export const STEP_PARTIAL = 1;
export const STEP_DENSE = 2;

/** Where one axis's sections start in the table; each section is indexed by group first. */
export interface AxisTableOffsets {
  /** `windowStart(i)` / `windowEnd(i)` of in-group position `i < extent`: `[group][extent]`. */
  windowStart: number;
  windowEnd: number;
  /** Real group length `n`: `[group]`. */
  length: number;
  /** First token of the walk and its number of chunk steps: `[group][ownerTile]`. */
  rangeStart: number;
  rangeSteps: number;
  /** Class of each step: `[group][ownerTile][maxSteps]`. */
  stepClass: number;
  maxSteps: number;
}

export interface WalkPlan {
  direction: WalkDirection;
  /** The permute layout; its `tileShape` is the owner tile. */
  layout: PermuteLayout;
  chunkShape: number[];
  table: Int32Array;
  axes: AxisTableOffsets[];
}

/** The walk of one owner tile along one axis: a token range covered in `chunk` steps. */
function ownerRange(direction: WalkDirection, tile: number, tileSize: number, chunk: number,
                    axis: AxisWindow): Interval {
  if (direction === 'keys') return kvTileRange(tile, tileSize, chunk, axis, 'dynamic');
  // The inverse neighbourhoods of consecutive keys are consecutive intervals (starts and ends of
  // windows are monotone, §1.7), so their union is one interval.
  let start = Infinity;
  let end = -Infinity;
  for (let j = tile * tileSize; j < Math.min((tile + 1) * tileSize, axis.n); j++) {
    const queries = inverseNeighborhood(j, axis);
    if (queries.end <= queries.start) continue;
    start = Math.min(start, queries.start);
    end = Math.max(end, queries.end);
  }
  return end > start ? { start, end } : { start: 0, end: 0 };
}

function stepClass(direction: WalkDirection, owner: Interval, chunk: Interval,
                   axis: AxisWindow): number {
  const cls = direction === 'keys' ? classifyTilePair(owner, chunk, axis)
    : classifyTilePair(chunk, owner, axis);
  return cls === 'empty' ? STEP_EMPTY : cls === 'dense' ? STEP_DENSE : STEP_PARTIAL;
}

const stepsOf = (range: Interval, chunk: number) =>
  range.end > range.start ? Math.ceil((range.end - range.start) / chunk) : 0;

/** Tokens one axis's walks visit in all groups and owner tiles: the cost model of the tiling. */
function axisWalkCost(direction: WalkDirection, problem: GnaProblem, axis: number,
                      tileSize: number, chunk: number): number {
  const L = problem.spatialShape[axis];
  const d = problem.dilation[axis];
  const tiles = Math.ceil(L / (tileSize * d));
  let cost = 0;
  for (let g = 0; g < d; g++) {
    const w = axisWindow(problem, problem.spatialShape, axis, g);
    for (let r = 0; r < tiles; r++) cost += stepsOf(ownerRange(direction, r, tileSize, chunk, w), chunk) * chunk;
  }
  return cost;
}

/** All ways to write `volume` (a power of two) as a product of `rank` powers of two. */
function powerOfTwoShapes(volume: number, rank: number): number[][] {
  if (rank === 1) return [[volume]];
  const shapes: number[][] = [];
  for (let first = 1; first <= volume; first *= 2) {
    for (const rest of powerOfTwoShapes(volume / first, rank - 1)) shapes.push([first, ...rest]);
  }
  return shapes;
}

/**
 * The owner tile and chunk shapes (of the given volumes) that minimise the visited work; a given
 * `tileShape` is kept and only the chunk shape chosen. The visited tokens of a walk are a product
 * over axes, so the total over all owner tiles is the product of per-axis sums (the tile count
 * carries the cost of padding), and each axis is costed once per (tile size, chunk size).
 */
export function chooseShapes(direction: WalkDirection, problem: GnaProblem, tileVolume: number,
                             chunkVolume: number, tileShape?: number[]):
    { tileShape: number[]; chunkShape: number[] } {
  const rank = problem.spatialShape.length;
  const memo = new Map<string, number>();
  const axisCost = (axis: number, t: number, c: number) => {
    const key = `${axis},${t},${c}`;
    if (!memo.has(key)) memo.set(key, axisWalkCost(direction, problem, axis, t, c));
    return memo.get(key) as number;
  };
  let best = { cost: Infinity, tileShape: [] as number[], chunkShape: [] as number[] };
  const tileShapes = tileShape !== undefined ? [tileShape] : powerOfTwoShapes(tileVolume, rank);
  for (const tiles of tileShapes) {
    for (const chunkShape of powerOfTwoShapes(chunkVolume, rank)) {
      let cost = 1;
      for (let a = 0; a < rank; a++) cost *= axisCost(a, tiles[a], chunkShape[a]);
      if (cost < best.cost) best = { cost, tileShape: tiles, chunkShape };
    }
  }
  return { tileShape: best.tileShape, chunkShape: best.chunkShape };
}

/** Builds the window/walk table of `problem` for the given owner tile and chunk shapes. */
export function buildWalkPlan(direction: WalkDirection, problem: GnaProblem, tileShape: number[],
                              chunkShape: number[]): WalkPlan {
  const layout = permuteLayout({
    tileShape, dilation: problem.dilation, spatialShape: problem.spatialShape,
  });
  const values: number[] = [];
  const axes: AxisTableOffsets[] = problem.spatialShape.map((_, a) => {
    const d = problem.dilation[a];
    const extent = layout.groupExtent[a];
    const tiles = layout.tilesPerDim[a];
    const T = tileShape[a];
    const C = chunkShape[a];
    const windows = Array.from({ length: d }, (_g, g) => axisWindow(problem, problem.spatialShape, a, g));
    const ranges = windows.map((w) => Array.from({ length: tiles }, (_r, r) => ownerRange(direction, r, T, C, w)));
    const maxSteps = Math.max(1, ...ranges.flat().map((range) => stepsOf(range, C)));
    const offsets: AxisTableOffsets = {
      windowStart: values.length, windowEnd: values.length + d * extent,
      length: values.length + 2 * d * extent,
      rangeStart: values.length + 2 * d * extent + d,
      rangeSteps: values.length + 2 * d * extent + d + d * tiles,
      stepClass: values.length + 2 * d * extent + d + 2 * d * tiles,
      maxSteps,
    };
    for (const w of windows) for (let i = 0; i < extent; i++) values.push(windowStart(i, w));
    for (const w of windows) for (let i = 0; i < extent; i++) values.push(windowEnd(i, w));
    for (const w of windows) values.push(w.n);
    for (const perTile of ranges) for (const range of perTile) values.push(range.start);
    for (const perTile of ranges) for (const range of perTile) values.push(stepsOf(range, C));
    windows.forEach((w, g) => ranges[g].forEach((range, r) => {
      const owner = { start: r * T, end: (r + 1) * T };
      for (let it = 0; it < maxSteps; it++) {
        const chunk = { start: range.start + it * C, end: range.start + (it + 1) * C };
        values.push(it < stepsOf(range, C) ? stepClass(direction, owner, chunk, w) : STEP_EMPTY);
      }
    }));
    return offsets;
  });
  return { direction, layout, chunkShape, table: Int32Array.from(values), axes };
}

/** A small cache: plans are pure functions of the problem and the tile volumes. */
const planCache = new Map<string, WalkPlan>();
const PLAN_CACHE_SIZE = 64;

/**
 * `buildWalkPlan` with shapes from `chooseShapes`, memoised per problem; `tileShape` fixes the
 * owner tiles (dQ walks the permute layout chosen for dK/dV).
 */
export function walkPlanFor(direction: WalkDirection, problem: GnaProblem, tileVolume: number,
                            chunkVolume: number, tileShape?: number[]): WalkPlan {
  const key = JSON.stringify([direction, problem.spatialShape, problem.windowSize, problem.stride,
    problem.dilation, problem.isCausal, tileVolume, chunkVolume, tileShape ?? null]);
  let plan = planCache.get(key);
  if (plan === undefined) {
    const shapes = chooseShapes(direction, problem, tileVolume, chunkVolume, tileShape);
    plan = buildWalkPlan(direction, problem, shapes.tileShape, shapes.chunkShape);
    if (planCache.size >= PLAN_CACHE_SIZE) planCache.delete(planCache.keys().next().value as string);
    planCache.set(key, plan);
  }
  return plan;
}

/**
 * The plan cache's tile-shape choice runs no device code, so it is tested without a GPU: the
 * choice is the tile chooser's, and it is computed once per geometry (the search costs several
 * milliseconds, more than a FLUX-1K layer's kernel, so it must not run on every call).
 */
import { chooseTileShapes, PlanCache } from '../../kernels/native/gna_plan';
import type { NativeAddon } from '../../kernels/native/addon';
import { normalizeGnaProblem } from '../../src/params';

const info = (shape: number[]) => ({ shape, dtype: 'float32' as const });

function problem(grid: number[], windowSize: number[], stride: number[]) {
  const shape = [1, ...grid, 4, 128];
  return normalizeGnaProblem(info(shape), info(shape), info(shape), { windowSize, stride });
}

describe('PlanCache.tileShapes', () => {
  const plans = new PlanCache({} as NativeAddon);

  test('returns the chooser\'s shapes, computed once per geometry', () => {
    const flux = problem([64, 64], [32, 32], [16, 16]);
    const first = plans.tileShapes(flux);
    expect(first).toEqual(chooseTileShapes(flux));
    expect(plans.tileShapes(problem([64, 64], [32, 32], [16, 16]))).toBe(first);
  });

  test('chooses per pass: the wgmma forward\'s costs and the mma.sync backward\'s', () => {
    // NA on 64x64 tokens: the forward takes 128-token tiles (the wgmma kernel's cheapest per
    // pair), the backward 64/64 tiles (the fewest visited pairs).
    const na = problem([64, 64], [32, 32], [1, 1]);
    expect(chooseTileShapes(na)).toEqual({ qTile: [8, 16], kvTile: [8, 16] });
    expect(chooseTileShapes(na, 'backward')).toEqual({ qTile: [8, 8], kvTile: [8, 8] });
    expect(plans.tileShapes(na, 'backward')).toEqual({ qTile: [8, 8], kvTile: [8, 8] });
    expect(plans.tileShapes(na)).toEqual({ qTile: [8, 16], kvTile: [8, 16] });
  });

  test('distinguishes geometries', () => {
    const a = plans.tileShapes(problem([8, 24, 40], [8, 12, 12], [8, 4, 4]));
    const b = plans.tileShapes(problem([8, 24, 40], [8, 12, 12], [1, 1, 1]));
    expect(a).toEqual(chooseTileShapes(problem([8, 24, 40], [8, 12, 12], [8, 4, 4])));
    expect(b).toEqual(chooseTileShapes(problem([8, 24, 40], [8, 12, 12], [1, 1, 1])));
  });
});

/** The tile pairs of a plan descriptor as `group:q:kv:mask` strings, from either table. */
function pairs(ranges: Int32Array, entries: Int32Array, rowsPerGroup: number, inverse: boolean) {
  const out: string[] = [];
  for (let row = 0; row + 1 < ranges.length; row++) {
    const group = Math.floor(row / rowsPerGroup);
    const own = row % rowsPerGroup;
    for (let i = ranges[row]; i < ranges[row + 1]; i++) {
      const other = entries[i] & 0x7fffffff;
      const mask = entries[i] < 0 ? 1 : 0;
      out.push(inverse ? `${group}:${other}:${own}:${mask}` : `${group}:${own}:${other}:${mask}`);
    }
  }
  return out;
}

describe('PlanCache tile tables for the backward', () => {
  // Causal, dilated, strided and partial-tile geometries in 1-3 D, fixed small tiles.
  const cases: Array<[string, number[], number[], number[], number[], boolean[], number[], number[]]> = [
    ['1d causal', [300], [63], [21], [1], [true], [64], [128]],
    ['2d dilated', [24, 40], [8, 12], [4, 4], [2, 1], [false, false], [8, 8], [8, 16]],
    ['3d causal dilated', [6, 10, 9], [3, 4, 3], [1, 2, 3], [2, 2, 1], [false, false, true],
      [2, 4, 8], [4, 4, 4]],
  ];
  test.each(cases)('%s: the inverse table lists exactly the forward\'s tile pairs, by Q tile',
    (_name, grid, windowSize, stride, dilation, isCausal, qTile, kvTile) => {
    let desc: import('../../kernels/native/addon').PlanDesc | undefined;
    const plans = new PlanCache({ createPlan: (d) => { desc = d; return 1; } } as NativeAddon);
    const shape = [1, ...grid, 2, 64];
    const p = normalizeGnaProblem(info(shape), info(shape), info(shape),
      { windowSize, stride, dilation, isCausal });
    plans.get(p, { qTile, kvTile });
    const t = desc!.tiled!;
    const groups = dilation.reduce((a, b) => a * b, 1);
    const qTiles = (t.tileRanges.length - 1) / groups;
    const kvTiles = (t.inverseRanges.length - 1) / groups;
    expect(kvTiles).toBe(grid.reduce((s, n, a) => s * Math.ceil(n / (kvTile[a] * dilation[a])), 1));
    const forward = pairs(t.tileRanges, t.entries, qTiles, false);
    const inverse = pairs(t.inverseRanges, t.inverseEntries, kvTiles, true);
    expect(forward.length).toBeGreaterThan(0);
    expect(forward.some((x) => x.endsWith(':1'))).toBe(true);
    expect([...inverse].sort()).toEqual([...forward].sort());
    // Within one KV tile, Q tiles ascend (deterministic summation order in the dK/dV kernel).
    for (let row = 0; row + 1 < t.inverseRanges.length; row++) {
      for (let i = t.inverseRanges[row] + 1; i < t.inverseRanges[row + 1]; i++) {
        expect(t.inverseEntries[i] & 0x7fffffff).toBeGreaterThan(t.inverseEntries[i - 1] & 0x7fffffff);
      }
    }
  });
});

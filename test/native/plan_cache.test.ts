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

  test('distinguishes geometries', () => {
    const a = plans.tileShapes(problem([8, 24, 40], [8, 12, 12], [8, 4, 4]));
    const b = plans.tileShapes(problem([8, 24, 40], [8, 12, 12], [1, 1, 1]));
    expect(a).toEqual(chooseTileShapes(problem([8, 24, 40], [8, 12, 12], [8, 4, 4])));
    expect(b).toEqual(chooseTileShapes(problem([8, 24, 40], [8, 12, 12], [1, 1, 1])));
  });
});

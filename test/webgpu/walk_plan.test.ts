/**
 * The host-side tiling of the WebGPU kernels (kernels/webgpu/gna_plan.ts) against the
 * independent reference window rule (test/helpers/reference.ts), per axis and dilation group:
 * every walk covers every (query, key) pair the owner tile needs, and each step's class is
 * exact (empty: no pair; dense: all pairs of real tokens). Runs without a GPU.
 */
import { GnaProblem } from '../../src/params';
import { STEP_DENSE, STEP_EMPTY, WalkDirection, buildWalkPlan, chooseShapes } from '../../kernels/webgpu/gna_plan';
import { refAxisKeys } from '../helpers/reference';

interface AxisCase { L: number; K: number; s: number; d: number; causal: boolean }

const AXES: AxisCase[] = [];
for (const L of [7, 10, 16, 23]) {
  for (const K of [2, 3, 4, 7]) {
    for (const s of [1, 2, 3, K]) {
      for (const d of [1, 2, 3]) {
        for (const causal of [false, true]) {
          if (K * d <= L && s <= K) AXES.push({ L, K, s, d, causal });
        }
      }
    }
  }
}

function problemOf(a: AxisCase): GnaProblem {
  return {
    windowSize: [a.K], stride: [a.s], dilation: [a.d], isCausal: [a.causal], scale: 1,
    batch: 1, spatialShape: [a.L], heads: 1, kvHeads: 1, headDim: 1, valueDim: 1,
  };
}

/** Does in-group query `qi` of group `g` see in-group key `kj` (reference rule)? */
function sees(a: AxisCase, g: number, qi: number, kj: number): boolean {
  const x = qi * a.d + g;
  return refAxisKeys(x, a.L, a.K, a.s, a.d, a.causal).includes(kj * a.d + g);
}

function checkPlan(direction: WalkDirection, a: AxisCase, tile: number, chunk: number): string[] {
  const plan = buildWalkPlan(direction, problemOf(a), [tile], [chunk]);
  const ax = plan.axes[0];
  const t = plan.table;
  const errors: string[] = [];
  for (let g = 0; g < a.d; g++) {
    const n = Math.ceil((a.L - g) / a.d);
    if (t[ax.length + g] !== n) errors.push(`group ${g}: length ${t[ax.length + g]} != ${n}`);
    for (let r = 0; r < plan.layout.tilesPerDim[0]; r++) {
      const start = t[ax.rangeStart + g * plan.layout.tilesPerDim[0] + r];
      const steps = t[ax.rangeSteps + g * plan.layout.tilesPerDim[0] + r];
      const owned = [];
      for (let i = r * tile; i < Math.min((r + 1) * tile, n); i++) owned.push(i);
      const covered = new Set<number>();
      for (let it = 0; it < steps; it++) {
        const cls = t[ax.stepClass + (g * plan.layout.tilesPerDim[0] + r) * ax.maxSteps + it];
        const others = [];
        for (let j = start + it * chunk; j < Math.min(start + (it + 1) * chunk, n); j++) others.push(j);
        let any = false;
        let all = others.length > 0;
        for (const o of owned) {
          for (const j of others) {
            const visible = direction === 'keys' ? sees(a, g, o, j) : sees(a, g, j, o);
            if (visible) { any = true; covered.add(o * 1000 + j); } else all = false;
          }
        }
        if (cls === STEP_EMPTY && any) errors.push(`g${g} r${r} step ${it}: empty but has pairs`);
        if (cls === STEP_DENSE && !all) errors.push(`g${g} r${r} step ${it}: dense but has holes`);
        if (cls !== STEP_DENSE && all && owned.length > 0) errors.push(`g${g} r${r} step ${it}: dense missed`);
      }
      for (const o of owned) {
        for (let j = 0; j < n; j++) {
          const visible = direction === 'keys' ? sees(a, g, o, j) : sees(a, g, j, o);
          if (visible && !covered.has(o * 1000 + j)) errors.push(`g${g} r${r}: pair (${o}, ${j}) not walked`);
        }
      }
      // Every position's window is tabled, padding included, and equals the reference.
      for (let i = 0; i < n; i++) {
        const keys = refAxisKeys(i * a.d + g, a.L, a.K, a.s, a.d, a.causal).map((x) => (x - g) / a.d);
        const ws = t[ax.windowStart + g * plan.layout.groupExtent[0] + i];
        const we = t[ax.windowEnd + g * plan.layout.groupExtent[0] + i];
        if (ws !== keys[0] || we !== keys[keys.length - 1] + 1) errors.push(`g${g} window of ${i}`);
      }
    }
  }
  return errors;
}

describe('WebGPU walk plans match the reference window rule', () => {
  test.each([['keys'], ['queries']] as const)('%s walks: coverage and exact step classes', (direction) => {
    const failures: string[] = [];
    for (const a of AXES) {
      for (const [tile, chunk] of [[1, 1], [2, 4], [4, 2], [8, 8], [16, 4]]) {
        const errors = checkPlan(direction, a, tile, chunk);
        if (errors.length > 0) failures.push(`${JSON.stringify(a)} tile ${tile} chunk ${chunk}: ${errors.slice(0, 3).join('; ')}`);
      }
    }
    expect(failures.slice(0, 10)).toEqual([]);
  });

  test('tile shapes follow the stride: FLUX stride 8x8 gets tiles inside one stride group', () => {
    const problem: GnaProblem = {
      windowSize: [32, 32], stride: [8, 8], dilation: [1, 1], isCausal: [false, false], scale: 1,
      batch: 1, spatialShape: [64, 64], heads: 1, kvHeads: 1, headDim: 1, valueDim: 1,
    };
    const { tileShape } = chooseShapes('keys', problem, 32, 32);
    expect(8 % tileShape[0]).toBe(0);
    expect(8 % tileShape[1]).toBe(0);
  });
});

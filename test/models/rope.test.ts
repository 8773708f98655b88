/** RoPE tables and rotation against values computed by hand from models.md §1 formulas. */
import * as tf from '@tensorflow/tfjs';
import { applyRope, cosmosRopeConfig, COSMOS_7B, cosmosRope, fluxRope, FLUX_DEV, gridPositions,
         hunyuanRope, ropeFrequencies, ropeTable, disposeRopeTable } from '../../models';
import { maxAbsDiff, randn } from './helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// x = [1..6], axes [2, 4], θ 100, position (3, 5): angles [3·1, 5·1, 5·100^(-1/2)] = [3, 5, 0.5].
//   interleaved pairs (x0,x1),(x2,x3),(x4,x5): out[2i] = x[2i]c − x[2i+1]s, out[2i+1] = x[2i+1]c + x[2i]s
//   half-split pairs (x0,x3),(x1,x4),(x2,x5):  out[i] = x[i]c − x[i+3]s,   out[i+3] = x[i+3]c + x[i]s
const X = [1, 2, 3, 4, 5, 6];
const INTERLEAVED = [-1.2722325127, -1.8388649851, 4.686683655, -1.7421240821, 1.5113595778, 7.6626230644];
const HALF_SPLIT = [-1.5544725288, 5.3619457442, -0.243805546, -3.8188499783, -0.499537622, 6.7037719872];

describe('rope', () => {
  it('frequencies are θ^(-2j/d)', () => {
    expect(Array.from(ropeFrequencies(4, 100))).toEqual([1, 0.1]);
    const f = ropeFrequencies(56, 10000);
    expect(f.length).toBe(28);
    expect(f[27]).toBeCloseTo(Math.pow(10000, -54 / 56), 15);
  });

  for (const [style, expected] of [['interleaved', INTERLEAVED], ['halfSplit', HALF_SPLIT]] as const) {
    it(`${style} rotation matches the hand-computed values`, () => {
      const table = ropeTable(new Float64Array([3, 5]), { axesDim: [2, 4], theta: 100, style });
      const x = tf.tensor4d(X, [1, 1, 1, 6]);
      const before = tf.memory().numTensors;
      const out = applyRope(x, table, style);
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(maxAbsDiff(out.dataSync(), expected)).toBeLessThan(1e-6);
      tf.dispose([x, out]);
      disposeRopeTable(table);
    });
  }

  it('keeps every pair norm (a rotation) and is the identity at position 0', () => {
    const table = ropeTable(new Float64Array([0, 0, 0, 2, 7, 1]), { axesDim: [4, 6, 6], theta: [10, 20, 30], style: 'interleaved' });
    const x = randn([1, 2, 3, 16], 1);
    const out = applyRope(x, table, 'interleaved');
    const xs = x.arraySync() as number[][][][];
    const os = out.arraySync() as number[][][][];
    expect(maxAbsDiff(os[0][0].flat(), xs[0][0].flat())).toBeLessThan(1e-6);
    for (let h = 0; h < 3; h++) {
      for (let i = 0; i < 8; i++) {
        const n0 = Math.hypot(xs[0][1][h][2 * i], xs[0][1][h][2 * i + 1]);
        const n1 = Math.hypot(os[0][1][h][2 * i], os[0][1][h][2 * i + 1]);
        expect(n1).toBeCloseTo(n0, 5);
      }
    }
    tf.dispose([x, out]);
    disposeRopeTable(table);
  });

  it('FLUX: text first at (0,0,0), image ids (0,row,col), θ 10000, [16,56,56]', () => {
    expect(Array.from(gridPositions([2, 3], 3))).toEqual(
      [0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 1, 0, 0, 1, 1, 0, 1, 2]);
    const table = fluxRope([2, 3], 2, FLUX_DEV);
    expect(table.cos.shape).toEqual([8, 1, 128]);
    const cos = table.cos.arraySync() as number[][][];
    const sin = table.sin.arraySync() as number[][][];
    // Text tokens: identity. Image token 5 = (row 1, col 2): the col axis starts at feature 72.
    expect(cos[0][0].every((c) => c === 1)).toBe(true);
    expect(cos[7][0][16]).toBeCloseTo(Math.cos(1), 6);
    expect(cos[7][0][17]).toBeCloseTo(Math.cos(1), 6);
    expect(sin[7][0][72]).toBeCloseTo(Math.sin(2), 6);
    expect(sin[7][0][74]).toBeCloseTo(Math.sin(2 * Math.pow(10000, -2 / 56)), 6);
    expect(cos[7][0][0]).toBe(1);
    disposeRopeTable(table);
  });

  it('HunyuanVideo: (t,h,w) with θ 256', () => {
    const table = hunyuanRope([2, 2, 2]);
    const sin = table.sin.arraySync() as number[][][];
    // Token 7 = (1,1,1); axis h starts at 16, pair j=1 of it has ω = 256^(-2/56).
    expect(sin[7][0][0]).toBeCloseTo(Math.sin(1), 6);
    expect(sin[7][0][18]).toBeCloseTo(Math.sin(Math.pow(256, -2 / 56)), 6);
    disposeRopeTable(table);
  });

  it('Cosmos: half-split, NTK θ_t ≈ 20671.16, t scaled by 24/fps', () => {
    const cfg = cosmosRopeConfig(COSMOS_7B);
    expect((cfg.theta as number[])[0]).toBeCloseTo(20671.15566, 4);
    expect((cfg.theta as number[]).slice(1)).toEqual([10000, 10000]);
    const table = cosmosRope([2, 1, 1], 30);
    const sin = table.sin.arraySync() as number[][][];
    // Token 1 = (t 1 → 0.8, 0, 0): first half entry j and its copy j + 64 share the angle.
    expect(sin[1][0][1]).toBeCloseTo(Math.sin(0.8 * Math.pow(20671.15566, -2 / 44)), 6);
    expect(sin[1][0][65]).toBeCloseTo(sin[1][0][1], 7);
    expect(sin[1][0][22]).toBe(0);
    disposeRopeTable(table);
  });

  it('rejects bad configs and mismatched inputs', () => {
    expect(() => ropeTable(new Float64Array(2), { axesDim: [3], theta: 1, style: 'interleaved' }))
      .toThrow(/axesDim\[0\]=3 must be a positive even integer/);
    expect(() => ropeTable(new Float64Array(3), { axesDim: [2, 2], theta: 1, style: 'interleaved' }))
      .toThrow(/3 position entries is not a multiple of 2 axes/);
    const table = ropeTable(new Float64Array(2), { axesDim: [4], theta: 5, style: 'halfSplit' });
    const x = tf.zeros([1, 3, 1, 4]);
    expect(() => applyRope(x, table, 'halfSplit')).toThrow(/must be \[batch, 2, heads, 4\]/);
    x.dispose();
    disposeRopeTable(table);
  });
});

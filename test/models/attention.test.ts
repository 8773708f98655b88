/**
 * The joint attention sites against the float64 brute force: visual queries see their GNA
 * neighbourhood (refMask) plus the valid text, text queries see everything valid.
 */
import * as tf from '@tensorflow/tfjs';
import '../../src';
import { DenseJointAttention, GnaJointAttention, JointLayout } from '../../models';
import { jointReference, maxAbsDiff, randn } from './helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

interface Case {
  title: string;
  layout: JointLayout;
  window: { windowSize: number[]; stride: number[]; dilation?: number[] };
  batch: number;
}

const CASES: Case[] = [
  { title: 'FLUX-like, text first, 2-D', batch: 1,
    layout: { grid: [6, 7], textTokens: 5, order: 'textFirst' },
    window: { windowSize: [3, 4], stride: [2, 3] } },
  { title: 'Hunyuan-like, video first, 3-D, text masked per batch element', batch: 2,
    layout: { grid: [3, 4, 5], textTokens: 6, order: 'visualFirst', validText: [4, 1] },
    window: { windowSize: [2, 3, 3], stride: [2, 1, 3] } },
  { title: 'same valid count across the batch', batch: 2,
    layout: { grid: [3, 4, 5], textTokens: 6, order: 'visualFirst', validText: [3, 3] },
    window: { windowSize: [2, 3, 4], stride: [1, 3, 2] } },
  { title: 'no valid text at all', batch: 1,
    layout: { grid: [4, 5], textTokens: 3, order: 'visualFirst', validText: [0] },
    window: { windowSize: [3, 3], stride: [1, 1] } },
  { title: 'Cosmos-like, visual only, dilated', batch: 1,
    layout: { grid: [2, 6, 6], textTokens: 0, order: 'visualFirst' },
    window: { windowSize: [2, 3, 2], stride: [1, 2, 1], dilation: [1, 2, 3] } },
];

describe('GnaJointAttention', () => {
  for (const c of CASES) {
    it(`${c.title} equals the brute-force masked reference`, () => {
      const tokens = c.layout.grid.reduce((a, b) => a * b, 1) + c.layout.textTokens;
      const shape = [c.batch, tokens, 2, 8];
      const [q, k, v] = [1, 2, 3].map((s) => randn(shape, s));
      const scale = 0.4;
      const before = tf.memory().numTensors;
      const out = new GnaJointAttention(c.window).attend(q, k, v, c.layout, scale);
      expect(tf.memory().numTensors).toBe(before + 1);
      const ref = jointReference(q.dataSync() as Float32Array, k.dataSync() as Float32Array,
        v.dataSync() as Float32Array, shape, { ...c.layout, window: c.window }, scale);
      expect(out.shape).toEqual(shape);
      expect(maxAbsDiff(out.dataSync(), ref)).toBeLessThan(1e-5);
      tf.dispose([q, k, v, out]);
    });
  }

  it('a window covering the whole grid equals dense attention', () => {
    const layout: JointLayout = { grid: [4, 5], textTokens: 3, order: 'textFirst' };
    const shape = [1, 23, 2, 8];
    const [q, k, v] = [4, 5, 6].map((s) => randn(shape, s));
    const gnaOut = new GnaJointAttention({ windowSize: [4, 5] }).attend(q, k, v, layout, 0.3);
    const denseOut = new DenseJointAttention().attend(q, k, v, layout, 0.3);
    expect(maxAbsDiff(gnaOut.dataSync(), denseOut.dataSync())).toBeLessThan(1e-5);
    tf.dispose([q, k, v, gnaOut, denseOut]);
  });
});

describe('DenseJointAttention', () => {
  it('drops padded text keys per batch element', () => {
    const layout: JointLayout = { grid: [2, 3], textTokens: 4, order: 'visualFirst', validText: [2, 4] };
    const shape = [2, 10, 2, 4];
    const [q, k, v] = [7, 8, 9].map((s) => randn(shape, s));
    const out = new DenseJointAttention().attend(q, k, v, layout, 0.5);
    const ref = jointReference(q.dataSync() as Float32Array, k.dataSync() as Float32Array,
      v.dataSync() as Float32Array, shape, layout, 0.5);
    expect(maxAbsDiff(out.dataSync(), ref)).toBeLessThan(1e-5);
    tf.dispose([q, k, v, out]);
  });

  it('runs over head groups under a score-memory bound with the same result', () => {
    const layout: JointLayout = { grid: [2, 3], textTokens: 4, order: 'textFirst', validText: [3, 4] };
    const shape = [2, 10, 5, 4];
    const [q, k, v] = [10, 11, 12].map((s) => randn(shape, s));
    const ref = jointReference(q.dataSync() as Float32Array, k.dataSync() as Float32Array,
      v.dataSync() as Float32Array, shape, layout, 0.5);
    // One head's scores are 10 x 10 floats (400 bytes): groups of 2, 2 and 1 heads.
    const before = tf.memory().numTensors;
    const out = new DenseJointAttention({ maxScoreBytes: 800 }).attend(q, k, v, layout, 0.5);
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(maxAbsDiff(out.dataSync(), ref)).toBeLessThan(1e-5);
    const window = { windowSize: [2, 2], stride: [1, 1] };
    const gnaOut = new GnaJointAttention(window, { maxScoreBytes: 100 }).attend(q, k, v, layout, 0.5);
    const gnaRef = jointReference(q.dataSync() as Float32Array, k.dataSync() as Float32Array,
      v.dataSync() as Float32Array, shape, { ...layout, window }, 0.5);
    expect(maxAbsDiff(gnaOut.dataSync(), gnaRef)).toBeLessThan(1e-5);
    expect(() => new DenseJointAttention({ maxScoreBytes: 0 })).toThrow(/maxScoreBytes=0 must be a positive number/);
    tf.dispose([q, k, v, out, gnaOut]);
  });

  it('rejects a layout that does not match the tokens', () => {
    const q = tf.zeros([1, 10, 2, 4]);
    const layout: JointLayout = { grid: [3, 3], textTokens: 2, order: 'textFirst' };
    expect(() => new DenseJointAttention().attend(q, q, q, layout, 1)).toThrow(
      /query shape \[1,10,2,4\] must be \[batch, 11, heads, dim\]/);
    expect(() => new GnaJointAttention({ windowSize: 2 }).attend(q, q, q,
      { grid: [2, 4], textTokens: 2, order: 'textFirst', validText: [3] }, 1)).toThrow(
      /validText \[3\] must hold 1 integers in \[0, 2\]/);
    q.dispose();
  });
});

/**
 * Whole attention blocks of the three models at reduced widths: GNA with a window covering the
 * grid equals the dense block, and the paper's presets (rescaled to small grids) equal the same
 * block run with a float64 brute-force masked attention.
 */
import * as tf from '@tensorflow/tfjs';
import {
  CosmosCrossAttention, cosmosCrossSpecs, CosmosDims, cosmosRope, CosmosSelfAttention,
  cosmosSelfSpecs, disposeRopeTable, DoubleStreamAttention, FluxDims, fluxDoubleSpecs,
  fluxDoubleStream, fluxRope, fluxSingleSpecs, fluxSingleStream, GNA_PRESETS, hunyuanDoubleSpecs,
  hunyuanDoubleStream, hunyuanRope, hunyuanSingleSpecs, hunyuanSingleStream, JointAttention,
  JointLayout, presetOptions, randomParams, SingleStreamBlock, swapToDense, swapToGna,
  SwappableAttention,
} from '../../models';
import { denseReference, jointReference, JointRefLayout, maxAbsDiff, randn } from './helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const SMALL: FluxDims = { hidden: 32, heads: 2, headDim: 16, mlpHidden: 64, axesDim: [4, 6, 6] };
/** Weights large enough that attention moves the outputs by O(1), so 1e-4 is a real test. */
const STD = 0.25;
const SMALL_COSMOS: CosmosDims = { hidden: 32, heads: 2, headDim: 16, contextDim: 12,
  adaLnLoraDim: 8, axesDim: [6, 6, 4], ropeRatio: [2, 1, 1] };

/** Attention through the float64 brute force of test/models/helpers.ts. */
class ReferenceAttention implements JointAttention {
  readonly kind = 'reference';

  constructor(private readonly window?: JointRefLayout['window'], private readonly scale?: number) {}

  attend(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, layout: JointLayout, scale: number): tf.Tensor {
    const ref = jointReference(q.dataSync() as Float32Array, k.dataSync() as Float32Array,
      v.dataSync() as Float32Array, q.shape, { ...layout, window: this.window }, this.scale ?? scale);
    return tf.tensor(Float32Array.from(ref), q.shape);
  }
}

/** One model's block under test: how to build it and run it on fixed inputs. */
interface Harness {
  name: string;
  grid: number[];
  block: SwappableAttention & { dispose(): void };
  run(): tf.Tensor[];
  dispose(): void;
}

function fluxDouble(grid: number[], text: number): Harness {
  const block = fluxDoubleStream(randomParams(fluxDoubleSpecs(0, SMALL), 11, STD), SMALL);
  const n = grid.reduce((a, b) => a * b, 1);
  const img = randn([1, n, 32], 1);
  const txt = randn([1, text, 32], 2);
  const vec = randn([1, 32], 3);
  const rope = fluxRope(grid, text, SMALL);
  return {
    name: 'FLUX double-stream', grid, block,
    run: () => {
      const r = (block as DoubleStreamAttention).apply(img, txt, { vec, rope, grid });
      return [r.img, r.txt];
    },
    dispose: () => { tf.dispose([img, txt, vec]); disposeRopeTable(rope); block.dispose(); },
  };
}

function fluxSingle(grid: number[], text: number): Harness {
  const block = fluxSingleStream(randomParams(fluxSingleSpecs(0, SMALL), 12, STD), SMALL);
  const n = grid.reduce((a, b) => a * b, 1);
  const x = randn([1, text + n, 32], 4);
  const vec = randn([1, 32], 5);
  const rope = fluxRope(grid, text, SMALL);
  return {
    name: 'FLUX single-stream', grid, block,
    run: () => [(block as SingleStreamBlock).apply(x, text, { vec, rope, grid })],
    dispose: () => { tf.dispose([x, vec]); disposeRopeTable(rope); block.dispose(); },
  };
}

function hunyuanDouble(grid: number[], text: number, validText: number[]): Harness {
  const block = hunyuanDoubleStream(randomParams(hunyuanDoubleSpecs(0, SMALL), 13, STD), SMALL);
  const n = grid.reduce((a, b) => a * b, 1);
  const b = validText.length;
  const img = randn([b, n, 32], 6);
  const txt = randn([b, text, 32], 7);
  const vec = randn([b, 32], 8);
  const rope = hunyuanRope(grid, SMALL);
  return {
    name: 'HunyuanVideo dual-stream', grid, block,
    run: () => {
      const r = (block as DoubleStreamAttention).apply(img, txt, { vec, rope, grid, validText });
      return [r.img, r.txt];
    },
    dispose: () => { tf.dispose([img, txt, vec]); disposeRopeTable(rope); block.dispose(); },
  };
}

function hunyuanSingle(grid: number[], text: number, validText: number[]): Harness {
  const block = hunyuanSingleStream(randomParams(hunyuanSingleSpecs(0, SMALL), 14, STD), SMALL);
  const n = grid.reduce((a, b) => a * b, 1);
  const x = randn([validText.length, n + text, 32], 9);
  const vec = randn([validText.length, 32], 10);
  const rope = hunyuanRope(grid, SMALL);
  return {
    name: 'HunyuanVideo single-stream', grid, block,
    run: () => [(block as SingleStreamBlock).apply(x, text, { vec, rope, grid, validText })],
    dispose: () => { tf.dispose([x, vec]); disposeRopeTable(rope); block.dispose(); },
  };
}

function cosmosSelf(grid: number[]): Harness {
  const block = new CosmosSelfAttention(SMALL_COSMOS, randomParams(cosmosSelfSpecs(0, SMALL_COSMOS), 15, STD));
  const n = grid.reduce((a, b) => a * b, 1);
  const x = randn([1, n, 32], 11);
  const emb = randn([1, 32], 12);
  const adaLnLora = randn([1, 96], 13, 0.1);
  const rope = cosmosRope(grid, 24, SMALL_COSMOS);
  return {
    name: 'Cosmos self-attention', grid, block,
    run: () => [(block as CosmosSelfAttention).apply(x, { emb, adaLnLora, rope, grid })],
    dispose: () => { tf.dispose([x, emb, adaLnLora]); disposeRopeTable(rope); block.dispose(); },
  };
}

function compare(h: Harness, gnaSite: () => void, referenceSite: () => void, tol: number) {
  referenceSite();
  const expected = h.run();
  gnaSite();
  const before = tf.memory().numTensors;
  const actual = h.run();
  expect(tf.memory().numTensors).toBe(before + actual.length);
  actual.forEach((a, i) => {
    expect(a.shape).toEqual(expected[i].shape);
    expect(maxAbsDiff(a.dataSync(), expected[i].dataSync())).toBeLessThan(tol);
  });
  tf.dispose([...expected, ...actual]);
}

describe('a GNA window covering the whole grid equals the dense block (1e-4)', () => {
  const harnesses = [
    () => fluxDouble([4, 5], 3),
    () => fluxSingle([4, 5], 3),
    () => hunyuanDouble([2, 3, 4], 5, [5, 2]),
    () => hunyuanSingle([2, 3, 4], 5, [1, 4]),
    () => cosmosSelf([2, 4, 3]),
  ];
  for (const make of harnesses) {
    const h = make();
    it(h.name, () => {
      compare(h, () => swapToGna(h.block, { windowSize: h.grid }), () => swapToDense(h.block), 1e-4);
      h.dispose();
    });
  }
});

describe('paper presets on reduced grids equal the brute-force masked block', () => {
  const cases: Array<[string, () => Harness, keyof typeof GNA_PRESETS]> = [
    ['flux4k on 32×32 (window 10×10, stride 2×2)', () => fluxDouble([32, 32], 4), 'flux4k'],
    ['flux4k single-stream on 32×32', () => fluxSingle([32, 32], 4), 'flux4k'],
    ['hunyuanVideo on 6×8×8, masked text', () => hunyuanDouble([6, 8, 8], 4, [4, 2]), 'hunyuanVideo'],
    ['hunyuanVideo single-stream on 6×8×8', () => hunyuanSingle([6, 8, 8], 4, [3, 3]), 'hunyuanVideo'],
    ['cosmos7b on 4×8×8', () => cosmosSelf([4, 8, 8]), 'cosmos7b'],
  ];
  for (const [title, make, preset] of cases) {
    it(title, () => {
      const h = make();
      const options = presetOptions(preset, h.grid);
      const window = { windowSize: options.windowSize as number[], stride: options.stride as number[] };
      compare(h, () => { swapToGna(h.block, { ...options, denseSteps: 0 }); },
        () => { h.block.selfAttention = new ReferenceAttention(window, options.scale); }, 1e-4);
      h.dispose();
    });
  }

  it('rescaled windows follow the base-size rule', () => {
    expect(presetOptions('flux4k', [32, 32])).toMatchObject({ windowSize: [10, 10], stride: [2, 2] });
    expect(presetOptions('hunyuanVideo', [6, 8, 8])).toMatchObject(
      { windowSize: [4, 4, 2], stride: [3, 1, 1] });
    expect(presetOptions('cosmos7b', [4, 8, 8])).toMatchObject(
      { windowSize: [4, 6, 5], stride: [1, 1, 2] });
  });
});

describe('Cosmos cross-attention', () => {
  it('stays dense: not a swappable site, and equal to a float64 dense reference', () => {
    const cross = new CosmosCrossAttention(SMALL_COSMOS, randomParams(cosmosCrossSpecs(0, SMALL_COSMOS), 16, STD));
    expect(() => swapToGna(cross as unknown as SwappableAttention, { windowSize: 2 })).toThrow(
      /block 0 has no self-attention site to swap/);
    const x = randn([1, 6, 32], 20);
    const ctx = randn([1, 5, 12], 21);
    const emb = randn([1, 32], 22);
    const before = tf.memory().numTensors;
    const out = cross.apply(x, ctx, { emb });
    expect(tf.memory().numTensors).toBe(before + 1);
    const p = cross.params;
    const expected = tf.tidy(() => {
      const lin = (t: tf.Tensor, w: tf.Tensor) => tf.matMul(t, w, false, true);
      const silu = tf.mul(emb, tf.sigmoid(emb));
      const [shift, scale, gate] = tf.split(lin(lin(silu, p['adaLn1.weight']), p['adaLn2.weight']), 3, -1);
      const { mean, variance } = tf.moments(tf.reshape(x, [6, 32]), -1, true);
      const xm = tf.add(tf.mul(tf.div(tf.sub(tf.reshape(x, [6, 32]), mean),
        tf.sqrt(tf.add(variance, 1e-6))), tf.add(scale, 1)), shift);
      const rms = (t: tf.Tensor, w: tf.Tensor) => tf.mul(tf.div(t, tf.sqrt(tf.add(
        tf.mean(tf.square(t), -1, true), 1e-6))), w);
      const heads = (t: tf.Tensor) => tf.reshape(t, [1, t.shape[0], 2, 16]);
      const c2 = tf.reshape(ctx, [5, 12]);
      const q = rms(heads(lin(xm, p['Q.weight'])), p.NormQ);
      const k = rms(heads(lin(c2, p['K.weight'])), p.NormK);
      const v = heads(lin(c2, p['V.weight']));
      const o = denseReference(q.dataSync() as Float32Array, k.dataSync() as Float32Array,
        v.dataSync() as Float32Array, [1, 6, 2, 16], 5, 0.25);
      const proj = lin(tf.tensor2d(Float32Array.from(o), [6, 32]), p['out.weight']);
      return tf.reshape(tf.add(tf.reshape(x, [6, 32]), tf.mul(gate, proj)), [1, 6, 32]);
    });
    expect(maxAbsDiff(out.dataSync(), expected.dataSync())).toBeLessThan(1e-5);
    tf.dispose([x, ctx, emb, out, expected]);
    cross.dispose();
  });
});

describe('blocks inside tfjs training code', () => {
  it('GNA blocks are differentiable: with a whole-grid window, input gradients equal the dense block\'s', () => {
    const grid = [2, 3, 4];
    const block = hunyuanDoubleStream(randomParams(hunyuanDoubleSpecs(0, SMALL), 13, STD), SMALL);
    const [img, txt, vec] = [randn([2, 24, 32], 21), randn([2, 5, 32], 22), randn([2, 32], 23)];
    const rope = hunyuanRope(grid, SMALL);
    // A loss over both streams, differentiated with respect to both inputs.
    const loss = (i: tf.Tensor, t: tf.Tensor) => {
      const r = block.apply(i, t, { vec, rope, grid, validText: [5, 2] });
      return tf.add(tf.sum(tf.square(r.img)), tf.sum(tf.mul(r.txt, 0.5)));
    };
    const grads = tf.grads(loss);
    swapToDense(block);
    const expected = grads([img, txt]);
    swapToGna(block, { windowSize: grid });
    const actual = grads([img, txt]);
    actual.forEach((a, i) => {
      expect(a.shape).toEqual(expected[i].shape);
      expect(maxAbsDiff(a.dataSync(), expected[i].dataSync())).toBeLessThan(1e-4);
      // The gradients are not vanishingly small, so the comparison means something.
      expect(tf.tidy(() => tf.max(tf.abs(expected[i])).dataSync()[0])).toBeGreaterThan(0.1);
    });
    tf.dispose([...expected, ...actual, img, txt, vec]);
    disposeRopeTable(rope);
    block.dispose();
  });
});

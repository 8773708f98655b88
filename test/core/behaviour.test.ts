/**
 * Behaviour of the public ops beyond the parity matrix: option handling (returnLse, scale,
 * scalar broadcast, defaults), the special cases of spec §1.6 (full window = dense attention,
 * also with additional KV), mergeAttentions over split KV (spec §7 test_attn_merge), GQA as
 * repeat-interleave, and determinism.
 */
import * as tf from '@tensorflow/tfjs';
import { denseAttention, gna, mergeAttentions } from '../../src';
import { gnaReference } from '../helpers/reference';
import { maxAbsDiff, mulberry32, randomNormal } from '../helpers/random';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

function randomTensor(seed: number, shape: number[]): tf.Tensor {
  return tf.tensor(randomNormal(mulberry32(seed), product(shape)), shape);
}

async function maxDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  expect(a.shape).toEqual(b.shape);
  return maxAbsDiff(await a.data(), await b.data());
}

describe('options', () => {
  test.each([
    [[7], 3],
    [[5, 6], [3, 2]],
    [[4, 5, 3], [2, 3, 3]],
  ])('returnLse shapes for spatial %j', (spatial, windowSize) => {
    const q = tf.zeros([2, ...spatial, 4, 5]);
    const k = tf.zeros([2, ...spatial, 2, 5]);
    const v = tf.zeros([2, ...spatial, 2, 3]);
    const { output, lse } = gna(q, k, v, { windowSize, returnLse: true });
    expect(output.shape).toEqual([2, ...spatial, 4, 3]);
    expect(lse.shape).toEqual([2, ...spatial, 4]);
    expect(output.dtype).toBe('float32');
    expect(lse.dtype).toBe('float32');
    const plain = gna(q, k, v, { windowSize });
    expect(plain).toBeInstanceOf(tf.Tensor);
    expect(plain.shape).toEqual([2, ...spatial, 4, 3]);
    const explicitFalse = gna(q, k, v, { windowSize, returnLse: false });
    expect(explicitFalse).toBeInstanceOf(tf.Tensor);
    tf.dispose([q, k, v, output, lse, plain, explicitFalse]);
  });

  test('LSE with zero queries is log(number of visible keys)', async () => {
    const q = tf.zeros([1, 10, 1, 3]);
    const k = randomTensor(1, [1, 10, 1, 3]);
    const { output, lse } = gna(q, k, k, { windowSize: 4, isCausal: true, returnLse: true });
    // Causal K=4, s=1: query i sees min(i+1, 4) keys (spec §1.9).
    const want = Array.from({ length: 10 }, (_, i) => Math.log(Math.min(i + 1, 4)));
    expect(maxAbsDiff(await lse.data(), want)).toBeLessThan(1e-6);
    tf.dispose([q, k, output, lse]);
  });

  test('scale: an explicit scale equals the default one applied to rescaled queries', async () => {
    const q = randomTensor(2, [1, 6, 7, 2, 9]);
    const k = randomTensor(3, [1, 6, 7, 2, 9]);
    const v = randomTensor(4, [1, 6, 7, 2, 5]);
    const options = { windowSize: [3, 5], stride: [1, 2] };
    const a = gna(q, k, v, { ...options, scale: 0.7, returnLse: true });
    const qScaled = tf.mul(q, 0.7 * Math.sqrt(9));
    const b = gna(qScaled, k, v, { ...options, returnLse: true });
    expect(await maxDiff(a.output, b.output)).toBeLessThan(1e-5);
    expect(await maxDiff(a.lse, b.lse)).toBeLessThan(1e-5);
    // And the default is headDim^-0.5, explicitly.
    const c = gna(q, k, v, { ...options, scale: 1 / 3, returnLse: true });
    const d = gna(q, k, v, { ...options, returnLse: true });
    expect(await maxDiff(c.lse, d.lse)).toBe(0);
    // A negative scale is allowed (finite and non-zero).
    const neg = gna(q, k, v, { ...options, scale: -0.5 });
    expect(neg.shape).toEqual([1, 6, 7, 2, 5]);
    tf.dispose([q, k, v, qScaled, a.output, a.lse, b.output, b.lse, c.output, c.lse, d.output,
      d.lse, neg]);
  });

  test('a scalar option broadcasts to every spatial dim; omitted options are the defaults', async () => {
    const q = randomTensor(5, [1, 6, 5, 4, 2, 3]);
    const k = randomTensor(6, [1, 6, 5, 4, 2, 3]);
    const v = randomTensor(7, [1, 6, 5, 4, 2, 3]);
    const scalar = gna(q, k, v, { windowSize: 2, stride: 2, dilation: 2, isCausal: true });
    const arrays = gna(q, k, v, {
      windowSize: [2, 2, 2], stride: [2, 2, 2], dilation: [2, 2, 2], isCausal: [true, true, true],
    });
    expect(await maxDiff(scalar, arrays)).toBe(0);
    const defaults = gna(q, k, v, { windowSize: [3, 3, 3] });
    const explicit = gna(q, k, v, {
      windowSize: [3, 3, 3], stride: 1, dilation: 1, isCausal: false, scale: 1 / Math.sqrt(3),
    });
    expect(await maxDiff(defaults, explicit)).toBe(0);
    tf.dispose([q, k, v, scalar, arrays, defaults, explicit]);
  });

  test('does not modify or dispose its inputs', async () => {
    const q = randomTensor(8, [1, 8, 1, 4]);
    const before = Array.from(await q.data());
    const out = gna(q, q, q, { windowSize: 3 });
    expect(q.isDisposed).toBe(false);
    expect(Array.from(await q.data())).toEqual(before);
    tf.dispose([q, out]);
  });
});

describe('special cases (spec §1.6)', () => {
  test.each([
    ['1-D', [12], 1],
    ['1-D, stride 5', [12], 5],
    ['2-D, stride (2,3)', [4, 6], [2, 3]],
    ['3-D', [3, 4, 2], 1],
  ])('full window (K = L), %s: dense attention', async (_name, spatial, stride) => {
    const tokens = product(spatial as number[]);
    const q = randomTensor(9, [2, ...(spatial as number[]), 4, 6]);
    const k = randomTensor(10, [2, ...(spatial as number[]), 2, 6]);
    const v = randomTensor(11, [2, ...(spatial as number[]), 2, 5]);
    const full = gna(q, k, v, { windowSize: spatial as number[], stride, returnLse: true });
    const flat = (t: tf.Tensor) => tf.reshape(t, [2, tokens, ...t.shape.slice(-2)]);
    const dense = denseAttention(flat(q), flat(k), flat(v), 1 / Math.sqrt(6));
    expect(await maxDiff(flat(full.output), dense.output)).toBeLessThan(1e-5);
    expect(await maxDiff(tf.reshape(full.lse, [2, tokens, 4]), dense.lse)).toBeLessThan(1e-5);
    tf.dispose([q, k, v, full.output, full.lse, dense.output, dense.lse]);
  });

  test('full window with additional KV: dense attention over the concatenated KV', async () => {
    const q = randomTensor(12, [2, 3, 4, 4, 6]);
    const k = randomTensor(13, [2, 3, 4, 2, 6]);
    const v = randomTensor(14, [2, 3, 4, 2, 5]);
    const ak = randomTensor(15, [2, 7, 2, 6]);
    const av = randomTensor(16, [2, 7, 2, 5]);
    const r = gna(q, k, v, {
      windowSize: [3, 4], additionalKeys: ak, additionalValues: av, returnLse: true,
    });
    const dense = tf.tidy(() => denseAttention(tf.reshape(q, [2, 12, 4, 6]),
      tf.concat([tf.reshape(k, [2, 12, 2, 6]), ak], 1), tf.concat([tf.reshape(v, [2, 12, 2, 5]), av], 1),
      1 / Math.sqrt(6)));
    expect(await maxDiff(tf.reshape(r.output, [2, 12, 4, 5]), dense.output)).toBeLessThan(1e-5);
    expect(await maxDiff(tf.reshape(r.lse, [2, 12, 4]), dense.lse)).toBeLessThan(1e-5);
    tf.dispose([q, k, v, ak, av, r.output, r.lse, dense.output, dense.lse]);
  });

  test('additional KV are attended unmasked by causal queries too', async () => {
    // q = 0: uniform weights over (visible grid keys) ∪ (all additional keys).
    const q = tf.zeros([1, 6, 1, 2]);
    const k = randomTensor(17, [1, 6, 1, 2]);
    const v = tf.reshape(tf.oneHot(tf.range(0, 6, 1, 'int32'), 9, 1, 0, 'float32'), [1, 6, 1, 9]);
    const ak = randomTensor(18, [1, 3, 1, 2]);
    const av = tf.reshape(tf.oneHot(tf.range(6, 9, 1, 'int32'), 9, 1, 0, 'float32'), [1, 3, 1, 9]);
    const out = gna(q, k, v, { windowSize: 3, isCausal: true, additionalKeys: ak, additionalValues: av });
    const rows = await out.array() as number[][][][];
    rows[0].forEach((row, i) => {
      const visible = [...Array.from({ length: Math.min(i + 1, 3) }, (_, j) => i - j), 6, 7, 8];
      const want = Array.from({ length: 9 }, (_, j) => (visible.includes(j) ? 1 / visible.length : 0));
      expect(maxAbsDiff(row[0], want)).toBeLessThan(1e-6);
    });
    tf.dispose([q, k, v, ak, av, out]);
  });

  test('GQA equals the repeat-interleaved KV heads', async () => {
    const q = randomTensor(19, [1, 9, 6, 4]);
    const k = randomTensor(20, [1, 9, 3, 4]);
    const v = randomTensor(21, [1, 9, 3, 4]);
    const heads = tf.tensor1d([0, 0, 1, 1, 2, 2], 'int32');
    const a = gna(q, k, v, { windowSize: 4, stride: 2 });
    const kr = tf.gather(k, heads, 2);
    const vr = tf.gather(v, heads, 2);
    const b = gna(q, kr, vr, { windowSize: 4, stride: 2 });
    expect(await maxDiff(a, b)).toBe(0);
    tf.dispose([q, k, v, heads, a, kr, vr, b]);
  });

  test('a long causal axis (one window run per query, 140k runs) works', async () => {
    const L = 140000;
    const x = tf.tensor(Float32Array.from({ length: L }, (_, i) => i % 7), [1, L, 1, 1]);
    const q = tf.zerosLike(x);
    const out = gna(q, x, x, { windowSize: 2, isCausal: true });
    const y = await out.data();
    // q = 0: the mean of values i-1 and i (just i for the first query).
    expect([y[0], y[1], y[L - 1]]).toEqual([0, 0.5, ((L - 2) % 7 + (L - 1) % 7) / 2]);
    tf.dispose([x, q, out]);
  });

  test('deterministic: the same call twice is bitwise identical, forward and backward', async () => {
    const q = randomTensor(22, [2, 7, 6, 2, 5]);
    const options = { windowSize: [3, 4], stride: [2, 3], dilation: [2, 1], isCausal: [true, false] };
    const run = () => tf.tidy(() => [gna(q, q, q, options),
      ...tf.grads((a: tf.Tensor) => gna(a, q, q, options))([q])]);
    const [first, second] = [run(), run()];
    for (let i = 0; i < first.length; i++) expect(await maxDiff(first[i], second[i])).toBe(0);
    tf.dispose([q, ...first, ...second]);
  });
});

describe('mergeAttentions (spec §7 test_attn_merge)', () => {
  test.each([2, 3, 5, 8])('%i splits of the KV equal attention over the concatenated KV', async (splits) => {
    const rng = mulberry32(100 + splits);
    const [B, N, H, Hkv, D, Dv] = [2, 16, 4, 2, 6, 5];
    const q = randomNormal(rng, B * N * H * D);
    const k = randomNormal(rng, B * N * Hkv * D);
    const v = randomNormal(rng, B * N * Hkv * Dv);
    const dO = randomNormal(rng, B * N * H * Dv);
    const dL = randomNormal(rng, B * N * H);
    const scale = 1 / Math.sqrt(D);
    // Full attention in float64: a 1-D grid whose window is the whole grid.
    const ref = gnaReference({ shape: [N], windowSize: [N], stride: [1], dilation: [1], isCausal: [false], scale },
      { q, k, v, batch: B, heads: H, kvHeads: Hkv, headDim: D, valueDim: Dv }, dO, dL);
    // Uneven split points over the N keys.
    const cuts = [0, ...Array.from({ length: splits - 1 }, (_, i) => Math.round(((i + 1) * N) / splits) - (i % 2)), N];
    const results = tf.tidy(() => {
      const qt = tf.tensor(q, [B, N, H, D]);
      const kt = tf.tensor(k, [B, N, Hkv, D]);
      const vt = tf.tensor(v, [B, N, Hkv, Dv]);
      const dOt = tf.tensor(dO, [B, N, H, Dv]);
      const dLt = tf.tensor(dL, [B, N, H]);
      const merged = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
        const parts = cuts.slice(0, -1).map((start, i) => denseAttention(a,
          tf.slice(b, [0, start], [B, cuts[i + 1] - start]),
          tf.slice(c, [0, start], [B, cuts[i + 1] - start]), scale));
        return mergeAttentions(parts.map((p) => p.output), parts.map((p) => p.lse));
      };
      const m = merged(qt, kt, vt);
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
        const r = merged(a, b, c);
        return tf.add(tf.sum(tf.mul(r.output, dOt)), tf.sum(tf.mul(r.lse, dLt))) as tf.Scalar;
      })([qt, kt, vt]);
      return [m.output, m.lse, ...grads];
    });
    const values = await Promise.all(results.map((t) => t.data()));
    tf.dispose(results);
    expect(maxAbsDiff(values[0], ref.output)).toBeLessThan(1e-4);
    expect(maxAbsDiff(values[1], ref.lse)).toBeLessThan(1e-4);
    expect(maxAbsDiff(values[2], ref.dq as Float64Array)).toBeLessThan(1e-3);
    expect(maxAbsDiff(values[3], ref.dk as Float64Array)).toBeLessThan(1e-3);
    expect(maxAbsDiff(values[4], ref.dv as Float64Array)).toBeLessThan(1e-3);
  });

  test('extreme LSE gaps stay finite and pick the dominant part', async () => {
    const o1 = tf.fill([1, 2, 1, 2], 1);
    const o2 = tf.fill([1, 2, 1, 2], 3);
    const l1 = tf.tensor([[[0], [200]]]);
    const l2 = tf.tensor([[[200], [0]]]);
    const { output, lse } = mergeAttentions([o1, o2], [l1, l2]);
    expect(Array.from(await output.data())).toEqual([3, 3, 1, 1]);
    expect(maxAbsDiff(await lse.data(), [200, 200])).toBeLessThan(1e-4);
    tf.dispose([o1, o2, l1, l2, output, lse]);
  });
});

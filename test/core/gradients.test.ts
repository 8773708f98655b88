/**
 * Gradients of gna beyond the parity matrix: central finite differences on small float32 cases,
 * the path where only the output is differentiated (the engine feeds a zero LSE gradient), and
 * GQA's dK/dV as sums over each query-head group.
 */
import * as tf from '@tensorflow/tfjs';
import { gna } from '../../src';
import { gnaReference } from '../helpers/reference';
import { maxAbsDiff, mulberry32, randomNormal, seedOf } from '../helpers/random';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);
const EPS = 1e-2;
const ULP = 2 ** -24; // float32 relative rounding

interface FdCase {
  name: string;
  shape: number[];
  heads: number;
  kvHeads: number;
  headDim: number;
  valueDim: number;
  options: { windowSize: number[]; stride?: number[]; dilation?: number[]; isCausal?: boolean[] };
  extraTokens?: number;
}

const FD_CASES: FdCase[] = [
  { name: '1-D L8 K3 s2 d2, GQA H2/1, D4 Dv3', shape: [8], heads: 2, kvHeads: 1, headDim: 4,
    valueDim: 3, options: { windowSize: [3], stride: [2], dilation: [2] } },
  { name: '2-D (4,5) K(2,3) s(2,1) causal (T,F), D3 Dv2', shape: [4, 5], heads: 1, kvHeads: 1,
    headDim: 3, valueDim: 2, options: { windowSize: [2, 3], stride: [2, 1], isCausal: [true, false] } },
  { name: '1-D L6 K3 causal + 2 additional KV, D3', shape: [6], heads: 1, kvHeads: 1, headDim: 3,
    valueDim: 3, options: { windowSize: [3], isCausal: [true] }, extraTokens: 2 },
];

/**
 * Central differences of f = sum(output * W) + sum(lse * U), with f accumulated in float64 from
 * the float32 results, against tf.grads. Error budget per entry:
 *   rounding: each output/LSE entry is a float32 rounding of a float64 value, so |f| is off by
 *     at most R = ULP * sum(|W||out| + |U||lse|) per evaluation; the difference of two
 *     evaluations divided by the step h = x+ - x- (about 2*EPS, computed exactly from the
 *     float32-rounded perturbed inputs) is off by at most 2R/h (the additional-KV merge runs
 *     in float32 tfjs ops and costs a few more ulps: 10 ulps of |f| < 10 add under 3e-4);
 *   truncation: EPS^2/6 * |f'''| = 1.7e-5 * |f'''|, below 1e-3 while |f'''| < 60; with
 *     unit-variance inputs and scale D^-0.5 the scores are O(1) and so is f'''.
 * Tolerance = 2R/h + 1e-3. (Observed worst error: about 3% of it.)
 */
describe('finite differences (float32, central, eps 1e-2)', () => {
  test.each(FD_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const rng = mulberry32(seedOf(c.name));
    const tokens = product(c.shape);
    const shapes = [
      [1, ...c.shape, c.heads, c.headDim], [1, ...c.shape, c.kvHeads, c.headDim],
      [1, ...c.shape, c.kvHeads, c.valueDim],
    ];
    if (c.extraTokens !== undefined) {
      shapes.push([1, c.extraTokens, c.kvHeads, c.headDim], [1, c.extraTokens, c.kvHeads, c.valueDim]);
    }
    const inputs = shapes.map((s) => randomNormal(rng, product(s)));
    const W = randomNormal(rng, tokens * c.heads * c.valueDim);
    const U = randomNormal(rng, tokens * c.heads);
    const run = (xs: tf.Tensor[]) => gna(xs[0], xs[1], xs[2], {
      ...c.options, returnLse: true,
      ...(xs.length > 3 ? { additionalKeys: xs[3], additionalValues: xs[4] } : {}),
    });
    /** f and its float32-rounding bound R, in float64. */
    const evaluate = (arrays: Float32Array[]): [number, number] => {
      const r = tf.tidy(() => run(arrays.map((a, i) => tf.tensor(a, shapes[i]))));
      const out = r.output.dataSync();
      const lse = r.lse.dataSync();
      tf.dispose([r.output, r.lse]);
      let f = 0;
      let bound = 0;
      out.forEach((o, i) => { f += o * W[i]; bound += Math.abs(o * W[i]); });
      lse.forEach((l, i) => { f += l * U[i]; bound += Math.abs(l * U[i]); });
      return [f, bound * ULP];
    };
    const analytic = tf.tidy(() => {
      const wt = tf.tensor(W, [1, ...c.shape, c.heads, c.valueDim]);
      const ut = tf.tensor(U, [1, ...c.shape, c.heads]);
      return tf.grads((...xs: tf.Tensor[]) => {
        const r = run(xs);
        return tf.add(tf.sum(tf.mul(r.output, wt)), tf.sum(tf.mul(r.lse, ut))) as tf.Scalar;
      })(inputs.map((a, i) => tf.tensor(a, shapes[i])));
    });
    const grads = analytic.map((g) => g.dataSync());
    tf.dispose(analytic);
    const failures: string[] = [];
    let worst = 0;
    inputs.forEach((x, t) => {
      for (let i = 0; i < x.length; i++) {
        const plus = inputs.map((a) => a.slice());
        const minus = inputs.map((a) => a.slice());
        plus[t][i] = x[i] + EPS;
        minus[t][i] = x[i] - EPS;
        const h = plus[t][i] - minus[t][i];
        const [fp, rp] = evaluate(plus);
        const [fm, rm] = evaluate(minus);
        const fd = (fp - fm) / h;
        const tolerance = (rp + rm) / h + 1e-3;
        const error = Math.abs(fd - grads[t][i]);
        worst = Math.max(worst, error / tolerance);
        if (!(error <= tolerance)) {
          failures.push(`input ${t}[${i}]: fd ${fd} vs grad ${grads[t][i]} (tolerance ${tolerance})`);
        }
      }
    });
    expect(failures).toEqual([]);
    expect(worst).toBeLessThan(1);
  });
});

describe('gradient paths', () => {
  test('only the output differentiated (no returnLse): engine-filled zero dLse', async () => {
    const rng = mulberry32(7);
    const shape = [1, 9, 7, 2, 6];
    const [q, k, v, dO] = [0, 1, 2, 3].map(() => randomNormal(rng, product(shape)));
    const options = { windowSize: [3, 4], stride: [2, 1], isCausal: [false, true] };
    const grads = tf.tidy(() => tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      gna(a, b, c, options))([q, k, v].map((x) => tf.tensor(x, shape)), tf.tensor(dO, shape)));
    const ref = gnaReference(
      { shape: [9, 7], windowSize: [3, 4], stride: [2, 1], dilation: [1, 1],
        isCausal: [false, true], scale: 1 / Math.sqrt(6) },
      { q, k, v, batch: 1, heads: 2, kvHeads: 2, headDim: 6, valueDim: 6 }, dO);
    const [dq, dk, dv] = await Promise.all(grads.map((g) => g.data()));
    tf.dispose(grads);
    expect(maxAbsDiff(dq, ref.dq as Float64Array)).toBeLessThan(1e-3);
    expect(maxAbsDiff(dk, ref.dk as Float64Array)).toBeLessThan(1e-3);
    expect(maxAbsDiff(dv, ref.dv as Float64Array)).toBeLessThan(1e-3);
  });

  test('GQA dK/dV equal the group sums of the repeat-interleaved problem', async () => {
    const rng = mulberry32(11);
    const [H, Hkv, D, L] = [6, 2, 5, 20];
    const q = tf.tensor(randomNormal(rng, L * H * D), [1, L, H, D]);
    const k = tf.tensor(randomNormal(rng, L * Hkv * D), [1, L, Hkv, D]);
    const v = tf.tensor(randomNormal(rng, L * Hkv * D), [1, L, Hkv, D]);
    const dO = tf.tensor(randomNormal(rng, L * H * D), [1, L, H, D]);
    const options = { windowSize: 5, stride: 2, dilation: 2 };
    const [gqa, repeated] = tf.tidy(() => {
      // repeat_interleave: query head h uses KV head floor(h / (H / Hkv)).
      const heads = tf.tensor1d(Array.from({ length: H }, (_, h) => Math.floor(h / (H / Hkv))), 'int32');
      const rep = (x: tf.Tensor) => tf.gather(x, heads, 2);
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => gna(a, b, c, options))(
        [q, k, v], dO);
      const r = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => gna(a, rep(b), rep(c), options))(
        [q, k, v], dO);
      return [g, r];
    });
    for (let i = 0; i < 3; i++) {
      expect(maxAbsDiff(await gqa[i].data(), await repeated[i].data())).toBeLessThan(1e-5);
    }
    tf.dispose([q, k, v, dO, ...gqa, ...repeated]);
  });

  test('q = k = v as one tensor: the engine sums the three gradients', async () => {
    const rng = mulberry32(13);
    const shape = [2, 5, 6, 2, 4];
    const x = randomNormal(rng, product(shape));
    const dO = randomNormal(rng, product(shape));
    const options = { windowSize: [3, 3], dilation: [1, 2], isCausal: [true, false] };
    const [dx] = tf.tidy(() => tf.grads((a: tf.Tensor) => gna(a, a, a, options))(
      [tf.tensor(x, shape)], tf.tensor(dO, shape)));
    const ref = gnaReference(
      { shape: [5, 6], windowSize: [3, 3], stride: [1, 1], dilation: [1, 2],
        isCausal: [true, false], scale: 0.5 },
      { q: x, k: x, v: x, batch: 2, heads: 2, kvHeads: 2, headDim: 4, valueDim: 4 }, dO);
    const sum = (ref.dq as Float64Array).map((g, i) => g + (ref.dk as Float64Array)[i] +
      (ref.dv as Float64Array)[i]);
    expect(maxAbsDiff(await dx.data(), sum)).toBeLessThan(1e-3);
    dx.dispose();
  });
});

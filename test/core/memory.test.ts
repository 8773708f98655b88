/**
 * No tensor leaks: every op, its gradients and its error paths leave `tf.memory().numTensors`
 * (and the backend's data buffers) as they were once their results are disposed.
 */
import * as tf from '@tensorflow/tfjs';
import { denseAttention, gna, mergeAttentions, tokenPermute, tokenUnpermute } from '../../src';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

let q: tf.Tensor;
let k: tf.Tensor;
let v: tf.Tensor;
let ak: tf.Tensor;
let av: tf.Tensor;
beforeAll(() => {
  q = tf.randomNormal([2, 6, 5, 4, 3], 0, 1, 'float32', 1);
  k = tf.randomNormal([2, 6, 5, 2, 3], 0, 1, 'float32', 2);
  v = tf.randomNormal([2, 6, 5, 2, 4], 0, 1, 'float32', 3);
  ak = tf.randomNormal([2, 3, 2, 3], 0, 1, 'float32', 4);
  av = tf.randomNormal([2, 3, 2, 4], 0, 1, 'float32', 5);
});
afterAll(() => tf.dispose([q, k, v, ak, av]));

const options = { windowSize: [3, 2], stride: [2, 1], dilation: [2, 1], isCausal: [false, true] };

/** Runs `fn`, checks it created exactly `created` live tensors, disposes them, checks none remain. */
function expectNoLeak(created: number, fn: () => tf.TensorContainer) {
  const tensors = tf.memory().numTensors;
  const buffers = tf.memory().numDataBuffers;
  const result = fn();
  expect(tf.memory().numTensors).toBe(tensors + created);
  tf.dispose(result);
  expect(tf.memory().numTensors).toBe(tensors);
  expect(tf.memory().numDataBuffers).toBe(buffers);
}

describe('gna', () => {
  test('forward', () => expectNoLeak(1, () => gna(q, k, v, options)));
  test('forward with returnLse', () => {
    expectNoLeak(2, () => {
      const r = gna(q, k, v, { ...options, returnLse: true });
      return [r.output, r.lse];
    });
  });
  test('forward with additional KV', () => {
    expectNoLeak(1, () => gna(q, k, v, { ...options, additionalKeys: ak, additionalValues: av }));
    expectNoLeak(2, () => {
      const r = gna(q, k, v, { ...options, additionalKeys: ak, additionalValues: av, returnLse: true });
      return [r.output, r.lse];
    });
  });
  test('gradients via tf.grads inside tf.tidy', () => {
    expectNoLeak(3, () => tf.tidy(() => tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      gna(a, b, c, options))([q, k, v])));
    expectNoLeak(5, () => tf.tidy(() => tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor,
      d: tf.Tensor, e: tf.Tensor) => {
      const r = gna(a, b, c, { ...options, additionalKeys: d, additionalValues: e, returnLse: true });
      return tf.add(tf.sum(r.output), tf.sum(r.lse)) as tf.Scalar;
    })([q, k, v, ak, av])));
  });
  test('gradients via tf.grads without tidy dispose cleanly', () => {
    expectNoLeak(3, () => [
      ...tf.grads((a: tf.Tensor) => gna(a, k, v, options))([q]),
      ...tf.grads((b: tf.Tensor, c: tf.Tensor) => gna(q, b, c, options))([k, v]),
    ]);
  });
  test('a rejected call leaks nothing', () => {
    expectNoLeak(0, () => {
      expect(() => gna(q, k, v, { windowSize: 1 })).toThrow();
      expect(() => gna(q, k, v, { ...options, additionalKeys: ak })).toThrow();
      return [];
    });
  });
});

describe('token permute', () => {
  test('permute and unpermute', () => {
    const x = tf.randomNormal([2, 7, 5, 3, 2]);
    const opts = { tileShape: [2, 2], dilation: [2, 1] };
    expectNoLeak(1, () => tokenPermute(x, opts));
    const y = tokenPermute(x, opts);
    expectNoLeak(1, () => tokenUnpermute(y, { ...opts, shape: [7, 5] }));
    expectNoLeak(1, () => tf.tidy(() => tf.grad((a: tf.Tensor) =>
      tf.sum(tokenPermute(a, opts)))(x)));
    expectNoLeak(1, () => tf.tidy(() => tf.grad((a: tf.Tensor) =>
      tf.sum(tokenUnpermute(a, { ...opts, shape: [7, 5] })))(y)));
    tf.dispose([x, y]);
  });
});

describe('mergeAttentions and denseAttention', () => {
  test('no leaks', () => {
    const o = tf.randomNormal([2, 5, 2, 3]);
    const l = tf.randomNormal([2, 5, 2]);
    expectNoLeak(2, () => {
      const r = mergeAttentions([o, o, o], [l, l, l]);
      return [r.output, r.lse];
    });
    const qq = tf.randomNormal([2, 5, 4, 3]);
    const kk = tf.randomNormal([2, 6, 2, 3]);
    expectNoLeak(2, () => {
      const r = denseAttention(qq, kk, kk, 0.5);
      return [r.output, r.lse];
    });
    tf.dispose([o, l, qq, kk]);
  });
});

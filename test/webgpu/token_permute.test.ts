/**
 * Token permute and unpermute on webgpu: bit-exact against the cpu kernels (a gather moves
 * values, it does not round them), exact round trips, the spec §4 2-D example, the identity
 * layout as a reshape sharing its input's buffer, gradients, and no leaks.
 */
import * as tf from '@tensorflow/tfjs';
import { tokenPermute, tokenUnpermute } from '../../src';
import { backendDataCount, describeWebGPU, useWebGPU } from './webgpu_env';

interface Layout { shape: number[]; tileShape: number[]; dilation: number[] }

const LAYOUTS: Layout[] = [
  { shape: [2, 16, 3, 4], tileShape: [8], dilation: [1] },          // identity: a reshape
  { shape: [2, 10, 3, 4], tileShape: [4], dilation: [1] },          // 1-D padding
  { shape: [1, 10, 1, 3], tileShape: [2], dilation: [2] },          // spec §4, vec width 1
  { shape: [1, 10, 7, 3, 4], tileShape: [4, 2], dilation: [2, 3] },
  { shape: [2, 5, 6, 7, 2, 2], tileShape: [2, 4, 2], dilation: [1, 2, 3] },
];

async function onBackend(backend: string, l: Layout, values: Float32Array) {
  await tf.setBackend(backend);
  const x = tf.tensor(values, l.shape);
  const opts = { tileShape: l.tileShape, dilation: l.dilation };
  const permuted = tokenPermute(x, opts);
  const back = tokenUnpermute(permuted, { ...opts, shape: l.shape.slice(1, -2) });
  const grad = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tokenPermute(a, opts), permuted)))(x);
  const out = { shape: permuted.shape, permuted: await permuted.data(), back: await back.data(),
    grad: await grad.data() };
  tf.dispose([x, permuted, back, grad]);
  return out;
}

describeWebGPU('token permute on webgpu', () => {
  beforeAll(() => useWebGPU());

  test.each(LAYOUTS.map((l) => [JSON.stringify(l), l] as const))('%s', async (_name, l) => {
    const size = l.shape.reduce((a, b) => a * b, 1);
    const values = Float32Array.from({ length: size }, (_, i) => Math.sin(i) * 100);
    const cpu = await onBackend('cpu', l, values);
    const tensors = tf.memory().numTensors;
    const buffers = backendDataCount();
    const gpu = await onBackend('webgpu', l, values);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backendDataCount()).toBe(buffers);
    expect(gpu.shape).toEqual(cpu.shape);
    expect(Array.from(gpu.permuted)).toEqual(Array.from(cpu.permuted));
    expect(Array.from(gpu.back)).toEqual(Array.from(values));
    // d/dx sum(permute(x) * P) = unpermute(P), which is x itself for P = permute(x).
    expect(Array.from(gpu.grad)).toEqual(Array.from(values));
  });

  test('spec §4 2-D example: (4,6), tiles (2,3), row-major', async () => {
    await useWebGPU();
    const x = tf.reshape(tf.range(0, 24, 1, 'float32'), [1, 4, 6, 1, 1]);
    const p = tokenPermute(x, { tileShape: [2, 3] });
    expect(Array.from(await p.data())).toEqual(
      [0, 1, 2, 6, 7, 8, 3, 4, 5, 9, 10, 11, 12, 13, 14, 18, 19, 20, 15, 16, 17, 21, 22, 23]);
    tf.dispose([x, p]);
  });

  test('the identity layout shares the input buffer (a reshape, no pass)', async () => {
    await useWebGPU();
    const x = tf.randomNormal([1, 16, 2, 4]);
    const buffers = backendDataCount();
    const p = tokenPermute(x, { tileShape: [4] });
    expect(backendDataCount()).toBe(buffers);
    expect(p.shape).toEqual([1, 16, 2, 4]);
    tf.dispose([x, p]);
  });
});

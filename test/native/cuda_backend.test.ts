/**
 * The `cuda` backend itself: device-resident data and memory accounting, the CPU fallback and its
 * counter, native token permute (exact), CUDA-event timing, and errors that surface as JS
 * exceptions instead of killing the process. Runs on a machine with an NVIDIA GPU.
 */
import * as tf from '@tensorflow/tfjs';
import { gna, tokenPermute, tokenUnpermute } from '../../src';
import { cudaFallbackStats, resetCudaFallbackStats, setCudaGnaOptions } from '../../kernels/native';
import { permuteLayout } from '../../src/layout';
import { normalizeTokenPermute } from '../../src/params';
import { permuteTokens } from '../../kernels/cpu/token_permute_math';
import { mulberry32, randomNormal } from '../helpers/random';
import { addon, describeCuda, useCuda } from './cuda_env';

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

describeCuda('cuda backend', () => {
  beforeAll(async () => {
    await useCuda();
    setCudaGnaOptions({ precision: 'bfloat16', tileShapes: undefined });
  });

  test('keeps float32, int32 and bool data in device memory with exact byte accounting', () => {
    const before = tf.memory() as tf.MemoryInfo & { numBytesInGPU: number };
    const a = tf.tensor([1.5, -2, 3.25, 4], [2, 2]);
    const b = tf.tensor([7, -8, 9], [3], 'int32');
    const c = tf.tensor([true, false, true], [3], 'bool');
    const during = tf.memory() as tf.MemoryInfo & { numBytesInGPU: number };
    expect(during.numBytesInGPU - before.numBytesInGPU).toBe(16 + 12 + 3);
    expect(Array.from(a.dataSync())).toEqual([1.5, -2, 3.25, 4]);
    expect(Array.from(b.dataSync())).toEqual([7, -8, 9]);
    expect(Array.from(c.dataSync())).toEqual([1, 0, 1]);
    const r = tf.reshape(a, [4]);
    expect((tf.memory() as typeof during).numBytesInGPU).toBe(during.numBytesInGPU);
    expect(Array.from(r.dataSync())).toEqual([1.5, -2, 3.25, 4]);
    tf.dispose([a, b, c, r]);
    const after = tf.memory() as typeof before;
    expect(after.numBytesInGPU).toBe(before.numBytesInGPU);
    expect(after.numTensors).toBe(before.numTensors);
  });

  test('runs non-native kernels through the CPU kernels and counts each fallback', async () => {
    const tensors = tf.memory().numTensors;
    resetCudaFallbackStats();
    const x = tf.tensor([[1, 2, 3], [4, 5, 6]]);
    const y = tf.tensor([[1, 0], [0, 1], [1, 1]]);
    const logits = tf.tensor([1, 2, 3]);
    const [re, im] = [tf.tensor([1, 2]), tf.tensor([3, 4])];
    const mm = tf.matMul(x, y);
    const sm = tf.softmax(logits);
    const am = tf.argMax(x, 1);
    const three = tf.scalar(3);
    const gt = tf.greater(x, three);
    const cx = tf.complex(re, im);
    const real = tf.real(cx);
    const st = tf.tensor(['a', 'bc']);
    expect(Array.from(await mm.data())).toEqual([4, 5, 10, 11]);
    const e = [1, 2, 3].map(Math.exp);
    const z = e[0] + e[1] + e[2];
    Array.from(await sm.data()).forEach((v, i) => expect(v).toBeCloseTo(e[i] / z, 6));
    expect(am.dtype).toBe('int32');
    expect(Array.from(await am.data())).toEqual([2, 2]);
    expect(Array.from(await gt.data())).toEqual([0, 0, 0, 1, 1, 1]);
    expect(Array.from(await real.data())).toEqual([1, 2]);
    expect(await st.data()).toEqual(['a', 'bc']);
    const stats = cudaFallbackStats();
    // matMul and softmax are native (ops/); argMax, greater and complex still fall back.
    expect(stats.byKernel.BatchMatMul).toBeUndefined();
    expect(stats.byKernel.Softmax).toBeUndefined();
    expect(stats.byKernel.ArgMax).toBe(1);
    expect(stats.byKernel.Greater).toBe(1);
    expect(stats.byKernel.Complex).toBe(1);
    expect(stats.total).toBeGreaterThanOrEqual(4);
    tf.dispose([three, x, y, logits, re, im, mm, sm, am, gt, cx, real, st]);
    expect(tf.memory().numTensors).toBe(tensors);
  });

  // Spec §7 token-permute cases, head dims 1, 4 and 32: exact against the CPU gather map.
  const permuteCases: Array<[number[], number[], number[], number]> = [
    [[7], [3], [1], 4], [[19], [3], [7], 1], [[80], [8], [7], 32], [[16], [2], [3], 4],
    [[48, 80], [8, 8], [2, 8], 4], [[44, 8], [22, 8], [4, 8], 1], [[48, 80], [4, 16], [11, 7], 32],
    [[30, 48, 80], [4, 8, 8], [2, 5, 4], 4], [[16, 16, 16], [4, 8, 2], [1, 9, 3], 1],
    [[57, 20, 88], [2, 8, 16], [2, 1, 1], 4],
  ];
  test.each(permuteCases)('token permute %j tile %j dilation %j E=%d is exact',
    (shape, tileShape, dilation, dim) => {
      const heads = 2;
      const batch = 2;
      const x = randomNormal(mulberry32(shape[0] * 31 + dim), batch * product(shape) * heads * dim);
      const layout = permuteLayout(normalizeTokenPermute('t', shape, { tileShape, dilation }));
      const want = permuteTokens(layout, x, batch, heads * dim);
      const tensors = tf.memory().numTensors;
      const xt = tf.tensor(x, [batch, ...shape, heads, dim]);
      const p = tokenPermute(xt, { tileShape, dilation });
      expect(p.shape).toEqual([batch * layout.groups, layout.sequenceLength, heads, dim]);
      expect(Buffer.from((p.dataSync() as Float32Array).buffer)
        .equals(Buffer.from(want.buffer))).toBe(true);
      const back = tokenUnpermute(p, { tileShape, dilation, shape });
      expect(Buffer.from((back.dataSync() as Float32Array).buffer)
        .equals(Buffer.from(x.buffer))).toBe(true);
      tf.dispose([xt, p, back]);
      expect(tf.memory().numTensors).toBe(tensors);
    });

  test('times work with CUDA events', async () => {
    const q = tf.randomNormal([1, 64, 64, 4, 64]);
    const info = await tf.time(() => tf.dispose(gna(q, q, q, { windowSize: 16 })));
    expect(info.kernelMs).toBeGreaterThan(0);
    q.dispose();
  });

  test('turns CUDA failures and bad handles into exceptions; the process carries on', () => {
    const a = addon();
    expect(() => a.alloc(4e14)).toThrow(/out of GPU memory.*cudaErrorMemoryAllocation/);
    const h = a.alloc(64);
    a.free(h);
    expect(() => a.download(h, new Float32Array(4))).toThrow(/not a live device buffer/);
    const small = a.alloc(16);
    expect(() => a.download(small, new Float32Array(8))).toThrow(/holds 16 bytes/);
    expect(() => a.tokenPermute({ rank: 1, spatialShape: [8], tileShape: [4], dilation: [1] },
      1, 4, small, small, 'float32')).toThrow(/needs 128/);
    expect(() => a.createPlan({ rank: 1, spatialShape: [8], dilation: [1], extent: [8],
      windows: new Int32Array(32).fill(9) })).toThrow(/outside its dilation group/);
    a.free(small);
    // Still usable afterwards.
    const t = tf.add(tf.tensor([1, 2]), tf.tensor([3, 4]));
    expect(Array.from(t.dataSync())).toEqual([4, 6]);
    t.dispose();
  });

  test('rejects an unknown precision by name', () => {
    expect(() => setCudaGnaOptions({ precision: 'fp8' as never })).toThrow(/precision=fp8/);
  });
});

/** The native op kernels and whole DiT blocks on the `cuda` backend (GPU machines only). */
import * as tf from '@tensorflow/tfjs';
import { setCudaMatMulOptions } from '../../kernels/native';
import { defineBlockTests } from './blocks_suite';
import { addon, describeCuda, useCuda } from './cuda_env';
import { defineOpTests } from './ops_suite';

describeCuda('native ops on cuda', () => {
  let buffers = 0;
  beforeAll(async () => {
    await useCuda();
    setCudaMatMulOptions({ precision: 'float32' });
    buffers = addon().memoryInfo().buffers;
  });
  afterAll(async () => {
    await tf.setBackend('cuda');
    expect(addon().memoryInfo().buffers).toBe(buffers);
  });

  defineOpTests('cuda');
  defineBlockTests('cuda', true);

  test('bad op arguments throw instead of touching memory outside a buffer', () => {
    const a = addon();
    const h = a.alloc(16);
    expect(() => a.stridedCopy(4, [8], 0, [1], 0, [1], h, h)).toThrow(/holds 16 bytes/);
    expect(() => a.stridedCopy(4, [2], 1, [-2], 0, [1], h, h)).toThrow(/before its buffer/);
    expect(() => a.binary(3, 'int32', [4], [1], [1], h, h, h)).toThrow(/float32 only/);
    expect(() => a.gemm({ m: 4, n: 4, k: 4, transposeA: false, transposeB: false, batchShape: [],
      aBatchStrides: [], bBatchStrides: [], precision: 2, biasMode: 0, activation: 0, alpha: 0 },
    h, h, null, h)).toThrow(/holds 16 bytes/);
    a.free(h);
  });
});

/**
 * The whole op-parity matrix of the CPU suite (test/helpers/parity_cases.ts) on the `webgpu`
 * backend: forward and LSE within 1e-4 and every gradient within 1e-3 of the float64 reference,
 * with no tensor or GPU buffer left behind.
 */
import * as tf from '@tensorflow/tfjs';
import '../../src';
import { PARITY_CASES, expectParity, runParityCase } from '../helpers/parity_cases';
import { backendDataCount, describeWebGPU, useWebGPU } from './webgpu_env';

describeWebGPU('GNA parity on webgpu (Dawn)', () => {
  beforeAll(() => useWebGPU());

  test.each(PARITY_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const tensors = tf.memory().numTensors;
    const buffers = backendDataCount();
    expectParity(await runParityCase(c));
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backendDataCount()).toBe(buffers);
  });
});

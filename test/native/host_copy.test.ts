/**
 * The host-copy GNA kernels that serve tfjs-node's `tensorflow` backend, exercised through a
 * stand-in backend (a MathBackendCPU registered as 'hostcopy-test' with the CPU kernels plus the
 * host-copy GNA kernels), since tfjs-node cannot be installed here. With a GPU the kernels run the
 * native path, without one the CPU math; either way the results must match the float64 reference.
 */
import * as tf from '@tensorflow/tfjs';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import '../../src';
import { hostCopyGnaKernelConfigs, nativeAvailability, setCudaGnaOptions } from '../../kernels/native';
import { GNA, GNA_GRAD } from '../../src/kernel_names';
import { PARITY_CASES, expectParity, runParityCase } from '../helpers/parity_cases';

const NAME = 'hostcopy-test';
const path = nativeAvailability().available ? 'native GPU path' : 'CPU math path';

describe(`host-copy GNA kernels (${path})`, () => {
  let previous: string;

  beforeAll(async () => {
    previous = tf.getBackend() ?? 'cpu';
    tf.registerBackend(NAME, () => new MathBackendCPU(), -1);
    for (const config of tf.getKernelsForBackend('cpu')) {
      if (config.kernelName === GNA || config.kernelName === GNA_GRAD) continue;
      tf.registerKernel({ ...config, backendName: NAME });
    }
    hostCopyGnaKernelConfigs(NAME).forEach((c) => tf.registerKernel(c));
    setCudaGnaOptions({ precision: 'float32' });
    await tf.setBackend(NAME);
  });

  afterAll(async () => {
    setCudaGnaOptions({ precision: 'bfloat16' });
    await tf.setBackend(previous);
    tf.removeBackend(NAME);
  });

  const picked = PARITY_CASES.filter((c) => /GQA|causal \(F,T\)|d\(1,2,3\)|Dv12/.test(c.name))
    .slice(0, 5);
  test.each(picked.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    expect(tf.getBackend()).toBe(NAME);
    const tensors = tf.memory().numTensors;
    expectParity(await runParityCase(c));
    expect(tf.memory().numTensors).toBe(tensors);
  });
});

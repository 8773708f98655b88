/**
 * The TypeScript layer of the native ops (shapes, strides, broadcasting, fallbacks, refcounts)
 * on a `cuda-emu` backend: the real CudaBackend and kernel configs over a host model of the
 * addon (emulated_addon.ts), against the CPU backend. Runs everywhere; GNA falls back here.
 */
import * as tf from '@tensorflow/tfjs';
import '../../src';
import { CudaBackend } from '../../kernels/native/cuda_backend';
import { cudaKernelConfigs } from '../../kernels/native/cuda_kernels';
import { setCudaMatMulOptions } from '../../kernels/native';
import { defineBlockTests } from './blocks_suite';
import { emulatedAddon } from './emulated_addon';
import { defineOpTests } from './ops_suite';

const EMU = 'cuda-emu';
const addon = emulatedAddon();

describe('native op layer on the emulated addon', () => {
  beforeAll(async () => {
    tf.registerBackend(EMU, () => new CudaBackend(addon), 0);
    const gnaKernels = /^(GeneralizedNeighborhood|GNAToken)/;
    for (const c of cudaKernelConfigs) {
      if (!gnaKernels.test(c.kernelName)) tf.registerKernel({ ...c, backendName: EMU });
    }
    for (const c of tf.getKernelsForBackend('cpu')) {
      if (tf.getKernel(c.kernelName, EMU) !== undefined) continue;
      tf.registerKernel({ kernelName: c.kernelName, backendName: EMU,
        kernelFunc: ({ inputs, backend, attrs }) => (backend as CudaBackend).runOnCpu(c, inputs, attrs) });
    }
    setCudaMatMulOptions({ precision: 'float32' });
  });

  defineOpTests(EMU);
  defineBlockTests(EMU, false);

  test('every device buffer is freed', async () => {
    await tf.setBackend(EMU);
    expect(addon.liveBuffers()).toBe(tf.engine().backend.numDataIds());
  });
});

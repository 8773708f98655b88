/**
 * `import 'tfjs-gna/cuda'`: registers the package (ops, CPU kernels, gradients), the `cuda`
 * backend when a usable NVIDIA GPU and the built addon are present, and the host-copy GNA kernels
 * for tfjs-node's `tensorflow` backend. Never throws: `cudaRegistration` says what happened.
 */
import * as tf from '@tensorflow/tfjs-core';
import '../../src';
import { registerCudaBackend, CudaRegistration } from './cuda_backend';
import { hostCopyGnaKernelConfigs } from './host_copy';

/**
 * Registers the host-copy GNA kernels for tfjs-node's `tensorflow` backend (native kernels with a
 * GPU, CPU math without). Harmless when tfjs-node is not installed.
 */
export function registerTensorflowGnaKernels(backendName = 'tensorflow') {
  for (const config of hostCopyGnaKernelConfigs(backendName)) {
    if (tf.getKernel(config.kernelName, backendName) === undefined) tf.registerKernel(config);
  }
}

registerTensorflowGnaKernels();
export const cudaRegistration: CudaRegistration = registerCudaBackend();

export { nativeAvailability, NativeAvailability } from './addon';
export { CudaBackend, CudaRegistration, cudaFallbackStats, registerCudaBackend, registerCudaFallbacks,
         resetCudaFallbackStats, CUDA_BACKEND } from './cuda_backend';
export { CudaGnaOptions, CudaPrecision, TcKernel, WgmmaSchedule, setCudaGnaOptions,
         cudaGnaOptions } from './gna_launch';
export { hostCopyGnaKernelConfigs } from './host_copy';
export { CudaMatMulOptions, CudaMatMulPrecision, cudaMatMulOptions,
         setCudaMatMulOptions } from './ops';
export { chooseTileShapes, tilingCost, TilePass, TileShapes } from './gna_plan';

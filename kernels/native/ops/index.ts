/** The `cuda` backend's native op kernels beyond GNA (registered by cuda_kernels.ts). */
import { KernelConfig } from '@tensorflow/tfjs-core';
import { elementwiseConfigs } from './elementwise';
import { matMulConfigs } from './matmul';
import { reduceConfigs } from './reduce';
import { shapeConfigs } from './shape';

export const nativeOpConfigs: KernelConfig[] = [
  ...elementwiseConfigs, ...shapeConfigs, ...reduceConfigs, ...matMulConfigs,
];

export { CudaMatMulOptions, CudaMatMulPrecision, cudaMatMulOptions,
         setCudaMatMulOptions } from './matmul';

/**
 * Every kernel of the `webgpu` backend (@tensorflow/tfjs-backend-webgpu) this package provides.
 * Registering them needs only tfjs-core: the backend package is an optional peer, never imported.
 */
import { KernelConfig } from '@tensorflow/tfjs-core';
import { gnaWebGPUConfig } from './GeneralizedNeighborhoodAttention';
import { gnaGradWebGPUConfig } from './GeneralizedNeighborhoodAttentionGrad';
import { tokenPermuteWebGPUConfig } from './GNATokenPermute';
import { tokenUnpermuteWebGPUConfig } from './GNATokenUnpermute';

export const webgpuKernelConfigs: KernelConfig[] = [
  gnaWebGPUConfig,
  gnaGradWebGPUConfig,
  tokenPermuteWebGPUConfig,
  tokenUnpermuteWebGPUConfig,
];

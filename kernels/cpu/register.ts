/** Every kernel of the `cpu` backend this package provides. */
import { KernelConfig } from '@tensorflow/tfjs-core';
import { gnaCpuConfig } from './GeneralizedNeighborhoodAttention';
import { gnaGradCpuConfig } from './GeneralizedNeighborhoodAttentionGrad';
import { tokenPermuteCpuConfig } from './GNATokenPermute';
import { tokenUnpermuteCpuConfig } from './GNATokenUnpermute';

export const cpuKernelConfigs: KernelConfig[] = [
  gnaCpuConfig,
  gnaGradCpuConfig,
  tokenPermuteCpuConfig,
  tokenUnpermuteCpuConfig,
];

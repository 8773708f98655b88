import { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { GNA_TOKEN_UNPERMUTE, TokenPermuteInputs, TokenPermuteKernelAttrs } from '../../src/kernel_names';
import { permuteLayout } from '../../src/layout';
import { hostBackend, readFloat32 } from './backend_data';
import { unpermuteTokens } from './token_permute_math';

export const tokenUnpermuteCpu: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as TokenPermuteInputs;
  const layout = permuteLayout(attrs as unknown as TokenPermuteKernelAttrs);
  const host = hostBackend(backend);
  const [heads, dim] = x.shape.slice(-2);
  const batch = x.shape[0] / layout.groups;
  const out = unpermuteTokens(layout, readFloat32(host, x), batch, heads * dim);
  return host.makeTensorInfo([batch, ...layout.spatialShape, heads, dim], 'float32', out);
};

export const tokenUnpermuteCpuConfig: KernelConfig = {
  kernelName: GNA_TOKEN_UNPERMUTE, backendName: 'cpu', kernelFunc: tokenUnpermuteCpu,
};

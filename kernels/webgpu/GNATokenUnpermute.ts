import { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { GNA_TOKEN_UNPERMUTE, TokenPermuteInputs, TokenPermuteKernelAttrs } from '../../src/kernel_names';
import { isIdentityPermute, permuteLayout } from '../../src/layout';
import { unpermuteOutput } from './gna_webgpu_common';
import { webgpuBackend } from './webgpu_backend';

export const tokenUnpermuteWebGPU: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as TokenPermuteInputs;
  const gpu = webgpuBackend(backend);
  const layout = permuteLayout(attrs as unknown as TokenPermuteKernelAttrs);
  const [heads, dim] = x.shape.slice(-2);
  const batch = x.shape[0] / layout.groups;
  const shape = [batch, ...layout.spatialShape, heads, dim];
  if (isIdentityPermute(layout)) {
    gpu.incRef(x.dataId);
    return { dataId: x.dataId, shape, dtype: x.dtype };
  }
  return unpermuteOutput(gpu, x, layout, batch, heads * dim, shape);
};

export const tokenUnpermuteWebGPUConfig: KernelConfig = {
  kernelName: GNA_TOKEN_UNPERMUTE, backendName: 'webgpu', kernelFunc: tokenUnpermuteWebGPU,
};

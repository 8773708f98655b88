import { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { GNA_TOKEN_PERMUTE, TokenPermuteInputs, TokenPermuteKernelAttrs } from '../../src/kernel_names';
import { isIdentityPermute, permuteLayout } from '../../src/layout';
import { permuteInput } from './gna_webgpu_common';
import { webgpuBackend } from './webgpu_backend';

export const tokenPermuteWebGPU: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as TokenPermuteInputs;
  const gpu = webgpuBackend(backend);
  const layout = permuteLayout(attrs as unknown as TokenPermuteKernelAttrs);
  const [heads, dim] = x.shape.slice(-2);
  const shape = [x.shape[0] * layout.groups, layout.sequenceLength, heads, dim];
  if (isIdentityPermute(layout)) {
    // 1-D, no dilation, no padding: a reshape sharing the input's buffer, as tfjs's Reshape does.
    gpu.incRef(x.dataId);
    return { dataId: x.dataId, shape, dtype: x.dtype };
  }
  const out = permuteInput(gpu, x, layout, x.shape[0], heads * dim);
  return { dataId: out.dataId, shape, dtype: out.dtype };
};

export const tokenPermuteWebGPUConfig: KernelConfig = {
  kernelName: GNA_TOKEN_PERMUTE, backendName: 'webgpu', kernelFunc: tokenPermuteWebGPU,
};

import { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { GNA_TOKEN_PERMUTE, TokenPermuteInputs, TokenPermuteKernelAttrs } from '../../src/kernel_names';
import { permuteLayout } from '../../src/layout';
import { hostBackend, readFloat32 } from './backend_data';
import { permuteTokens } from './token_permute_math';

export const tokenPermuteCpu: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as TokenPermuteInputs;
  const layout = permuteLayout(attrs as unknown as TokenPermuteKernelAttrs);
  const host = hostBackend(backend);
  const [heads, dim] = x.shape.slice(-2);
  const out = permuteTokens(layout, readFloat32(host, x), x.shape[0], heads * dim);
  return host.makeTensorInfo([x.shape[0] * layout.groups, layout.sequenceLength, heads, dim],
    'float32', out);
};

export const tokenPermuteCpuConfig: KernelConfig = {
  kernelName: GNA_TOKEN_PERMUTE, backendName: 'cpu', kernelFunc: tokenPermuteCpu,
};

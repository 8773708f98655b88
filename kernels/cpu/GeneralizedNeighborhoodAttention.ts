import { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { GNA, GnaInputs, GnaKernelAttrs, gnaProblemOf } from '../../src/kernel_names';
import { hostBackend, readFloat32 } from './backend_data';
import { gnaForward } from './gna_math';

export const gnaCpu: KernelFunc = ({ inputs, backend, attrs }) => {
  const { q, k, v } = inputs as GnaInputs;
  const problem = gnaProblemOf(inputs as GnaInputs, attrs as unknown as GnaKernelAttrs);
  const host = hostBackend(backend);
  const { output, lse } = gnaForward(problem, readFloat32(host, q), readFloat32(host, k),
    readFloat32(host, v));
  const outShape = [...q.shape.slice(0, -1), problem.valueDim];
  return [host.makeTensorInfo(outShape, 'float32', output),
    host.makeTensorInfo(q.shape.slice(0, -1), 'float32', lse)];
};

export const gnaCpuConfig: KernelConfig = { kernelName: GNA, backendName: 'cpu', kernelFunc: gnaCpu };

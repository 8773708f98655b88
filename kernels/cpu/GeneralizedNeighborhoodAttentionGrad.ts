import { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { GNA_GRAD, GnaGradInputs, GnaKernelAttrs, gnaProblemOf } from '../../src/kernel_names';
import { hostBackend, readFloat32 } from './backend_data';
import { gnaBackward } from './gna_math';

export const gnaGradCpu: KernelFunc = ({ inputs, backend, attrs }) => {
  const x = inputs as GnaGradInputs;
  const problem = gnaProblemOf(x, attrs as unknown as GnaKernelAttrs);
  const host = hostBackend(backend);
  const read = (t: typeof x.q) => readFloat32(host, t);
  const { dq, dk, dv } = gnaBackward(problem, {
    q: read(x.q), k: read(x.k), v: read(x.v), output: read(x.output), lse: read(x.lse),
    dOutput: read(x.dOutput), dLse: read(x.dLse),
  });
  return [host.makeTensorInfo(x.q.shape, 'float32', dq),
    host.makeTensorInfo(x.k.shape, 'float32', dk),
    host.makeTensorInfo(x.v.shape, 'float32', dv)];
};

export const gnaGradCpuConfig: KernelConfig = {
  kernelName: GNA_GRAD, backendName: 'cpu', kernelFunc: gnaGradCpu,
};

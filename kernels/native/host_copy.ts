/**
 * GNA kernels for backends whose tensors live in host memory behind `readSync`/`write` (tfjs-node's
 * `tensorflow`, whose libtensorflow has no GNA): each call copies the operands in, runs the native
 * CUDA kernels when a GPU is present (the same launcher as the `cuda` backend) and the CPU math
 * otherwise, and copies the results back.
 */
import { DataType, KernelBackend, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { GNA, GNA_GRAD, GnaGradInputs, GnaInputs, GnaKernelAttrs,
         gnaProblemOf } from '../../src/kernel_names';
import { GnaProblem } from '../../src/params';
import { gnaBackward, gnaForward } from '../cpu/gna_math';
import { NativeAddon, nativeAvailability } from './addon';
import { optionsFor, nativeHeadDims } from './cuda_kernels';
import { Scratch, gnaBackwardOnDevice, gnaForwardOnDevice } from './gna_launch';
import { PlanCache } from './gna_plan';

let plans: PlanCache | undefined;

/** The addon and its plan cache when a GPU is usable, else undefined (CPU math). */
function device(problem: GnaProblem): { addon: NativeAddon; plans: PlanCache } | undefined {
  const a = nativeAvailability();
  if (!a.available || !nativeHeadDims(problem)) return undefined;
  plans ??= new PlanCache(a.addon);
  return { addon: a.addon, plans };
}

function read(backend: KernelBackend, t: TensorInfo): Float32Array {
  const values = backend.readSync(t.dataId);
  return values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);
}

function output(backend: KernelBackend, shape: number[], values: Float32Array,
                dtype: DataType = 'float32'): TensorInfo {
  return { dataId: backend.write(values, shape, dtype), shape, dtype };
}

/** Runs `body` with device copies of `inputs` and `outputs` empty device buffers of given sizes. */
function onDevice(addon: NativeAddon, inputs: Float32Array[], outputSizes: number[],
                  body: (ins: number[], outs: number[]) => void): Float32Array[] {
  const scratch = new Scratch(addon);
  try {
    const ins = inputs.map((x) => {
      const h = scratch.alloc(x.byteLength);
      addon.upload(h, x);
      return h;
    });
    const outs = outputSizes.map((n) => scratch.alloc(n * 4));
    body(ins, outs);
    return outs.map((h, i) => {
      const values = new Float32Array(outputSizes[i]);
      addon.download(h, values);
      return values;
    });
  } finally {
    scratch.free();
  }
}

const gnaHostCopy: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as KernelBackend;
  const { q, k, v } = inputs as GnaInputs;
  const problem = gnaProblemOf(inputs as GnaInputs, attrs as unknown as GnaKernelAttrs);
  const outShape = [...q.shape.slice(0, -1), problem.valueDim];
  const lseShape = q.shape.slice(0, -1);
  const qv = read(b, q);
  const kv = read(b, k);
  const vv = read(b, v);
  const dev = device(problem);
  let out: Float32Array;
  let lse: Float32Array;
  if (dev === undefined) {
    ({ output: out, lse } = gnaForward(problem, qv, kv, vv));
  } else {
    const options = optionsFor(attrs);
    [out, lse] = onDevice(dev.addon, [qv, kv, vv], [outShape, lseShape].map(
      (s) => s.reduce((x, y) => x * y, 1)), ([hq, hk, hv], [ho, hl]) => gnaForwardOnDevice(
      dev.addon, dev.plans, problem, options, hq, hk, hv, ho, hl));
  }
  return [output(b, outShape, out), output(b, lseShape, lse)];
};

const gnaGradHostCopy: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as KernelBackend;
  const x = inputs as GnaGradInputs;
  const problem = gnaProblemOf(x, attrs as unknown as GnaKernelAttrs);
  const values = [x.q, x.k, x.v, x.output, x.lse, x.dOutput, x.dLse].map((t) => read(b, t));
  const dev = device(problem);
  let grads: Float32Array[];
  if (dev === undefined) {
    const [q, k, v, output, lse, dOutput, dLse] = values;
    const r = gnaBackward(problem, { q, k, v, output, lse, dOutput, dLse });
    grads = [r.dq, r.dk, r.dv];
  } else {
    const options = optionsFor(attrs);
    grads = onDevice(dev.addon, values, [values[0].length, values[1].length, values[2].length],
      ([q, k, v, output, lse, dOutput, dLse], [dq, dk, dv]) => gnaBackwardOnDevice(dev.addon,
        dev.plans, problem, options, { q, k, v, output, lse, dOutput, dLse, dq, dk, dv }));
  }
  return [output(b, x.q.shape, grads[0]), output(b, x.k.shape, grads[1]),
    output(b, x.v.shape, grads[2])];
};

/** The host-copy GNA forward and backward kernels, for the backend named `backendName`. */
export function hostCopyGnaKernelConfigs(backendName: string): KernelConfig[] {
  return [
    { kernelName: GNA, backendName, kernelFunc: gnaHostCopy },
    { kernelName: GNA_GRAD, backendName, kernelFunc: gnaGradHostCopy },
  ];
}

/**
 * Kernels of the `cuda` backend with a native implementation: GNA forward and backward, token
 * permute and unpermute, the data-sharing Reshape and Identity, and the generic ops of ops/
 * (elementwise, shape, reductions, matmul). Everything else falls back to the CPU kernels
 * (cuda_backend.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { GNA, GNA_GRAD, GNA_TOKEN_PERMUTE, GNA_TOKEN_UNPERMUTE, GnaGradInputs, GnaInputs,
         GnaKernelAttrs, TokenPermuteInputs, TokenPermuteKernelAttrs,
         gnaProblemOf } from '../../src/kernel_names';
import { permuteLayout } from '../../src/layout';
import { GnaProblem } from '../../src/params';
import { gnaCpuConfig } from '../cpu/GeneralizedNeighborhoodAttention';
import { gnaGradCpuConfig } from '../cpu/GeneralizedNeighborhoodAttentionGrad';
import type { CudaBackend } from './cuda_backend';
import { CudaGnaOptions, checkPrecision, cudaGnaOptions, gnaBackwardOnDevice,
         gnaForwardOnDevice } from './gna_launch';
import { nativeOpConfigs } from './ops';

const BACKEND = 'cuda';
/** Head dims the float32 kernels cover (8 values per lane of a warp). */
export const MAX_NATIVE_HEAD_DIM = 256;

/** Process-wide options, overridden by a `precision` kernel attribute when an op passes one. */
export function optionsFor(attrs: NamedAttrMap | undefined): CudaGnaOptions {
  const precision = (attrs as { precision?: unknown } | undefined)?.precision;
  if (precision === undefined) return cudaGnaOptions;
  return { ...cudaGnaOptions, precision: checkPrecision(precision) };
}

export function nativeHeadDims(problem: GnaProblem): boolean {
  return problem.headDim <= MAX_NATIVE_HEAD_DIM && problem.valueDim <= MAX_NATIVE_HEAD_DIM;
}

/** Allocates outputs, runs `fill` on their buffers, and frees them again if it throws. */
function withOutputs(backend: CudaBackend, specs: Array<[number[], tf.DataType]>,
                     fill: (handles: number[]) => void): TensorInfo[] {
  const outs = specs.map(([shape, dtype]) => backend.makeDeviceOutput(shape, dtype));
  try {
    fill(outs.map((o) => o.handle));
  } catch (err) {
    for (const o of outs) backend.disposeData(o.info.dataId, true);
    throw err;
  }
  return outs.map((o) => o.info);
}

const gnaCuda: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as CudaBackend;
  const { q, k, v } = inputs as GnaInputs;
  const problem = gnaProblemOf(inputs as GnaInputs, attrs as unknown as GnaKernelAttrs);
  if (!nativeHeadDims(problem)) return b.runOnCpu(gnaCpuConfig, inputs, attrs);
  const options = optionsFor(attrs);
  return withOutputs(b, [[[...q.shape.slice(0, -1), problem.valueDim], 'float32'],
    [q.shape.slice(0, -1), 'float32']], ([out, lse]) => gnaForwardOnDevice(b.addon, b.plans,
    problem, options, b.handleOf(q), b.handleOf(k), b.handleOf(v), out, lse));
};

const gnaGradCuda: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as CudaBackend;
  const x = inputs as GnaGradInputs;
  const problem = gnaProblemOf(x, attrs as unknown as GnaKernelAttrs);
  if (!nativeHeadDims(problem)) return b.runOnCpu(gnaGradCpuConfig, inputs, attrs);
  const options = optionsFor(attrs);
  return withOutputs(b, [[x.q.shape, 'float32'], [x.k.shape, 'float32'], [x.v.shape, 'float32']],
    ([dq, dk, dv]) => gnaBackwardOnDevice(b.addon, b.plans, problem, options, {
      q: b.handleOf(x.q), k: b.handleOf(x.k), v: b.handleOf(x.v), output: b.handleOf(x.output),
      lse: b.handleOf(x.lse), dOutput: b.handleOf(x.dOutput), dLse: b.handleOf(x.dLse), dq, dk, dv,
    }));
};

function geometry(attrs: TokenPermuteKernelAttrs) {
  return { rank: attrs.spatialShape.length, spatialShape: attrs.spatialShape,
    tileShape: attrs.tileShape, dilation: attrs.dilation };
}

const tokenPermuteCuda: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as CudaBackend;
  const { x } = inputs as TokenPermuteInputs;
  const a = attrs as unknown as TokenPermuteKernelAttrs;
  const layout = permuteLayout(a);
  const [heads, dim] = x.shape.slice(-2);
  return withOutputs(b, [[[x.shape[0] * layout.groups, layout.sequenceLength, heads, dim],
    'float32']], ([y]) => b.addon.tokenPermute(geometry(a), x.shape[0], heads * dim,
    b.handleOf(x), y, 'float32'))[0];
};

const tokenUnpermuteCuda: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as CudaBackend;
  const { x } = inputs as TokenPermuteInputs;
  const a = attrs as unknown as TokenPermuteKernelAttrs;
  const layout = permuteLayout(a);
  const [heads, dim] = x.shape.slice(-2);
  const batch = x.shape[0] / layout.groups;
  return withOutputs(b, [[[batch, ...a.spatialShape, heads, dim], 'float32']],
    ([y]) => b.addon.tokenUnpermute(geometry(a), batch, heads * dim, b.handleOf(x), y))[0];
};

/** Shares the input's device data: a reshape moves no bytes. */
const reshapeCuda: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as { x: TensorInfo };
  const shape = tf.util.inferFromImplicitShape((attrs as { shape: number[] }).shape,
    tf.util.sizeFromShape(x.shape));
  if (tf.util.sizeFromShape(shape) !== tf.util.sizeFromShape(x.shape)) {
    throw new Error(`Reshape: cannot reshape [${x.shape}] to [${shape}] (sizes differ)`);
  }
  (backend as CudaBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape, dtype: x.dtype };
};

const identityCuda: KernelFunc = ({ inputs, backend }) => {
  const { x } = inputs as { x: TensorInfo };
  (backend as CudaBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

export const cudaKernelConfigs: KernelConfig[] = [
  { kernelName: GNA, backendName: BACKEND, kernelFunc: gnaCuda },
  { kernelName: GNA_GRAD, backendName: BACKEND, kernelFunc: gnaGradCuda },
  { kernelName: GNA_TOKEN_PERMUTE, backendName: BACKEND, kernelFunc: tokenPermuteCuda },
  { kernelName: GNA_TOKEN_UNPERMUTE, backendName: BACKEND, kernelFunc: tokenUnpermuteCuda },
  { kernelName: tf.Reshape, backendName: BACKEND, kernelFunc: reshapeCuda },
  { kernelName: tf.Identity, backendName: BACKEND, kernelFunc: identityCuda },
  ...nativeOpConfigs,
];

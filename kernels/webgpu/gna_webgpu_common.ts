/**
 * What the GNA kernels of this folder share around their programs: the device budget, token
 * permutation of inputs into a plan's layout, and extraction of a region of a combined output
 * buffer back to the natural layout.
 */
import { TensorInfo } from '@tensorflow/tfjs-core';
import { PermuteLayout, isIdentityPermute } from '../../src/layout';
import { TokenPermuteProgram, TokenUnpermuteProgram } from './token_permute_webgpu';
import { WebGPUBackendLike } from './webgpu_backend';

export interface DeviceBudget {
  workgroupBytes: number;
  invocations: number;
}

export function deviceBudget(backend: WebGPUBackendLike): DeviceBudget {
  const limits = backend.device.limits;
  return {
    workgroupBytes: limits.maxComputeWorkgroupStorageSize,
    invocations: limits.maxComputeInvocationsPerWorkgroup,
  };
}

/**
 * `x` `[B, ...spatial, ...rest]` in `layout`'s permuted order, `[B*G, seq, width]`; `x` itself
 * when the layout is the identity (1-D, no dilation, no padding): then the permute is a reshape.
 */
export function permuteInput(backend: WebGPUBackendLike, x: TensorInfo, layout: PermuteLayout,
                             batch: number, width: number): TensorInfo {
  if (isIdentityPermute(layout)) return x;
  const program = new TokenPermuteProgram(layout, batch, width);
  return backend.runWebGPUProgram(program, [x], 'float32', program.uniformData());
}

/**
 * The region of `combined` that starts at float `offset` and holds `[B*G, seq, width]` in
 * `layout`'s order, unpermuted to `shape` (`[B, ...spatial, ...]`).
 */
export function unpermuteRegion(backend: WebGPUBackendLike, combined: TensorInfo,
                                layout: PermuteLayout, batch: number, width: number,
                                offset: number, shape: number[]): TensorInfo {
  const program = new TokenUnpermuteProgram(layout, batch, width, offset);
  const out = backend.runWebGPUProgram(program, [combined], 'float32', program.uniformData());
  return { dataId: out.dataId, shape, dtype: out.dtype };
}

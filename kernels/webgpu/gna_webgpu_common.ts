/**
 * What the kernels of this folder share around their programs: the device budget, token
 * permutation into (and out of) a layout for the public permute ops, and extraction of one
 * result from a GNA program's combined output buffer.
 */
import { TensorInfo } from '@tensorflow/tfjs-core';
import { PermuteLayout, isIdentityPermute } from '../../src/layout';
import { RegionCopyProgram } from './region_copy_webgpu';
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

/** `x` `[B*G, seq, width]` in `layout`'s order back to the natural `shape` `[B, ...spatial, ...]`. */
export function unpermuteOutput(backend: WebGPUBackendLike, x: TensorInfo, layout: PermuteLayout,
                                batch: number, width: number, shape: number[]): TensorInfo {
  const program = new TokenUnpermuteProgram(layout, batch, width);
  const out = backend.runWebGPUProgram(program, [x], 'float32', program.uniformData());
  return { dataId: out.dataId, shape, dtype: out.dtype };
}

/** The `sizeFromShape(shape)` floats of `combined` from float `offset` on, as a tensor of `shape`. */
export function extractRegion(backend: WebGPUBackendLike, combined: TensorInfo, offset: number,
                              shape: number[]): TensorInfo {
  const size = shape.reduce((a, b) => a * b, 1);
  const program = new RegionCopyProgram(size, offset);
  const out = backend.runWebGPUProgram(program, [combined], 'float32', program.uniformData());
  return { dataId: out.dataId, shape, dtype: out.dtype };
}

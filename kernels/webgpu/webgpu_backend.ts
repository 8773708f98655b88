/**
 * The parts of tfjs-backend-webgpu's `WebGPUBackend` and `WebGPUProgram` that our kernels use,
 * typed structurally: the backend is an optional peer, so nothing here may import it at run time,
 * and our declaration files must not name its types either.
 */
import { DataId, DataType, TensorInfo } from '@tensorflow/tfjs-core';

/** A WGSL program for `runWebGPUProgram`: the same fields tfjs's own programs fill. */
export interface WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  variableComponents?: number[];
  workgroupSize: [number, number, number];
  outputComponent?: number;
  /** Extra fields of the `uniforms` struct, e.g. `'inOffset : i32,'`. */
  uniforms?: string;
  /** Adds `uniforms.size` (output elements / outputComponent) and a flat `main(index)`. */
  size?: boolean;
  getUserCode(): string;
}

export type ProgramUniform = Array<{ type: 'int32' | 'float32' | 'uint32'; data: number[] }>;

export interface WebGPUDeviceLimits {
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupsPerDimension: number;
}

export interface WebGPUBackendLike {
  device: { limits: WebGPUDeviceLimits };
  runWebGPUProgram(program: WebGPUProgram, inputs: TensorInfo[], outputDtype: DataType,
                   programDefinedUniform?: ProgramUniform): TensorInfo;
  makeTensorInfo(shape: number[], dtype: DataType, values?: Int32Array | Float32Array): TensorInfo;
  disposeData(dataId: DataId, force?: boolean): boolean;
  incRef(dataId: DataId): void;
}

export function webgpuBackend(backend: unknown): WebGPUBackendLike {
  return backend as WebGPUBackendLike;
}

/** Disposes intermediate results of a kernel (never its inputs). */
export function disposeAll(backend: WebGPUBackendLike, infos: TensorInfo[]) {
  for (const info of infos) backend.disposeData(info.dataId);
}

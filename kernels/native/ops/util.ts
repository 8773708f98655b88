/**
 * Shared plumbing of the native op kernels: outputs allocated on the device (freed again when a
 * launch throws), contiguous strides, and the per-kernel CPU fallback for the cases an op does
 * not cover natively (counted in cudaFallbackStats like any other fallback).
 */
import * as tf from '@tensorflow/tfjs-core';
import { DataType, KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap,
         TensorInfo } from '@tensorflow/tfjs-core';
import type { BufferHandle } from '../addon';
import type { CudaBackend } from '../cuda_backend';

export const BACKEND = 'cuda';
/** Highest rank the native shape kernels take (ops.h kOpRank). */
export const MAX_NATIVE_RANK = 6;

export function config(kernelName: string, kernelFunc: KernelFunc): KernelConfig {
  return { kernelName, backendName: BACKEND, kernelFunc };
}

/** Runs the CPU kernel of `kernelName` through the backend's counted fallback. */
export function fallback(b: CudaBackend, kernelName: string, inputs: NamedTensorInfoMap,
                         attrs: NamedAttrMap | undefined) {
  const cpu = tf.getKernel(kernelName, 'cpu');
  if (cpu === undefined) throw new Error(`cuda backend: no native or CPU kernel for ${kernelName}`);
  return b.runOnCpu(cpu, inputs, attrs);
}

/** One device output of `shape`, filled by `fill`; freed if `fill` throws. */
export function deviceOutput(b: CudaBackend, shape: number[], dtype: DataType,
                             fill: (handle: BufferHandle) => void): TensorInfo {
  const out = b.makeDeviceOutput(shape, dtype);
  try {
    fill(out.handle);
  } catch (err) {
    b.disposeData(out.info.dataId, true);
    throw err;
  }
  return out.info;
}

/** A tensor sharing `x`'s device data under another shape (Reshape semantics). */
export function shareAs(b: CudaBackend, x: TensorInfo, shape: number[]): TensorInfo {
  b.incRef(x.dataId);
  return { dataId: x.dataId, shape, dtype: x.dtype };
}

export function stridesOf(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

/** Bytes per element of a device-resident dtype; undefined for host-resident ones. */
export function elemBytes(dtype: DataType): 1 | 4 | undefined {
  if (dtype === 'float32' || dtype === 'int32') return 4;
  if (dtype === 'bool') return 1;
  return undefined;
}

/** Copies the strided view (shape, offset, strides) of x into a fresh contiguous tensor. */
export function stridedCopy(b: CudaBackend, x: TensorInfo, shape: number[], offset: number,
                            strides: number[], outShape = shape): TensorInfo {
  return deviceOutput(b, outShape, x.dtype, (y) => b.addon.stridedCopy(elemBytes(x.dtype) as 1 | 4,
    shape, offset, strides, 0, stridesOf(shape), b.handleOf(x), y));
}

/** `x` with its axes permuted (a device copy; no copy when the order is unchanged). */
export function transposeOnDevice(b: CudaBackend, x: TensorInfo, perm: number[]): TensorInfo {
  const s = stridesOf(x.shape);
  return stridedCopy(b, x, perm.map((p) => x.shape[p]), 0, perm.map((p) => s[p]));
}

/**
 * Native BatchMatMul and _FusedMatMul (bias of shape [N] or a scalar; linear, relu, relu6,
 * sigmoid, leakyrelu or elu) with transposes and broadcast batch dims, on the addon's GEMM.
 * The compute precision is a process-wide option like the GNA one: 'float32' (default: the exact
 * SIMT path, what every tfjs backend computes), 'tf32' or 'bfloat16' (tensor-core operands,
 * float32 accumulation), opted into where reduced precision is acceptable.
 */
import * as tf from '@tensorflow/tfjs-core';
import { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo,
         backend_util } from '@tensorflow/tfjs-core';
import type { CudaBackend } from '../cuda_backend';
import { config, deviceOutput, fallback, stridesOf } from './util';

export type CudaMatMulPrecision = 'float32' | 'tf32' | 'bfloat16';
const PRECISION_CODE: Record<CudaMatMulPrecision, number> = { float32: 0, tf32: 1, bfloat16: 2 };

export interface CudaMatMulOptions {
  /** Default 'float32' (exact); 'tf32' and 'bfloat16' run on tensor cores. */
  precision: CudaMatMulPrecision;
}

/** Options of every native matmul in this process. */
export const cudaMatMulOptions: CudaMatMulOptions = { precision: 'float32' };

export function setCudaMatMulOptions(options: Partial<CudaMatMulOptions>) {
  const p = options?.precision;
  if (p !== undefined) {
    if (!(p in PRECISION_CODE)) {
      throw new Error(`setCudaMatMulOptions: precision=${String(p)} must be one of ` +
        Object.keys(PRECISION_CODE).join(', '));
    }
    cudaMatMulOptions.precision = p;
  }
}

/** ops.h Activation codes of the fused epilogue. */
const ACTIVATION: Record<string, number> = {
  linear: 0, relu: 1, relu6: 2, sigmoid: 3, leakyrelu: 4, elu: 5,
};

const MAX_BATCH_RANK = 4;

interface Epilogue {
  bias?: TensorInfo;
  biasMode: 0 | 1 | 2;
  activation: number;
  alpha: number;
}

/** C = op(A) op(B) (+ epilogue) on the device; undefined when the shapes are not covered. */
function matMulOnDevice(b: CudaBackend, a: TensorInfo, bb: TensorInfo, transposeA: boolean,
                        transposeB: boolean, e: Epilogue): TensorInfo | undefined {
  const ra = a.shape.length, rb = bb.shape.length;
  if (a.dtype !== 'float32' || bb.dtype !== 'float32' || ra < 2 || rb < 2) return undefined;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = transposeB ? bb.shape[rb - 1] : bb.shape[rb - 2];
  const n = transposeB ? bb.shape[rb - 2] : bb.shape[rb - 1];
  if (k !== kb) {
    throw new Error(`Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ` +
      `${a.shape} and ${bb.shape} and transposeA=${transposeA} and transposeB=${transposeB} ` +
      'must match.');
  }
  const outerA = a.shape.slice(0, -2), outerB = bb.shape.slice(0, -2);
  const batchShape = backend_util.assertAndGetBroadcastShape(outerA, outerB);
  if (batchShape.length > MAX_BATCH_RANK) return undefined;
  const batchStrides = (outer: number[], matrix: number) => {
    const own = stridesOf(outer).map((s) => s * matrix);
    const pad = batchShape.length - outer.length;
    return batchShape.map((_, d) => (d < pad || outer[d - pad] === 1 ? 0 : own[d - pad]));
  };
  return deviceOutput(b, [...batchShape, m, n], 'float32', (c) => b.addon.gemm({
    m, n, k, transposeA, transposeB, batchShape,
    aBatchStrides: batchStrides(outerA, m * k), bBatchStrides: batchStrides(outerB, k * n),
    precision: PRECISION_CODE[cudaMatMulOptions.precision], biasMode: e.biasMode,
    activation: e.activation, alpha: e.alpha,
  }, b.handleOf(a), b.handleOf(bb), e.bias === undefined ? null : b.handleOf(e.bias), c));
}

const batchMatMulKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as CudaBackend;
  const { a, b: bb } = inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
  return matMulOnDevice(b, a, bb, transposeA, transposeB,
    { biasMode: 0, activation: 0, alpha: 0 }) ?? fallback(b, tf.BatchMatMul, inputs, attrs);
};

/** The epilogue for a bias [.., 1, N] / scalar and a cheap activation; undefined otherwise. */
function epilogueOf(inputs: NamedTensorInfoMap, attrs: NamedAttrMap, n: number): Epilogue | undefined {
  const { bias, preluActivationWeights } = inputs as { bias?: TensorInfo;
    preluActivationWeights?: TensorInfo };
  const { activation, leakyreluAlpha } = attrs as { activation?: string; leakyreluAlpha?: number };
  const code = ACTIVATION[activation ?? 'linear'];
  if (code === undefined || preluActivationWeights != null) return undefined;
  const e: Epilogue = { biasMode: 0, activation: code, alpha: leakyreluAlpha ?? 0.2 };
  if (bias != null) {
    const size = tf.util.sizeFromShape(bias.shape);
    const lastOnly = bias.shape.slice(0, -1).every((d) => d === 1);
    if (bias.dtype !== 'float32') return undefined;
    if (size === 1) e.biasMode = 2;
    else if (lastOnly && bias.shape[bias.shape.length - 1] === n) e.biasMode = 1;
    else return undefined;
    e.bias = bias;
  }
  return e;
}

const fusedMatMulKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as CudaBackend;
  const { a, b: bb, bias } = inputs as { a: TensorInfo; b: TensorInfo; bias?: TensorInfo };
  const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
  const n = transposeB ? bb.shape[bb.shape.length - 2] : bb.shape[bb.shape.length - 1];
  const e = epilogueOf(inputs, attrs as NamedAttrMap, n);
  // The output must keep the matmul's shape: a bias of higher rank would broadcast it further.
  const fits = bias == null || bias.shape.length <= Math.max(a.shape.length, bb.shape.length);
  const out = e !== undefined && fits ? matMulOnDevice(b, a, bb, transposeA, transposeB, e) : undefined;
  return out ?? fallback(b, tf._FusedMatMul, inputs, attrs);
};

export const matMulConfigs: KernelConfig[] = [
  config(tf.BatchMatMul, batchMatMulKernel),
  config(tf._FusedMatMul, fusedMatMulKernel),
];

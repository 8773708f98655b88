/**
 * Native elementwise kernels: broadcasting binary ops (float32; int32 where the result stays
 * int32), float32 unary math, Cast, Fill, ZerosLike and OnesLike. Other dtypes and ranks above 6
 * take the CPU fallback.
 */
import * as tf from '@tensorflow/tfjs-core';
import { DataType, KernelConfig, KernelFunc, TensorInfo, backend_util } from '@tensorflow/tfjs-core';
import type { CudaBackend } from '../cuda_backend';
import { MAX_NATIVE_RANK, config, deviceOutput, elemBytes, fallback, shareAs,
         stridesOf } from './util';

/** ops.h BinaryOp codes. */
const BINARY: Array<[string, number, boolean]> = [
  // [kernel, op code, int32 allowed]
  [tf.Add, 0, true], [tf.Sub, 1, true], [tf.Multiply, 2, true], [tf.RealDiv, 3, false],
  [tf.Maximum, 4, true], [tf.Minimum, 5, true], [tf.Pow, 6, false], [tf.SquaredDifference, 7, true],
];

/** ops.h UnaryOp codes (float32). */
const UNARY: Array<[string, number]> = [
  [tf.Exp, 0], [tf.Log, 1], [tf.Sqrt, 2], [tf.Rsqrt, 3], [tf.Square, 4], [tf.Tanh, 5],
  [tf.Erf, 6], [tf.Sigmoid, 7], [tf.Neg, 8], [tf.Softplus, 9], [tf.Relu, 10], [tf.Abs, 11],
  [tf.Reciprocal, 12],
];

/** Element strides of `shape` seen through the broadcast `outShape` (0 on broadcast dims). */
function broadcastStrides(shape: number[], outShape: number[]): number[] {
  const own = stridesOf(shape);
  const pad = outShape.length - shape.length;
  return outShape.map((_, d) => (d < pad || shape[d - pad] === 1 ? 0 : own[d - pad]));
}

function binaryKernel(name: string, op: number, intOk: boolean): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const b = backend as CudaBackend;
    const { a, b: bb } = inputs as { a: TensorInfo; b: TensorInfo };
    const dtype = a.dtype;
    const outShape = backend_util.assertAndGetBroadcastShape(a.shape, bb.shape);
    if (dtype !== bb.dtype || !(dtype === 'float32' || (dtype === 'int32' && intOk)) ||
        outShape.length > MAX_NATIVE_RANK) {
      return fallback(b, name, inputs, attrs);
    }
    return deviceOutput(b, outShape, dtype, (y) => b.addon.binary(op, dtype, outShape,
      broadcastStrides(a.shape, outShape), broadcastStrides(bb.shape, outShape), b.handleOf(a),
      b.handleOf(bb), y));
  };
}

function unaryKernel(name: string, op: number): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const b = backend as CudaBackend;
    const { x } = inputs as { x: TensorInfo };
    if (x.dtype !== 'float32') return fallback(b, name, inputs, attrs);
    const n = tf.util.sizeFromShape(x.shape);
    return deviceOutput(b, x.shape, 'float32', (y) => b.addon.unary(op, n, b.handleOf(x), y));
  };
}

const castKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as CudaBackend;
  const { x } = inputs as { x: TensorInfo };
  const to = (attrs as { dtype: DataType }).dtype;
  if (elemBytes(x.dtype) === undefined || elemBytes(to) === undefined) {
    return fallback(b, tf.Cast, inputs, attrs);
  }
  if (to === x.dtype) return shareAs(b, x, x.shape);
  const n = tf.util.sizeFromShape(x.shape);
  return deviceOutput(b, x.shape, to, (y) => b.addon.cast(x.dtype, to, n, b.handleOf(x), y));
};

/** The bit pattern of `value` as one element of `dtype`. */
function bitsOf(value: number, dtype: DataType): number {
  if (dtype === 'float32') return new Uint32Array(new Float32Array([value]).buffer)[0];
  if (dtype === 'int32') return new Uint32Array(new Int32Array([value]).buffer)[0];
  return value ? 1 : 0;
}

function filled(b: CudaBackend, shape: number[], dtype: DataType, value: number): TensorInfo {
  const n = tf.util.sizeFromShape(shape);
  return deviceOutput(b, shape, dtype, (y) =>
    b.addon.fill(elemBytes(dtype) as 1 | 4, n, bitsOf(value, dtype), y));
}

const fillKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as CudaBackend;
  const { shape, value, dtype } = attrs as unknown as { shape: number[]; value: number | string;
    dtype: DataType };
  const $dtype = dtype ?? tf.util.inferDtype(value);
  if (elemBytes($dtype) === undefined || typeof value !== 'number') {
    return fallback(b, tf.Fill, inputs, attrs);
  }
  return filled(b, shape, $dtype, value);
};

function likeKernel(name: string, value: number): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const b = backend as CudaBackend;
    const { x } = inputs as { x: TensorInfo };
    if (elemBytes(x.dtype) === undefined) return fallback(b, name, inputs, attrs);
    return filled(b, x.shape, x.dtype, value);
  };
}

export const elementwiseConfigs: KernelConfig[] = [
  ...BINARY.map(([name, op, intOk]) => config(name, binaryKernel(name, op, intOk))),
  ...UNARY.map(([name, op]) => config(name, unaryKernel(name, op))),
  config(tf.Cast, castKernel),
  config(tf.Fill, fillKernel),
  config(tf.ZerosLike, likeKernel(tf.ZerosLike, 0)),
  config(tf.OnesLike, likeKernel(tf.OnesLike, 1)),
];

/**
 * Native reductions (Sum, Mean, Max, Min, Prod over any axes of a float32 tensor) and Softmax
 * over the last axis. Reduced axes are first moved last by a device transpose when they are not
 * already innermost; the addon then reduces contiguous rows.
 */
import * as tf from '@tensorflow/tfjs-core';
import { KernelConfig, KernelFunc, TensorInfo, backend_util } from '@tensorflow/tfjs-core';
import type { CudaBackend } from '../cuda_backend';
import { MAX_NATIVE_RANK, config, deviceOutput, fallback, transposeOnDevice } from './util';

/** ops.h ReduceOp codes, and the attribute naming the axes. */
const REDUCE: Array<[string, number, 'axis' | 'reductionIndices']> = [
  [tf.Sum, 0, 'axis'], [tf.Mean, 1, 'axis'], [tf.Max, 2, 'reductionIndices'],
  [tf.Min, 3, 'axis'], [tf.Prod, 4, 'axis'],
];

function reduceKernel(name: string, op: number, axisAttr: string): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const b = backend as CudaBackend;
    const { x } = inputs as { x: TensorInfo };
    if (x.dtype !== 'float32' || x.shape.length > MAX_NATIVE_RANK) {
      return fallback(b, name, inputs, attrs);
    }
    const a = attrs as Record<string, unknown>;
    const keepDims = a.keepDims as boolean;
    const axes = tf.util.parseAxisParam(a[axisAttr] as number | number[], x.shape);
    const perm = backend_util.getAxesPermutation(axes, x.shape.length);
    const inner = perm == null ? axes : backend_util.getInnerMostAxes(axes.length, x.shape.length);
    const moved = perm == null ? x : transposeOnDevice(b, x, perm);
    try {
      const [outShape, reduceShape] = backend_util.computeOutAndReduceShapes(moved.shape, inner);
      const shape = keepDims ? backend_util.expandShapeToKeepDim(outShape, axes) : outShape;
      const rows = tf.util.sizeFromShape(outShape), cols = tf.util.sizeFromShape(reduceShape);
      return deviceOutput(b, shape, 'float32', (y) =>
        b.addon.reduceRows(op, 'float32', rows, cols, b.handleOf(moved), y));
    } finally {
      if (moved !== x) b.disposeData(moved.dataId, true);
    }
  };
}

const softmaxKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as CudaBackend;
  const { logits } = inputs as { logits: TensorInfo };
  const rank = logits.shape.length;
  const dim = (attrs as { dim: number }).dim;
  if (logits.dtype !== 'float32' || rank === 0 || (dim !== -1 && dim !== rank - 1)) {
    return fallback(b, tf.Softmax, inputs, attrs);
  }
  const cols = logits.shape[rank - 1];
  const rows = tf.util.sizeFromShape(logits.shape) / Math.max(cols, 1);
  return deviceOutput(b, logits.shape, 'float32', (y) =>
    b.addon.softmaxRows(rows, cols, b.handleOf(logits), y));
};

export const reduceConfigs: KernelConfig[] = [
  ...REDUCE.map(([name, op, axisAttr]) => config(name, reduceKernel(name, op, axisAttr))),
  config(tf.Softmax, softmaxKernel),
];

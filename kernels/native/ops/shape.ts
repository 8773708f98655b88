/**
 * Native data-movement kernels, all on the addon's strided copy: Transpose, Slice, StridedSlice,
 * SplitV and Concat; GatherV2 (batchDims 0); and the no-copy ExpandDims, which shares the
 * input's data like Reshape. Host-resident dtypes and ranks above 6 take the CPU fallback.
 */
import * as tf from '@tensorflow/tfjs-core';
import { KernelConfig, KernelFunc, TensorInfo, backend_util, slice_util } from '@tensorflow/tfjs-core';
import type { CudaBackend } from '../cuda_backend';
import { MAX_NATIVE_RANK, config, deviceOutput, elemBytes, fallback, shareAs, stridedCopy,
         stridesOf, transposeOnDevice } from './util';

function native(...ts: TensorInfo[]): boolean {
  return ts.every((t) => elemBytes(t.dtype) !== undefined && t.shape.length <= MAX_NATIVE_RANK);
}

const transposeKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as CudaBackend;
  const { x } = inputs as { x: TensorInfo };
  if (!native(x)) return fallback(b, tf.Transpose, inputs, attrs);
  return transposeOnDevice(b, x, (attrs as { perm: number[] }).perm);
};

/** The block of x at `begin` of `size`, copied out. */
function sliceOnDevice(b: CudaBackend, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  const s = stridesOf(x.shape);
  const offset = begin.reduce((acc, v, d) => acc + v * s[d], 0);
  return stridedCopy(b, x, size, offset, s);
}

const sliceKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as CudaBackend;
  const { x } = inputs as { x: TensorInfo };
  if (!native(x)) return fallback(b, tf.Slice, inputs, attrs);
  const { begin, size } = attrs as unknown as { begin: number | number[]; size: number | number[] };
  const [$begin, $size] = slice_util.parseSliceParams(x as tf.Tensor, begin, size);
  slice_util.assertParamsValid(x as tf.Tensor, $begin, $size);
  return sliceOnDevice(b, x, $begin, $size);
};

interface StridedSliceAttrs {
  begin: number[]; end: number[]; strides: number[]; beginMask: number; endMask: number;
  ellipsisMask: number; newAxisMask: number; shrinkAxisMask: number;
}

const stridedSliceKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as CudaBackend;
  const { x } = inputs as { x: TensorInfo };
  if (!native(x)) return fallback(b, tf.StridedSlice, inputs, attrs);
  const a = attrs as unknown as StridedSliceAttrs;
  const info = slice_util.sliceInfo(x.shape, a.begin, a.end, a.strides, a.beginMask, a.endMask,
    a.ellipsisMask, a.newAxisMask, a.shrinkAxisMask);
  if (info.isIdentity) return shareAs(b, x, info.finalShape);
  // Per x axis, element i reads x[begin + i * stride] (shrunk axes have one element).
  const size = info.begin.map((v, d) => {
    const st = info.strides[d];
    return Math.max(0, Math.ceil((st > 0 ? info.end[d] - v : v - info.end[d]) / Math.abs(st)));
  });
  if (tf.util.sizeFromShape(size) !== tf.util.sizeFromShape(info.finalShape)) {
    return fallback(b, tf.StridedSlice, inputs, attrs);
  }
  const s = stridesOf(x.shape);
  const empty = size.some((d) => d === 0);
  const offset = empty ? 0 : info.begin.reduce((acc, v, d) => acc + v * s[d], 0);
  return stridedCopy(b, x, size, offset, info.strides.map((st, d) => st * s[d]), info.finalShape);
};

const splitVKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as CudaBackend;
  const { x } = inputs as { x: TensorInfo };
  if (!native(x)) return fallback(b, tf.SplitV, inputs, attrs);
  const { numOrSizeSplits, axis } = attrs as unknown as { numOrSizeSplits: number | number[];
    axis: number };
  const $axis = tf.util.parseAxisParam(axis, x.shape)[0];
  const sizes = backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, $axis);
  const begin = new Array<number>(x.shape.length).fill(0);
  const outs: TensorInfo[] = [];
  try {
    for (const s of sizes) {
      const size = [...x.shape];
      size[$axis] = s;
      outs.push(sliceOnDevice(b, x, [...begin], size));
      begin[$axis] += s;
    }
  } catch (err) {
    for (const o of outs) b.disposeData(o.dataId, true);
    throw err;
  }
  return outs;
};

const concatKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as CudaBackend;
  const list = Object.values(inputs) as TensorInfo[];
  const dtype = list[0].dtype;
  if (!native(...list) || list.some((t) => t.dtype !== dtype)) {
    return fallback(b, tf.Concat, inputs, attrs);
  }
  const $axis = tf.util.parseAxisParam((attrs as { axis: number }).axis, list[0].shape)[0];
  const shapes = list.map((t) => t.shape);
  backend_util.assertParamsConsistent(shapes, $axis);
  const outShape = backend_util.computeOutShape(shapes, $axis);
  const outStrides = stridesOf(outShape);
  const bytes = elemBytes(dtype) as 1 | 4;
  return deviceOutput(b, outShape, dtype, (y) => {
    let at = 0;
    for (const t of list) {
      if (tf.util.sizeFromShape(t.shape) > 0) {
        b.addon.stridedCopy(bytes, t.shape, 0, stridesOf(t.shape), at * outStrides[$axis],
          outStrides, b.handleOf(t), y);
      }
      at += t.shape[$axis];
    }
  });
};

const gatherV2Kernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as CudaBackend;
  const { x, indices } = inputs as { x: TensorInfo; indices: TensorInfo };
  const { axis, batchDims } = attrs as unknown as { axis: number; batchDims: number };
  if (!native(x) || indices.dtype !== 'int32' || (batchDims ?? 0) !== 0) {
    return fallback(b, tf.GatherV2, inputs, attrs);
  }
  const $axis = tf.util.parseAxisParam(axis, x.shape)[0];
  const axisSize = x.shape[$axis];
  // Indices are few; checking them on the host gives the CPU kernel's error for a bad one.
  const idx = b.readSync(indices.dataId) as Int32Array;
  for (const v of idx) {
    if (v < 0 || v >= axisSize) {
      throw new Error(`GatherV2: the index value ${v} is not in [0, ${axisSize - 1}]`);
    }
  }
  const outShape = [...x.shape.slice(0, $axis), ...indices.shape, ...x.shape.slice($axis + 1)];
  const outer = tf.util.sizeFromShape(x.shape.slice(0, $axis));
  const inner = tf.util.sizeFromShape(x.shape.slice($axis + 1));
  return deviceOutput(b, outShape, x.dtype, (y) => b.addon.gather(elemBytes(x.dtype) as 1 | 4,
    outer, axisSize, inner, idx.length, b.handleOf(x), b.handleOf(indices), y));
};

const expandDimsKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { input: x } = inputs as { input: TensorInfo };
  const dim = (attrs as { dim: number }).dim;
  const rank = x.shape.length;
  if (dim < -(rank + 1) || dim > rank) {
    throw new Error(`ExpandDims: axis ${dim} must be in [${-(rank + 1)}, ${rank}]`);
  }
  const shape = [...x.shape];
  shape.splice(dim < 0 ? rank + dim + 1 : dim, 0, 1);
  return shareAs(backend as CudaBackend, x, shape);
};

export const shapeConfigs: KernelConfig[] = [
  config(tf.Transpose, transposeKernel),
  config(tf.Slice, sliceKernel),
  config(tf.StridedSlice, stridedSliceKernel),
  config(tf.SplitV, splitVKernel),
  config(tf.Concat, concatKernel),
  config(tf.GatherV2, gatherV2Kernel),
  config(tf.ExpandDims, expandDimsKernel),
];

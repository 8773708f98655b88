/** Token permutation is a gather with zero padding, so each op's gradient is the other op. */
import * as tf from '@tensorflow/tfjs-core';
import { GNA_TOKEN_PERMUTE, GNA_TOKEN_UNPERMUTE } from '../kernel_names';

export const tokenPermuteGradConfig: tf.GradConfig = {
  kernelName: GNA_TOKEN_PERMUTE,
  gradFunc: (dy: tf.Tensor | tf.Tensor[], _saved: tf.Tensor[], attrs: tf.NamedAttrMap) => ({
    x: () => tf.engine().runKernel(GNA_TOKEN_UNPERMUTE, { x: dy as tf.Tensor }, attrs) as tf.Tensor,
  }),
};

export const tokenUnpermuteGradConfig: tf.GradConfig = {
  kernelName: GNA_TOKEN_UNPERMUTE,
  gradFunc: (dy: tf.Tensor | tf.Tensor[], _saved: tf.Tensor[], attrs: tf.NamedAttrMap) => ({
    x: () => tf.engine().runKernel(GNA_TOKEN_PERMUTE, { x: dy as tf.Tensor }, attrs) as tf.Tensor,
  }),
};

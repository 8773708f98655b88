/**
 * Gradient of `GeneralizedNeighborhoodAttention`: one backward kernel recomputes the
 * probabilities from the saved output and LSE (spec §3.4) and returns dq, dk, dv. The LSE's own
 * gradient enters as `D - dLse` in `dS = P * (dO V^T - D + dLse)`, which is what makes the
 * additional-KV merge differentiate exactly.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GNA, GNA_GRAD } from '../kernel_names';

export const gnaGradConfig: tf.GradConfig = {
  kernelName: GNA,
  inputsToSave: ['q', 'k', 'v'],
  outputsToSave: [true, true],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [dOutput, dLse] = dy as tf.Tensor[];
    const [q, k, v, output, lse] = saved;
    const [dq, dk, dv] = tf.engine().runKernel(GNA_GRAD,
      { q, k, v, output, lse, dOutput, dLse }, attrs) as tf.Tensor[];
    return { q: () => dq, k: () => dk, v: () => dv };
  },
};

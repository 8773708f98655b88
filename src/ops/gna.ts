/**
 * `gna(q, k, v, options)`: Generalized Neighborhood Attention with NATTEN's semantics
 * (spec §1, §3.1). Validates once, runs the `GeneralizedNeighborhoodAttention` kernel of the
 * active backend, and merges any additional keys/values through a dense attention and the LSE
 * merge, exactly as NATTEN does.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GNA, GnaKernelAttrs } from '../kernel_names';
import { checkAdditionalKv, GnaWindowOptions, normalizeGnaProblem } from '../params';
import { denseAttention } from './dense_attention';
import { mergeAttentions } from './merge_attentions';

export interface GnaOptions extends GnaWindowOptions {
  /** `[B, S, Hkv, D]`: keys every query attends to, unmasked (text tokens of a DiT, say). */
  additionalKeys?: tf.Tensor;
  /** `[B, S, Hkv, Dv]`: the values of `additionalKeys`. */
  additionalValues?: tf.Tensor;
  /** Also return the natural-log LSE `[B, ...spatial, H]` of the scaled scores. */
  returnLse?: boolean;
}

// A type alias, not an interface, so that it is a `tf.TensorContainer`: `tf.tidy(() => ...)` can
// return it.
export type GnaResult = {
  output: tf.Tensor;
  lse: tf.Tensor;
};

function checkTensor(name: string, t: unknown) {
  if (!(t instanceof tf.Tensor)) {
    throw new Error(`gna: ${name} must be a tf.Tensor, got ${t === null ? 'null' : typeof t}`);
  }
}

/**
 * q `[B, ...spatial, H, D]`, k `[B, ...spatial, Hkv, D]`, v `[B, ...spatial, Hkv, Dv]` (1 to 3
 * spatial dims) to the output `[B, ...spatial, H, Dv]`, or `{output, lse}` with `returnLse`.
 */
export function gna(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, options: GnaOptions & {returnLse: true}): GnaResult;
export function gna(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, options: GnaOptions): tf.Tensor;
export function gna(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor,
                    options: GnaOptions): tf.Tensor | GnaResult {
  checkTensor('query', q);
  checkTensor('key', k);
  checkTensor('value', v);
  const problem = normalizeGnaProblem(q, k, v, options);
  const { additionalKeys, additionalValues } = options;
  if (additionalKeys !== undefined) checkTensor('additionalKeys', additionalKeys);
  if (additionalValues !== undefined) checkTensor('additionalValues', additionalValues);
  const hasAdditional = checkAdditionalKv(problem, additionalKeys, additionalValues);
  if (options.returnLse !== undefined && typeof options.returnLse !== 'boolean') {
    throw new Error(`gna: returnLse=${options.returnLse} must be a boolean`);
  }
  const attrs: GnaKernelAttrs = {
    windowSize: problem.windowSize, stride: problem.stride, dilation: problem.dilation,
    isCausal: problem.isCausal, scale: problem.scale,
  };
  const result = tf.tidy(() => {
    const [output, lse] = tf.engine().runKernel(GNA, { q, k, v },
      attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    if (!hasAdditional) return { output, lse };
    const tokens = problem.spatialShape.reduce((a, b) => a * b, 1);
    const { batch, heads, headDim, valueDim } = problem;
    const extra = denseAttention(tf.reshape(q, [batch, tokens, heads, headDim]),
      additionalKeys as tf.Tensor, additionalValues as tf.Tensor, problem.scale);
    const merged = mergeAttentions(
      [tf.reshape(output, [batch, tokens, heads, valueDim]), extra.output],
      [tf.reshape(lse, [batch, tokens, heads]), extra.lse]);
    return {
      output: tf.reshape(merged.output, output.shape),
      lse: tf.reshape(merged.lse, lse.shape),
    };
  });
  if (options.returnLse) return result;
  result.lse.dispose();
  return result.output;
}

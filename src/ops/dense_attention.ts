/**
 * Dense multi-head attention written with tfjs ops, heads-last like GNA. It serves the additional
 * keys/values of GNA (attended by every query, unmasked) and the dense baselines of benchmarks and
 * model adapters. GQA: query head `h` uses KV head `floor(h / (H / Hkv))`.
 */
import * as tf from '@tensorflow/tfjs-core';

// A type alias, not an interface, so that it is a `tf.TensorContainer`: `tf.tidy(() => ...)` can
// return it.
export type AttentionResult = {
  output: tf.Tensor;
  lse: tf.Tensor;
};

/** Rejects what would otherwise reshape wrongly (GQA with H % Hkv != 0) or fail deep in tfjs. */
function checkDenseInputs(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, scale: number) {
  const fail = (message: string): never => {
    throw new Error(`denseAttention: ${message}`);
  };
  for (const [name, t] of [['query', q], ['key', k], ['value', v]] as const) {
    if (!(t instanceof tf.Tensor)) fail(`${name} must be a tf.Tensor, got ${t === null ? 'null' : typeof t}`);
    if (t.dtype !== 'float32') fail(`${name} has dtype ${t.dtype} (only float32 is supported)`);
    if (t.rank !== 4) {
      fail(`${name} has rank ${t.rank} (shape [${t.shape}]); expected rank 4 [batch, tokens, heads, dim]`);
    }
  }
  const [batch, , heads, dim] = q.shape;
  const [kBatch, keys, kvHeads, kDim] = k.shape;
  if (kBatch !== batch || v.shape[0] !== batch) {
    fail(`batch sizes differ (query ${batch}, key ${kBatch}, value ${v.shape[0]})`);
  }
  if (kDim !== dim) fail(`key dim ${kDim} != query dim ${dim} (they must match)`);
  if (v.shape[1] !== keys || v.shape[2] !== kvHeads) {
    fail(`value shape [${v.shape}] must have the tokens and heads of key [${k.shape}]`);
  }
  if (heads % kvHeads !== 0) {
    fail(`key/value heads ${kvHeads} do not evenly divide query heads ${heads} ` +
      '(heads % kvHeads == 0, as GQA requires)');
  }
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale === 0) {
    fail(`scale=${scale} must be a finite non-zero number`);
  }
}

/**
 * q `[B, Nq, H, D]`, k `[B, S, Hkv, D]`, v `[B, S, Hkv, Dv]` to output `[B, Nq, H, Dv]` and the
 * natural-log LSE `[B, Nq, H]` of the scaled scores.
 */
export function denseAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor,
                               scale: number): AttentionResult {
  checkDenseInputs(q, k, v, scale);
  const [batch, queries, heads, dim] = q.shape;
  const [, keys, kvHeads] = k.shape;
  const valueDim = v.shape[3] as number;
  const group = heads / kvHeads;
  return tf.tidy(() => {
    // Gather each KV head's query group into one matrix so one matMul serves the whole group.
    const qg = tf.reshape(tf.transpose(tf.reshape(q, [batch, queries, kvHeads, group, dim]),
      [0, 2, 3, 1, 4]), [batch * kvHeads, group * queries, dim]);
    const kg = tf.reshape(tf.transpose(k, [0, 2, 1, 3]), [batch * kvHeads, keys, dim]);
    const vg = tf.reshape(tf.transpose(v, [0, 2, 1, 3]), [batch * kvHeads, keys, valueDim]);
    const scores = tf.mul(tf.matMul(qg, kg, false, true), scale);
    const lse = tf.logSumExp(scores, -1, true);
    const out = tf.matMul(tf.exp(tf.sub(scores, lse)), vg);
    return {
      output: tf.reshape(tf.transpose(tf.reshape(out, [batch, kvHeads, group, queries, valueDim]),
        [0, 3, 1, 2, 4]), [batch, queries, heads, valueDim]),
      lse: tf.reshape(tf.transpose(tf.reshape(lse, [batch, kvHeads, group, queries]), [0, 3, 1, 2]),
        [batch, queries, heads]),
    };
  });
}

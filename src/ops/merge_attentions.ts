/**
 * Merges attention results computed over disjoint key sets into the attention over their union
 * (spec §3.3), folding left to right:
 *   O = O1 - sigmoid(L2 - L1) * (O1 - O2)      (= (e^L1 O1 + e^L2 O2) / (e^L1 + e^L2))
 *   L = L1 + softplus(L2 - L1)                 (= log(e^L1 + e^L2))
 * Built from differentiable tfjs ops, so its gradient is exact: the LSE gradient it sends back to
 * each part is what makes every part's backward equal the union softmax's, the same result as
 * NATTEN's "autograd fix" of overwriting each part's saved O and LSE with the merged ones.
 */
import * as tf from '@tensorflow/tfjs-core';
import { AttentionResult } from './dense_attention';

function checkPart(op: string, name: string, t: unknown) {
  if (!(t instanceof tf.Tensor)) {
    throw new Error(`${op}: ${name} must be a tf.Tensor, got ${t === null ? 'null' : typeof t}`);
  }
  if (t.dtype !== 'float32') {
    throw new Error(`${op}: ${name} has dtype ${t.dtype} (only float32 is supported)`);
  }
}

export function mergeAttentions(outputs: tf.Tensor[], lses: tf.Tensor[]): AttentionResult {
  const op = 'mergeAttentions';
  if (!Array.isArray(outputs) || !Array.isArray(lses)) {
    throw new Error(`${op}: outputs and lses must be arrays of tensors`);
  }
  if (outputs.length !== lses.length || outputs.length < 2) {
    throw new Error(`${op}: needs the same number (at least 2) of outputs and lses, got ` +
      `${outputs.length} outputs and ${lses.length} lses`);
  }
  outputs.forEach((o, i) => checkPart(op, `outputs[${i}]`, o));
  lses.forEach((l, i) => checkPart(op, `lses[${i}]`, l));
  const shape = outputs[0].shape;
  outputs.forEach((o, i) => {
    if (o.rank !== 4) {
      throw new Error(`${op}: outputs[${i}] has rank ${o.rank} (shape [${o.shape}]); expected ` +
        'rank 4 [batch, tokens, heads, dim]');
    }
    if (o.shape.some((x, j) => x !== shape[j])) {
      throw new Error(`${op}: outputs[${i}] has shape [${o.shape}] but outputs[0] has ` +
        `[${shape}] (every output must be [batch, tokens, heads, dim] of one shape)`);
    }
    const l = lses[i];
    if (l.rank !== 3 || l.shape.some((x, j) => x !== shape[j])) {
      throw new Error(`${op}: lses[${i}] has shape [${l.shape}]; expected [${shape.slice(0, 3)}] ` +
        '(the output shape without its last dim)');
    }
  });
  return tf.tidy(() => {
    let out = outputs[0];
    let lse = lses[0];
    for (let i = 1; i < outputs.length; i++) {
      const weight = tf.expandDims(tf.sigmoid(tf.sub(lses[i], lse)), -1);
      out = tf.sub(out, tf.mul(weight, tf.sub(out, outputs[i])));
      // softplus, not the equal `-logSigmoid(L1 - L2)`: tfjs's logSigmoid gradient reads its
      // input from a closure, which this tidy disposes before any backward pass runs.
      lse = tf.add(lse, tf.softplus(tf.sub(lses[i], lse)));
    }
    return { output: out, lse };
  });
}

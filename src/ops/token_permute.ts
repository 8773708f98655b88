/**
 * `tokenPermute` / `tokenUnpermute`: lay a 1- to 3-D token grid out tile by tile (spec §4) so
 * that an attention kernel reads each multi-dimensional tile as one contiguous block, and back.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GNA_TOKEN_PERMUTE, GNA_TOKEN_UNPERMUTE } from '../kernel_names';
import { checkTensorRank, normalizeTokenPermute, TokenPermuteOptions,
         TokenUnpermuteOptions } from '../params';
import { permuteLayout } from '../layout';

function checkTensor(op: string, t: unknown) {
  if (!(t instanceof tf.Tensor)) {
    throw new Error(`${op}: x must be a tf.Tensor, got ${t === null ? 'null' : typeof t}`);
  }
}

/**
 * `x` `[B, ...spatial, H, E]` to `[B * prod(dilation), seq, H, E]`, zero padded to whole tiles;
 * `seq = prod(ceil(L / (tile * dilation)) * tile)`.
 */
export function tokenPermute(x: tf.Tensor, options: TokenPermuteOptions): tf.Tensor {
  const op = 'tokenPermute';
  checkTensor(op, x);
  checkTensorRank(op, 'x', x, 4, 6, '[batch, ...spatial (1 to 3 dims), heads, dim]');
  const attrs = normalizeTokenPermute(op, x.shape.slice(1, x.rank - 2), options);
  return tf.engine().runKernel(GNA_TOKEN_PERMUTE, { x },
    attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/** The inverse of `tokenPermute`: `[B * G, seq, H, E]` back to `[B, ...shape, H, E]`. */
export function tokenUnpermute(x: tf.Tensor, options: TokenUnpermuteOptions): tf.Tensor {
  const op = 'tokenUnpermute';
  checkTensor(op, x);
  checkTensorRank(op, 'x', x, 4, 4, '[batch * dilationGroups, permutedTokens, heads, dim]');
  if (!Array.isArray(options?.shape)) {
    throw new Error(`${op}: options.shape (the original spatial shape) is required`);
  }
  const attrs = normalizeTokenPermute(op, options.shape, options);
  const layout = permuteLayout(attrs);
  if (x.shape[0] % layout.groups !== 0 || x.shape[1] !== layout.sequenceLength) {
    throw new Error(`${op}: x shape [${x.shape}] does not match the layout of shape ` +
      `[${attrs.spatialShape}], tileShape [${attrs.tileShape}], dilation [${attrs.dilation}] ` +
      `(expected [batch*${layout.groups}, ${layout.sequenceLength}, heads, dim])`);
  }
  return tf.engine().runKernel(GNA_TOKEN_UNPERMUTE, { x },
    attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

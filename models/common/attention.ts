/**
 * The attention interface of the blocks, with a dense and a GNA implementation (models.md §5.2).
 * A block hands its attention site the joint q/k/v `[B, L, H, D]` (after QK-norm and RoPE) and a
 * `JointLayout` telling where the visual grid and the text tokens sit; the site returns the
 * attention output `[B, L, H, Dv]` in the same token order. Swapping the site is all it takes to
 * make a block sparse.
 */
import * as tf from '@tensorflow/tfjs-core';
import { denseAttention } from '../../src/ops/dense_attention';
import { gna } from '../../src/ops/gna';
import { GnaWindowOptions } from '../../src/params';
import { JointLayout, joinJoint, splitJoint } from './joint_layout';
import { gnaOnTiledTokens } from './tiled_tokens';

export { JointLayout, joinJoint, splitJoint };

/** An attention site of a block: dense, GNA, or a step-aware switch between them. */
export interface JointAttention {
  readonly kind: string;
  attend(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, layout: JointLayout, scale: number): tf.Tensor;
}

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

/** Checks the joint tensors against the layout; returns the per-batch valid text counts. */
export function checkJointLayout(q: tf.Tensor, layout: JointLayout, op: string): number[] {
  const visual = product(layout.grid);
  const { textTokens } = layout;
  if (q.rank !== 4 || q.shape[1] !== visual + textTokens) {
    throw new Error(`${op}: query shape [${q.shape}] must be [batch, ${visual + textTokens}, ` +
      `heads, dim] (grid [${layout.grid}] = ${visual} visual + ${textTokens} text tokens)`);
  }
  const batch = q.shape[0];
  const valid = layout.validText ?? new Array<number>(batch).fill(textTokens);
  if (valid.length !== batch || valid.some((n) => !Number.isInteger(n) || n < 0 || n > textTokens)) {
    throw new Error(`${op}: validText [${valid}] must hold ${batch} integers in [0, ${textTokens}]`);
  }
  return valid;
}

/**
 * Runs `fn` once for the whole batch when every element has the same valid text count, else once
 * per element (the text masks differ, so the key sets differ), concatenating along the batch.
 */
function byTextValidity(tensors: tf.Tensor[], valid: number[],
                        fn: (parts: tf.Tensor[], validText: number) => tf.Tensor): tf.Tensor {
  if (valid.every((n) => n === valid[0])) return fn(tensors, valid[0]);
  const outs = valid.map((n, b) => fn(tensors.map((t) => tf.slice(t, b, 1)), n));
  return tf.concat(outs, 0);
}

/** The first `n` text tokens. */
function validPart(text: tf.Tensor, n: number): tf.Tensor {
  return tf.slice(text, [0, 0], [-1, n]);
}

/** Dense attention of `queries` over the visual keys plus the valid text keys. */
function attendAllValid(queries: tf.Tensor, visK: tf.Tensor, visV: tf.Tensor, txtK: tf.Tensor,
                        txtV: tf.Tensor, n: number, scale: number): tf.Tensor {
  const keys = n > 0 ? tf.concat([visK, validPart(txtK, n)], 1) : visK;
  const values = n > 0 ? tf.concat([visV, validPart(txtV, n)], 1) : visV;
  return denseAttention(queries, keys, values, scale).output;
}

/** Plain softmax attention over every (valid) token, as the checkpoints were trained. */
export class DenseJointAttention implements JointAttention {
  readonly kind = 'dense';

  attend(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, layout: JointLayout, scale: number): tf.Tensor {
    const valid = checkJointLayout(q, layout, 'DenseJointAttention');
    return tf.tidy(() => {
      if (layout.textTokens === 0 || valid.every((n) => n === layout.textTokens)) {
        return denseAttention(q, k, v, scale).output;
      }
      const [qs, ks, vs] = [q, k, v].map((t) => splitJoint(t, layout));
      // Padded text keys are dropped, not masked: the result is the same and cheaper.
      const out = byTextValidity([qs.visual, qs.text, ks.visual, ks.text, vs.visual, vs.text], valid,
        ([qv, qt, kv, kt, vv, vt], n) => attendAllValid(tf.concat([qv, qt], 1), kv, vv, kt, vt, n,
          scale));
      const [ov, ot] = tf.split(out, [qs.visual.shape[1] as number, qs.text.shape[1] as number], 1);
      return joinJoint(ov, ot, layout);
    });
  }
}

/** The window of GNA over the visual grid (windowSize/stride/dilation per grid axis). */
export type GnaWindow = Pick<GnaWindowOptions, 'windowSize' | 'stride' | 'dilation'>;

/**
 * GNA for the visual queries (their neighbourhood plus every valid text token as additional KV,
 * as NATTEN's `additional_keys` does), dense attention for the text queries (models.md §5.2).
 */
export class GnaJointAttention implements JointAttention {
  readonly kind = 'gna';

  constructor(readonly window: GnaWindow) {}

  attend(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, layout: JointLayout, scale: number): tf.Tensor {
    const valid = checkJointLayout(q, layout, 'GnaJointAttention');
    return tf.tidy(() => {
      const [qs, ks, vs] = [q, k, v].map((t) => splitJoint(t, layout));
      const visualOut = byTextValidity([qs.visual, ks.visual, vs.visual, ks.text, vs.text], valid,
        ([qv, kv, vv, kt, vt], n) => this.visualAttention(qv, kv, vv, kt, vt, n, layout, scale));
      if (layout.textTokens === 0) return visualOut;
      const textOut = byTextValidity([qs.text, ks.visual, vs.visual, ks.text, vs.text], valid,
        ([qt, kv, vv, kt, vt], n) => attendAllValid(qt, kv, vv, kt, vt, n, scale));
      return joinJoint(visualOut, textOut, layout);
    });
  }

  private visualAttention(qv: tf.Tensor, kv: tf.Tensor, vv: tf.Tensor, kt: tf.Tensor,
                          vt: tf.Tensor, n: number, layout: JointLayout, scale: number): tf.Tensor {
    const extra = n > 0 ? { additionalKeys: validPart(kt, n), additionalValues: validPart(vt, n) } : {};
    const options = { ...this.window, scale, ...extra };
    if (layout.tileShape !== undefined) {
      return gnaOnTiledTokens(qv, kv, vv, options, layout.grid, layout.tileShape);
    }
    const [batch, tokens, heads] = qv.shape;
    const grid = (t: tf.Tensor) => tf.reshape(t, [batch, ...layout.grid, heads, t.shape[3] as number]);
    const out = gna(grid(qv), grid(kv), grid(vv), options);
    return tf.reshape(out, [batch, tokens, heads, vv.shape[3] as number]);
  }
}

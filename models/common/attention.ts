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

/**
 * Dense attention runs over groups of heads whose float32 score matrices `[heads, Nq, Nk]` stay
 * under this many bytes: a WebGPU storage binding holds at most a few GiB (FLUX-1K's joint
 * scores are 2 GiB, HunyuanVideo's far more), and a smaller peak helps every backend.
 */
export const DEFAULT_MAX_SCORE_BYTES = 512 * 2 ** 20;

export interface DenseChunking {
  /** Bound on one head group's score matrix (default `DEFAULT_MAX_SCORE_BYTES`). */
  maxScoreBytes?: number;
}

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

function checkChunking(chunking: DenseChunking, op: string): number {
  const bytes = chunking.maxScoreBytes ?? DEFAULT_MAX_SCORE_BYTES;
  if (!(Number.isFinite(bytes) && bytes > 0)) {
    throw new Error(`${op}: maxScoreBytes=${bytes} must be a positive number`);
  }
  return bytes;
}

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
 * Runs `fn` on the joint q/k/v once for the whole batch when every element has the same valid
 * text count, else once per element (the key sets differ), concatenating along the batch.
 */
function byTextValidity(qkv: tf.Tensor[], valid: number[],
                        fn: (qkv: tf.Tensor[], validText: number) => tf.Tensor): tf.Tensor {
  if (valid.every((n) => n === valid[0])) return fn(qkv, valid[0]);
  return tf.concat(valid.map((n, b) => fn(qkv.map((t) => tf.slice(t, b, 1)), n)), 0);
}

/** Tokens `[start, start + count)` of `[B, L, ...]`. */
function tokens(t: tf.Tensor, start: number, count: number): tf.Tensor {
  return tf.slice(t, [0, start], [-1, count]);
}

const visualStart = (layout: JointLayout) => (layout.order === 'textFirst' ? layout.textTokens : 0);
const textStart = (layout: JointLayout) => (layout.order === 'textFirst' ? 0 : product(layout.grid));

/**
 * The keys (or values) every valid token may see: the whole joint sequence when all text is
 * valid, else the visual tokens and the first `n` text tokens (padding dropped, not masked:
 * the same result, cheaper). Video-first sequences keep them in one slice.
 */
function validTokens(t: tf.Tensor, layout: JointLayout, n: number): tf.Tensor {
  const visual = product(layout.grid);
  if (n === layout.textTokens) return t;
  if (layout.order === 'visualFirst') return tokens(t, 0, visual + n);
  const vis = tokens(t, layout.textTokens, visual);
  return n === 0 ? vis : tf.concat([tokens(t, 0, n), vis], 1);
}

/**
 * `denseAttention(...).output` over groups of heads so that no score matrix exceeds
 * `maxScoreBytes` (models here have as many KV heads as query heads; with GQA it runs whole).
 */
export function denseAttentionOutput(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, scale: number,
                                     maxScoreBytes = DEFAULT_MAX_SCORE_BYTES): tf.Tensor {
  const [batch, queries, heads] = q.shape as number[];
  const perHead = batch * queries * (k.shape[1] as number) * 4;
  const group = Math.max(1, Math.floor(maxScoreBytes / perHead));
  if (group >= heads || k.shape[2] !== heads) return denseAttention(q, k, v, scale).output;
  return tf.tidy(() => {
    const parts: tf.Tensor[] = [];
    for (let h = 0; h < heads; h += group) {
      const n = Math.min(group, heads - h);
      const [qh, kh, vh] = [q, k, v].map((t) => tf.slice(t, [0, 0, h], [-1, -1, n]));
      parts.push(denseAttention(qh, kh, vh, scale).output);
    }
    return tf.concat(parts, 2);
  });
}

/** Plain softmax attention over every (valid) token, as the checkpoints were trained. */
export class DenseJointAttention implements JointAttention {
  readonly kind = 'dense';
  private readonly maxScoreBytes: number;

  constructor(chunking: DenseChunking = {}) {
    this.maxScoreBytes = checkChunking(chunking, 'DenseJointAttention');
  }

  attend(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, layout: JointLayout, scale: number): tf.Tensor {
    const valid = checkJointLayout(q, layout, 'DenseJointAttention');
    return tf.tidy(() => byTextValidity([q, k, v], valid, ([qb, kb, vb], n) =>
      denseAttentionOutput(qb, validTokens(kb, layout, n), validTokens(vb, layout, n), scale,
        this.maxScoreBytes)));
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
  private readonly maxScoreBytes: number;

  constructor(readonly window: GnaWindow, chunking: DenseChunking = {}) {
    this.maxScoreBytes = checkChunking(chunking, 'GnaJointAttention');
  }

  attend(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, layout: JointLayout, scale: number): tf.Tensor {
    const valid = checkJointLayout(q, layout, 'GnaJointAttention');
    return tf.tidy(() => byTextValidity([q, k, v], valid,
      (qkv, n) => this.attendValid(qkv, n, layout, scale)));
  }

  /** One batch group whose first `n` text tokens are valid. */
  private attendValid([q, k, v]: tf.Tensor[], n: number, layout: JointLayout,
                      scale: number): tf.Tensor {
    const visual = product(layout.grid);
    const [qv, kv, vv] = [q, k, v].map((t) => tokens(t, visualStart(layout), visual));
    const visualOut = this.visualAttention(qv, kv, vv, k, v, n, layout, scale);
    if (layout.textTokens === 0) return visualOut;
    // Text queries stay dense over every valid token; the joint k/v serve as they are.
    const textOut = denseAttentionOutput(tokens(q, textStart(layout), layout.textTokens),
      validTokens(k, layout, n), validTokens(v, layout, n), scale, this.maxScoreBytes);
    return joinJoint(visualOut, textOut, layout);
  }

  private visualAttention(qv: tf.Tensor, kv: tf.Tensor, vv: tf.Tensor, k: tf.Tensor,
                          v: tf.Tensor, n: number, layout: JointLayout, scale: number): tf.Tensor {
    const extra = n > 0 ? { additionalKeys: tokens(k, textStart(layout), n),
      additionalValues: tokens(v, textStart(layout), n) } : {};
    const options = { ...this.window, scale, ...extra };
    if (layout.tileShape !== undefined) {
      return gnaOnTiledTokens(qv, kv, vv, options, layout.grid, layout.tileShape);
    }
    const [batch, count, heads] = qv.shape;
    const grid = (t: tf.Tensor) => tf.reshape(t, [batch, ...layout.grid, heads, t.shape[3] as number]);
    const out = gna(grid(qv), grid(kv), grid(vv), options);
    return tf.reshape(out, [batch, count, heads, vv.shape[3] as number]);
  }
}

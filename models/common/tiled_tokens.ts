/**
 * "Permute once" (gna-semantics §4, last paragraph): a DiT is permutation-equivariant apart from
 * RoPE and the attention mask, so the visual tokens can enter the tiled layout of `tokenPermute`
 * once at the start of a stack of blocks and leave it once at the end, instead of every attention
 * call permuting q/k/v and un-permuting its output. RoPE tables are gathered into the same order;
 * the attention sites learn the layout through `JointLayout.tileShape`.
 *
 * Restricted to tile shapes that divide the grid: the permuted layout then holds exactly the real
 * tokens (no zero padding that LayerNorm and the MLP would treat as tokens), and no dilation
 * (which would fold groups into the batch).
 */
import * as tf from '@tensorflow/tfjs-core';
import { GnaOptions, gna } from '../../src/ops/gna';
import { tokenPermute, tokenUnpermute } from '../../src/ops/token_permute';
import { permuteGatherMap, permuteLayout } from '../../src/layout';
import { JointLayout, joinJoint, splitJoint } from './joint_layout';
import { gatherRopeTable, RopeTable } from './rope';

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

export function checkTileShape(grid: number[], tileShape: number[], op: string) {
  if (!Array.isArray(tileShape) || tileShape.length !== grid.length ||
      tileShape.some((t, i) => !Number.isInteger(t) || t < 1 || grid[i] % t !== 0)) {
    throw new Error(`${op}: tileShape [${tileShape}] must have one positive integer per grid ` +
      `axis dividing the grid [${grid}] (permute-once keeps no padding tokens)`);
  }
}

/**
 * GNA of visual tokens already in the tiled layout `[B, N, H, D]`, returning the tiled layout.
 * The public `gna` op takes the natural layout, so this un-permutes q/k/v, runs it and permutes
 * the output back; an op option taking tiled inputs directly (see docs/models.md) turns this
 * into one call and is what makes permute-once pay off.
 */
export function gnaOnTiledTokens(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, options: GnaOptions,
                                 grid: number[], tileShape: number[]): tf.Tensor {
  checkTileShape(grid, tileShape, 'gnaOnTiledTokens');
  return tf.tidy(() => {
    const [natQ, natK, natV] = [q, k, v].map((t) => tokenUnpermute(t, { tileShape, shape: grid }));
    const out = gna(natQ, natK, natV, options);
    return tokenPermute(out, { tileShape });
  });
}

/** The tiled layout of one visual grid: moves hidden states and RoPE tables in and out of it. */
export class TiledTokens {
  /** `order[i]`: the row-major grid index of tiled token `i`. */
  readonly order: Int32Array;

  constructor(readonly grid: number[], readonly tileShape: number[]) {
    checkTileShape(grid, tileShape, 'TiledTokens');
    this.order = permuteGatherMap(permuteLayout({ spatialShape: grid, tileShape,
      dilation: grid.map(() => 1) }));
  }

  /** Hidden states `[B, N, C]` (natural order) to the tiled order. */
  enter(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const [batch, , channels] = x.shape;
      const permuted = tokenPermute(tf.reshape(x, [batch, ...this.grid, 1, channels]),
        { tileShape: this.tileShape });
      return tf.reshape(permuted, x.shape);
    });
  }

  /** Hidden states `[B, N, C]` (tiled order) back to the natural order. */
  exit(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const [batch, tokens, channels] = x.shape;
      const natural = tokenUnpermute(tf.reshape(x, [batch, tokens, 1, channels]),
        { tileShape: this.tileShape, shape: this.grid });
      return tf.reshape(natural, x.shape);
    });
  }

  /** A joint sequence `[B, L, C]` (text and visual in `order`) with its visual part tiled. */
  enterJoint(x: tf.Tensor, textTokens: number, order: JointLayout['order']): tf.Tensor {
    return this.mapVisual(x, textTokens, order, (v) => this.enter(v));
  }

  /** The inverse of `enterJoint`. */
  exitJoint(x: tf.Tensor, textTokens: number, order: JointLayout['order']): tf.Tensor {
    return this.mapVisual(x, textTokens, order, (v) => this.exit(v));
  }

  private mapVisual(x: tf.Tensor, textTokens: number, order: JointLayout['order'],
                    fn: (v: tf.Tensor) => tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const layout: JointLayout = { grid: this.grid, textTokens, order };
      const { visual, text } = splitJoint(x, layout);
      return joinJoint(fn(visual), text, layout);
    });
  }

  /**
   * A RoPE table over `offset` leading tokens (kept in place) followed by the grid, re-ordered
   * like the tiled hidden states. FLUX's joint table has the text first (`offset` = text tokens);
   * a video-only table has `offset` 0.
   */
  permuteRopeTable(table: RopeTable, offset = 0): RopeTable {
    const visual = product(this.grid);
    if (table.tokens !== offset + visual) {
      throw new Error(`TiledTokens: RoPE table has ${table.tokens} tokens, expected ${offset} + ` +
        `${visual} (leading tokens + grid)`);
    }
    const order = new Int32Array(offset + visual);
    for (let i = 0; i < offset; i++) order[i] = i;
    this.order.forEach((src, i) => { order[offset + i] = offset + src; });
    return gatherRopeTable(table, order);
  }
}

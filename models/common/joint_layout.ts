/**
 * Where the visual grid and the text tokens sit in a joint sequence (models.md §2.2, §3.2), and
 * splitting/joining by it.
 */
import * as tf from '@tensorflow/tfjs-core';

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

export interface JointLayout {
  /** The visual token grid, row-major (`[H, W]` or `[T, H, W]`). */
  grid: number[];
  /** Text tokens in the joint sequence (0 for visual-only self-attention, as in Cosmos). */
  textTokens: number;
  /** FLUX puts text first, HunyuanVideo video first (models.md §2.2, §3.2). */
  order: 'textFirst' | 'visualFirst';
  /**
   * Valid (unpadded) text tokens per batch element (HunyuanVideo's text mask, §3.4); the valid
   * ones are the first `validText[b]`. Omitted: every text token is valid.
   */
  validText?: number[];
  /**
   * Set when the visual tokens are already in the token-permuted (tiled) layout of this tile
   * shape: the "permute once" mode of `TiledTokens`.
   */
  tileShape?: number[];
}

/** Splits joint tokens `[B, L, ...]` into visual and text parts by the layout's order. */
export function splitJoint(x: tf.Tensor, layout: JointLayout): { visual: tf.Tensor; text: tf.Tensor } {
  const visual = product(layout.grid);
  const sizes = layout.order === 'textFirst' ? [layout.textTokens, visual] : [visual, layout.textTokens];
  const [a, b] = tf.split(x, sizes, 1);
  return layout.order === 'textFirst' ? { text: a, visual: b } : { visual: a, text: b };
}

/** The inverse of `splitJoint`. */
export function joinJoint(visual: tf.Tensor, text: tf.Tensor, layout: JointLayout): tf.Tensor {
  return tf.concat(layout.order === 'textFirst' ? [text, visual] : [visual, text], 1);
}

/**
 * Swapping a block's self-attention for GNA (models.md §5.2) with the paper's hybrid schedule
 * (§5.4): dense attention for the first `denseSteps` denoising steps, which decide global
 * structure, then GNA. One `HybridAttention` is shared by every block of a stack, so one
 * `setStep` per denoising step switches the whole model.
 */
import * as tf from '@tensorflow/tfjs-core';
import { DenseChunking, DenseJointAttention, GnaJointAttention, GnaWindow, JointAttention,
         JointLayout } from './attention';
import { SwappableAttention } from './mmdit';

export interface GnaSwapOptions extends GnaWindow, DenseChunking {
  /** Dense attention for steps `0 .. denseSteps-1` (default 0: GNA from the first step). */
  denseSteps?: number;
  /**
   * Softmax scale for both the dense and the GNA steps (FLUX-4K's proportional scale, §2.6);
   * default: the block's own scale (headDim^-0.5).
   */
  scale?: number;
}

/** Dense for the first `denseSteps` steps, then GNA; the step is set by the sampler loop. */
export class HybridAttention implements JointAttention {
  readonly kind = 'hybrid';
  readonly dense: DenseJointAttention;
  readonly gna: GnaJointAttention;
  readonly denseSteps: number;
  readonly scale?: number;
  private step = 0;

  constructor(options: GnaSwapOptions) {
    if (options === null || typeof options !== 'object' || options.windowSize === undefined) {
      throw new Error('swapToGna: options.windowSize is required');
    }
    const denseSteps = options.denseSteps ?? 0;
    if (!Number.isInteger(denseSteps) || denseSteps < 0) {
      throw new Error(`swapToGna: denseSteps=${denseSteps} must be a non-negative integer`);
    }
    if (options.scale !== undefined && !(Number.isFinite(options.scale) && options.scale > 0)) {
      throw new Error(`swapToGna: scale=${options.scale} must be a positive finite number`);
    }
    const { windowSize, stride, dilation, maxScoreBytes } = options;
    this.dense = new DenseJointAttention({ maxScoreBytes });
    this.gna = new GnaJointAttention({ windowSize, stride, dilation }, { maxScoreBytes });
    this.denseSteps = denseSteps;
    this.scale = options.scale;
  }

  /** The denoising step about to run (0-based). */
  setStep(step: number) {
    if (!Number.isInteger(step) || step < 0) {
      throw new Error(`HybridAttention.setStep: step=${step} must be a non-negative integer`);
    }
    this.step = step;
  }

  get currentStep(): number {
    return this.step;
  }

  /** The implementation the current step uses. */
  get active(): JointAttention {
    return this.step < this.denseSteps ? this.dense : this.gna;
  }

  attend(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, layout: JointLayout, scale: number): tf.Tensor {
    return this.active.attend(q, k, v, layout, this.scale ?? scale);
  }
}

function blocksOf(target: SwappableAttention | SwappableAttention[], op: string): SwappableAttention[] {
  const blocks = Array.isArray(target) ? target : [target];
  blocks.forEach((b, i) => {
    if (b === null || typeof b !== 'object' || !('selfAttention' in b)) {
      throw new Error(`${op}: block ${i} has no self-attention site to swap (Cosmos ` +
        'cross-attention, for one, stays dense)');
    }
  });
  return blocks;
}

/**
 * Makes the self-attention of `target` (one block or a stack) GNA with the given window, stride
 * and dilation, visual queries attending their neighbourhood plus the valid text tokens, text
 * queries dense. Returns the shared schedule; call `setStep` once per denoising step.
 */
export function swapToGna(target: SwappableAttention | SwappableAttention[],
                          options: GnaSwapOptions): HybridAttention {
  const blocks = blocksOf(target, 'swapToGna');
  const hybrid = new HybridAttention(options);
  for (const b of blocks) b.selfAttention = hybrid;
  return hybrid;
}

/** Restores plain dense self-attention. */
export function swapToDense(target: SwappableAttention | SwappableAttention[]) {
  const dense = new DenseJointAttention();
  for (const b of blocksOf(target, 'swapToDense')) b.selfAttention = dense;
}

/** Python's `round` (half to even), which the base-size rule was written with. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * A window tuned on `baseGrid` carried to another grid by NVIDIA's Cosmos-Predict2 "base_size"
 * rule (models.md §5.6): `w' = min(max(2, round(w·n/n_base)), n)`,
 * `s' = min(max(1, round(s·n/n_base)), w')`. Dilation is not rescaled (the presets use none).
 */
export function rescaleWindow(window: { windowSize: number[]; stride: number[] },
                              baseGrid: number[], grid: number[]): { windowSize: number[]; stride: number[] } {
  if (grid.length !== baseGrid.length || grid.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new Error(`rescaleWindow: grid [${grid}] must have ${baseGrid.length} positive integer ` +
      `dims like the base grid [${baseGrid}]`);
  }
  const windowSize = grid.map((n, i) =>
    Math.min(Math.max(2, roundHalfEven(window.windowSize[i] * n / baseGrid[i])), n));
  const stride = grid.map((n, i) =>
    Math.min(Math.max(1, roundHalfEven(window.stride[i] * n / baseGrid[i])), windowSize[i]));
  return { windowSize, stride };
}

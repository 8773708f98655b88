/**
 * The swap to GNA over a stack of blocks, the hybrid dense-first schedule, the presets, and the
 * permute-once mode (tokens kept tiled through a stack) against the natural layout.
 */
import * as tf from '@tensorflow/tfjs';
import {
  cosmosRope, CosmosSelfAttention, cosmosSelfSpecs, DenseJointAttention, disposeRopeTable,
  FluxDims, fluxProportionalScale, fluxRope, fluxSingleSpecs, fluxSingleStream, GNA_PRESETS,
  hunyuanDoubleSpecs, hunyuanDoubleStream, hunyuanRope, presetOptions, randomParams,
  SingleStreamBlock, swapToDense, swapToGna, TiledTokens, ropeTable, gridPositions,
} from '../../models';
import { maxAbsDiff, randn } from './helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const SMALL: FluxDims = { hidden: 32, heads: 2, headDim: 16, mlpHidden: 64, axesDim: [4, 6, 6] };

function fluxStack(n: number): SingleStreamBlock[] {
  return Array.from({ length: n }, (_, i) =>
    fluxSingleStream(randomParams(fluxSingleSpecs(i, SMALL), 40 + 50 * i, 0.25), SMALL));
}

/** Runs a FLUX single-stream stack over `x` `[B, T + N, C]`. */
function runStack(blocks: SingleStreamBlock[], x: tf.Tensor, text: number, grid: number[],
                  vec: tf.Tensor, tileShape?: number[]): tf.Tensor {
  const natural = fluxRope(grid, text, SMALL);
  const tiles = tileShape === undefined ? undefined : new TiledTokens(grid, tileShape);
  const rope = tiles === undefined ? natural : tiles.permuteRopeTable(natural, text);
  const out = tf.tidy(() => {
    let h = tiles === undefined ? x : tiles.enterJoint(x, text, 'textFirst');
    for (const b of blocks) h = b.apply(h, text, { vec, rope, grid, tileShape });
    return tiles === undefined ? h : tiles.exitJoint(h, text, 'textFirst');
  });
  disposeRopeTable(natural);
  if (rope !== natural) disposeRopeTable(rope);
  return out;
}

describe('swapToGna with the hybrid schedule', () => {
  const grid = [6, 8];
  const text = 3;

  it('one call swaps a stack; dense for the first denseSteps steps, GNA after', () => {
    const blocks = fluxStack(3);
    const x3 = randn([1, text + 48, 32], 1);
    const vec = randn([1, 32], 2);
    const dense = runStack(blocks, x3, text, grid, vec);
    const gnaOnly = (() => {
      swapToGna(blocks, { windowSize: [3, 4], stride: [1, 2] });
      return runStack(blocks, x3, text, grid, vec);
    })();
    const hybrid = swapToGna(blocks, { windowSize: [3, 4], stride: [1, 2], denseSteps: 2 });
    expect(blocks.every((b) => b.selfAttention === hybrid)).toBe(true);
    for (const [step, expected] of [[0, dense], [1, dense], [2, gnaOnly], [5, gnaOnly]] as const) {
      hybrid.setStep(step);
      const before = tf.memory().numTensors;
      const out = runStack(blocks, x3, text, grid, vec);
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(maxAbsDiff(out.dataSync(), expected.dataSync())).toBeLessThan(1e-5);
      out.dispose();
    }
    // The sparse result really differs from the dense one.
    expect(maxAbsDiff(gnaOnly.dataSync(), dense.dataSync())).toBeGreaterThan(1e-2);
    swapToDense(blocks);
    expect(blocks.every((b) => b.selfAttention instanceof DenseJointAttention)).toBe(true);
    tf.dispose([x3, vec, dense, gnaOnly]);
    blocks.forEach((b) => b.dispose());
  });

  it('a scale given to the swap applies to dense and GNA steps alike', () => {
    const [block] = fluxStack(1);
    const x = randn([1, text + 48, 32], 3);
    const vec = randn([1, 32], 4);
    block.scale = 0.4;
    const expected = runStack([block], x, text, grid, vec);
    block.scale = 0.25;
    const hybrid = swapToGna(block, { windowSize: grid, denseSteps: 1, scale: 0.4 });
    const denseStep = runStack([block], x, text, grid, vec);
    hybrid.setStep(1);
    const gnaStep = runStack([block], x, text, grid, vec);
    expect(maxAbsDiff(denseStep.dataSync(), expected.dataSync())).toBeLessThan(1e-5);
    expect(maxAbsDiff(gnaStep.dataSync(), expected.dataSync())).toBeLessThan(1e-4);
    tf.dispose([x, vec, expected, denseStep, gnaStep]);
    block.dispose();
  });

  it('rejects bad options', () => {
    const [block] = fluxStack(1);
    expect(() => swapToGna(block, { windowSize: 3, denseSteps: -1 })).toThrow(
      /denseSteps=-1 must be a non-negative integer/);
    expect(() => swapToGna(block, { windowSize: 3, scale: 0 })).toThrow(/scale=0 must be a positive/);
    expect(() => swapToGna(block, {} as never)).toThrow(/options.windowSize is required/);
    expect(() => swapToGna(block, { windowSize: 3 }).setStep(1.5)).toThrow(/step=1.5 must be/);
    // The window is checked against the grid when attention runs, by the gna op.
    swapToGna(block, { windowSize: [7, 3] });
    const x = randn([1, 3 + 48, 32], 5);
    const vec = randn([1, 32], 6);
    expect(() => runStack([block], x, 3, [6, 8], vec)).toThrow(/windowSize\[0\]=7 .* exceeds spatial size 6/);
    tf.dispose([x, vec]);
    block.dispose();
  });
});

describe('presets', () => {
  it('are the paper settings (models.md §5.3, §5.4)', () => {
    expect(presetOptions('flux4k')).toEqual({ windowSize: [80, 80], stride: [16, 16], denseSteps: 9,
      scale: fluxProportionalScale(66048) });
    expect(fluxProportionalScale(66048)).toBeCloseTo(0.1014, 4);
    expect(GNA_PRESETS.flux4k.totalSteps).toBe(28);
    expect(presetOptions('hunyuanVideo')).toEqual({ windowSize: [18, 24, 24], stride: [16, 8, 8],
      denseSteps: 15, scale: undefined });
    expect(GNA_PRESETS.hunyuanVideo.totalSteps).toBe(50);
    expect(presetOptions('cosmos7b')).toEqual({ windowSize: [16, 32, 48], stride: [1, 8, 16],
      denseSteps: 12, scale: undefined });
    expect(GNA_PRESETS.cosmos7b.totalSteps).toBe(35);
    // Base-size rule with Python rounding: 80·40/256 = 12.5 -> 12, 16·40/256 = 2.5 -> 2.
    expect(presetOptions('flux4k', [40, 40])).toMatchObject({ windowSize: [12, 12], stride: [2, 2] });
    expect(() => presetOptions('flux4k', [40])).toThrow(/grid \[40\] must have 2 positive integer dims/);
    expect(() => presetOptions('sd3' as never)).toThrow(/unknown preset 'sd3'/);
  });
});

describe('permute once (tokens tiled through a stack)', () => {
  it('round-trips hidden states and permutes RoPE tables like the tokens', () => {
    const tiles = new TiledTokens([4, 6], [2, 3]);
    expect(Array.from(tiles.order)).toEqual(
      [0, 1, 2, 6, 7, 8, 3, 4, 5, 9, 10, 11, 12, 13, 14, 18, 19, 20, 15, 16, 17, 21, 22, 23]);
    const x = randn([2, 24, 5], 7);
    const back = tiles.exit(tiles.enter(x));
    expect(maxAbsDiff(back.dataSync(), x.dataSync())).toBe(0);
    const natural = ropeTable(gridPositions([4, 6], 2), { axesDim: [4, 4], theta: 10, style: 'interleaved' });
    const permuted = tiles.permuteRopeTable(natural);
    const order = Array.from(tiles.order);
    const pos = gridPositions([4, 6], 2);
    const direct = ropeTable(Float64Array.from(order.flatMap((i) => [pos[2 * i], pos[2 * i + 1]])),
      { axesDim: [4, 4], theta: 10, style: 'interleaved' });
    expect(maxAbsDiff(permuted.sin.dataSync(), direct.sin.dataSync())).toBe(0);
    [natural, permuted, direct].forEach(disposeRopeTable);
    tf.dispose([x, back]);
    expect(() => new TiledTokens([4, 6], [3, 3])).toThrow(
      /tileShape \[3,3\] must have one positive integer per grid axis dividing the grid \[4,6\]/);
  });

  it('FLUX single-stream stack: tiled equals natural', () => {
    const blocks = fluxStack(2);
    swapToGna(blocks, { windowSize: [3, 4], stride: [2, 2] });
    const x = randn([1, 4 + 48, 32], 8);
    const vec = randn([1, 32], 9);
    const natural = runStack(blocks, x, 4, [6, 8], vec);
    const tiled = runStack(blocks, x, 4, [6, 8], vec, [2, 4]);
    expect(maxAbsDiff(tiled.dataSync(), natural.dataSync())).toBeLessThan(1e-5);
    tf.dispose([x, vec, natural, tiled]);
    blocks.forEach((b) => b.dispose());
  });

  it('HunyuanVideo dual-stream with masked text: tiled equals natural', () => {
    const block = hunyuanDoubleStream(randomParams(hunyuanDoubleSpecs(0, SMALL), 70, 0.25), SMALL);
    swapToGna(block, { windowSize: [2, 3, 4], stride: [2, 1, 2] });
    const grid = [2, 4, 6];
    const img = randn([2, 48, 32], 10);
    const txt = randn([2, 5, 32], 11);
    const vec = randn([2, 32], 12);
    const rope = hunyuanRope(grid, SMALL);
    const validText = [5, 2];
    const natural = block.apply(img, txt, { vec, rope, grid, validText });
    const tiles = new TiledTokens(grid, [1, 2, 3]);
    const tiledRope = tiles.permuteRopeTable(rope);
    const tiledImg = tiles.enter(img);
    const tiled = block.apply(tiledImg, txt, { vec, rope: tiledRope, grid, validText, tileShape: [1, 2, 3] });
    const backImg = tiles.exit(tiled.img);
    expect(maxAbsDiff(backImg.dataSync(), natural.img.dataSync())).toBeLessThan(1e-5);
    expect(maxAbsDiff(tiled.txt.dataSync(), natural.txt.dataSync())).toBeLessThan(1e-5);
    tf.dispose([img, txt, vec, natural.img, natural.txt, tiledImg, tiled.img, tiled.txt, backImg]);
    [rope, tiledRope].forEach(disposeRopeTable);
    block.dispose();
  });

  it('Cosmos self-attention: tiled equals natural', () => {
    const dims = { hidden: 32, heads: 2, headDim: 16, contextDim: 8, adaLnLoraDim: 4,
      axesDim: [6, 6, 4], ropeRatio: [2, 1, 1] };
    const block = new CosmosSelfAttention(dims, randomParams(cosmosSelfSpecs(0, dims), 80, 0.25));
    swapToGna(block, { windowSize: [2, 4, 4], stride: [1, 2, 4] });
    const grid = [2, 4, 8];
    const x = randn([1, 64, 32], 13);
    const emb = randn([1, 32], 14);
    const rope = cosmosRope(grid, 24, dims);
    const natural = block.apply(x, { emb, rope, grid });
    const tiles = new TiledTokens(grid, [1, 2, 4]);
    const tiledRope = tiles.permuteRopeTable(rope);
    const tx = tiles.enter(x);
    const out = block.apply(tx, { emb, rope: tiledRope, grid, tileShape: [1, 2, 4] });
    const back = tiles.exit(out);
    expect(maxAbsDiff(back.dataSync(), natural.dataSync())).toBeLessThan(1e-5);
    tf.dispose([x, emb, natural, tx, out, back]);
    [rope, tiledRope].forEach(disposeRopeTable);
    block.dispose();
  });
});

/**
 * The GNA paper's settings (models.md §5.3, §5.4), each with the token grid it was tuned on:
 * FLUX-4K 80×80 / stride 16×16, dense for the first 9 of 28 steps; HunyuanVideo 18×24×24 /
 * 16×8×8, first 15 of 50; Cosmos-7B 16×32×48 / 1×8×16, first 12 of 35.
 */
import { GnaSwapOptions, rescaleWindow } from './common/adapter';
import { fluxProportionalScale } from './flux';

export interface GnaPreset {
  /** The grid the paper used. */
  grid: number[];
  windowSize: number[];
  stride: number[];
  denseSteps: number;
  totalSteps: number;
  /** Softmax scale, where the setup overrides headDim^-0.5. */
  scale?: number;
}

export const GNA_PRESETS = {
  /** URAE 4K FLUX.1-dev (256×256 tokens + 512 text) with its proportional scale (§2.6). */
  flux4k: {
    grid: [256, 256], windowSize: [80, 80], stride: [16, 16], denseSteps: 9, totalSteps: 28,
    scale: fluxProportionalScale(256 * 256 + 512),
  },
  /** HunyuanVideo 720p, 5 s (30×48×80). */
  hunyuanVideo: {
    grid: [30, 48, 80], windowSize: [18, 24, 24], stride: [16, 8, 8], denseSteps: 15, totalSteps: 50,
  },
  /** Cosmos-1.0-Diffusion-7B 704×1280, 121 frames (16×44×80). */
  cosmos7b: {
    grid: [16, 44, 80], windowSize: [16, 32, 48], stride: [1, 8, 16], denseSteps: 12, totalSteps: 35,
  },
} satisfies Record<string, GnaPreset>;

export type GnaPresetName = keyof typeof GNA_PRESETS;

/**
 * `swapToGna` options of a preset for `grid`: the paper's numbers on its own grid, rescaled by
 * the base-size rule (§5.6) on any other (the scale, a property of the model setup, is kept).
 */
export function presetOptions(name: GnaPresetName, grid?: number[]): GnaSwapOptions {
  const preset: GnaPreset = GNA_PRESETS[name];
  if (preset === undefined) {
    throw new Error(`presetOptions: unknown preset '${String(name)}' (one of ` +
      `${Object.keys(GNA_PRESETS).join(', ')})`);
  }
  const window = grid === undefined ? preset : rescaleWindow(preset, preset.grid, grid);
  return { windowSize: window.windowSize.slice(), stride: window.stride.slice(),
    denseSteps: preset.denseSteps, scale: preset.scale };
}

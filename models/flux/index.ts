/**
 * FLUX.1-dev attention blocks (models.md §2): 19 double-stream and 38 single-stream blocks,
 * 24 heads × 128, text first (512 T5 tokens), interleaved 3-axis RoPE [16, 56, 56], θ 10000
 * (100000 for the URAE 4K setup the GNA paper used, §2.6), QK RMSNorm eps 1e-6.
 */
import { DoubleStreamAttention, MmditConfig, SingleStreamBlock } from '../common/mmdit';
import { concatPositions, gridPositions, RopeConfig, ropeTable, RopeTable,
         textPositions } from '../common/rope';
import { TensorSource } from '../common/safetensors';
import { linearSpecs, modulationSpecs, normSpec, qkvSpecs } from '../common/specs';
import { BlockParams, checkParams, LoadOptions, loadParams, ParamSpec, randomParams, rows,
         whole } from '../common/weights';

/** The dimensions of a FLUX block; `FLUX_DEV` is the real model, tests build smaller ones. */
export interface FluxDims {
  hidden: number;
  heads: number;
  headDim: number;
  mlpHidden: number;
  /** RoPE features per axis (sum = headDim). */
  axesDim: number[];
}

export const FLUX_DEV: FluxDims = {
  hidden: 3072, heads: 24, headDim: 128, mlpHidden: 12288, axesDim: [16, 56, 56],
};

/** T5 tokens of FLUX.1-dev (schnell: 256). */
export const FLUX_DEV_TEXT_TOKENS = 512;

export const FLUX_ROPE_THETA = 10000;
/** URAE 4K: `ntk_factor` 10 (§2.6). */
export const FLUX_4K_ROPE_THETA = 100000;

function config(d: FluxDims): MmditConfig {
  return { hidden: d.hidden, heads: d.heads, headDim: d.headDim, mlpHidden: d.mlpHidden,
    order: 'textFirst', ropeOnText: true, ropeStyle: 'interleaved', eps: 1e-6 };
}

export function fluxRopeConfig(d: FluxDims = FLUX_DEV, theta = FLUX_ROPE_THETA): RopeConfig {
  return { axesDim: d.axesDim, theta, style: 'interleaved' };
}

/**
 * The joint RoPE table: `txt_ids` (0, 0, 0) for the text, then `img_ids` (0, row, col), in the
 * joint order text-first (§2.2).
 */
export function fluxRope(grid: number[], textTokens: number, d: FluxDims = FLUX_DEV,
                         theta = FLUX_ROPE_THETA): RopeTable {
  const axes = d.axesDim.length;
  return ropeTable(concatPositions(textPositions(textTokens, axes), gridPositions(grid, axes)),
    fluxRopeConfig(d, theta));
}

/**
 * URAE's proportional softmax scale `sqrt(log(N_kv) / log(4608) / headDim)` (§2.6): ≈ 0.1014 at
 * 4K (66,048 tokens) instead of 128^-0.5.
 */
export function fluxProportionalScale(keyTokens: number, headDim = 128): number {
  return Math.sqrt(Math.log(keyTokens) / Math.log(4608) / headDim);
}

/** Parameters of double block `i` (table in §2.7). */
export function fluxDoubleSpecs(i: number, d: FluxDims = FLUX_DEV): ParamSpec[] {
  const o = `double_blocks.${i}`;
  const f = `transformer_blocks.${i}`;
  const c = d.hidden;
  return [
    ...modulationSpecs('imgMod', `${o}.img_mod.lin`, `${f}.norm1.linear`, c, 2),
    ...modulationSpecs('txtMod', `${o}.txt_mod.lin`, `${f}.norm1_context.linear`, c, 2),
    ...qkvSpecs('img', `${o}.img_attn.qkv`, ['to_q', 'to_k', 'to_v'].map((n) => `${f}.attn.${n}`), c, 3 * c),
    ...qkvSpecs('txt', `${o}.txt_attn.qkv`, ['add_q_proj', 'add_k_proj', 'add_v_proj'].map((n) => `${f}.attn.${n}`), c, 3 * c),
    normSpec('imgNormQ', `${o}.img_attn.norm.query_norm.scale`, `${f}.attn.norm_q.weight`, d.headDim),
    normSpec('imgNormK', `${o}.img_attn.norm.key_norm.scale`, `${f}.attn.norm_k.weight`, d.headDim),
    normSpec('txtNormQ', `${o}.txt_attn.norm.query_norm.scale`, `${f}.attn.norm_added_q.weight`, d.headDim),
    normSpec('txtNormK', `${o}.txt_attn.norm.key_norm.scale`, `${f}.attn.norm_added_k.weight`, d.headDim),
    ...linearSpecs('imgProj', `${o}.img_attn.proj`, `${f}.attn.to_out.0`, [c, c]),
    ...linearSpecs('txtProj', `${o}.txt_attn.proj`, `${f}.attn.to_add_out`, [c, c]),
  ];
}

/** Parameters of single block `i`: `linear1` rows split 3072/3072/3072/12288 (§2.7). */
export function fluxSingleSpecs(i: number, d: FluxDims = FLUX_DEV): ParamSpec[] {
  const o = `single_blocks.${i}`;
  const f = `single_transformer_blocks.${i}`;
  const c = d.hidden;
  const total = 3 * c + d.mlpHidden;
  return [
    ...modulationSpecs('mod', `${o}.modulation.lin`, `${f}.norm.linear`, c, 1),
    ...qkvSpecs('', `${o}.linear1`, ['to_q', 'to_k', 'to_v'].map((n) => `${f}.attn.${n}`), c, total),
    { param: 'Mlp.weight', original: rows(`${o}.linear1.weight`, [total, c], 3 * c, total),
      diffusers: whole(`${f}.proj_mlp.weight`, [d.mlpHidden, c]) },
    { param: 'Mlp.bias', original: rows(`${o}.linear1.bias`, [total], 3 * c, total),
      diffusers: whole(`${f}.proj_mlp.bias`, [d.mlpHidden]) },
    normSpec('NormQ', `${o}.norm.query_norm.scale`, `${f}.attn.norm_q.weight`, d.headDim),
    normSpec('NormK', `${o}.norm.key_norm.scale`, `${f}.attn.norm_k.weight`, d.headDim),
    ...linearSpecs('out', `${o}.linear2`, `${f}.proj_out`, [c, c + d.mlpHidden]),
  ];
}

function checkDims(d: FluxDims) {
  if (d.hidden !== d.heads * d.headDim || d.axesDim.reduce((a, b) => a + b, 0) !== d.headDim) {
    throw new Error(`FLUX dims: hidden ${d.hidden} must be heads ${d.heads} × headDim ` +
      `${d.headDim}, and axesDim [${d.axesDim}] must sum to headDim`);
  }
}

/** A double-stream block from parameters (checked against the specs). */
export function fluxDoubleStream(params: BlockParams, d: FluxDims = FLUX_DEV): DoubleStreamAttention {
  checkDims(d);
  checkParams(params, fluxDoubleSpecs(0, d), 'fluxDoubleStream');
  return new DoubleStreamAttention(config(d), params);
}

export function fluxSingleStream(params: BlockParams, d: FluxDims = FLUX_DEV): SingleStreamBlock {
  checkDims(d);
  checkParams(params, fluxSingleSpecs(0, d), 'fluxSingleStream');
  return new SingleStreamBlock(config(d), params);
}

/** Double block `i` from a checkpoint (`flux1-dev.safetensors` or diffusers `transformer/`). */
export function loadFluxDoubleStream(source: TensorSource, i: number, options?: LoadOptions,
                                     d: FluxDims = FLUX_DEV): DoubleStreamAttention {
  return fluxDoubleStream(loadParams(source, fluxDoubleSpecs(i, d), `FLUX double-stream block ${i}`,
    options), d);
}

export function loadFluxSingleStream(source: TensorSource, i: number, options?: LoadOptions,
                                     d: FluxDims = FLUX_DEV): SingleStreamBlock {
  return fluxSingleStream(loadParams(source, fluxSingleSpecs(i, d), `FLUX single-stream block ${i}`,
    options), d);
}

/** Random blocks for benchmarks and tests. */
export function randomFluxDoubleStream(seed: number, d: FluxDims = FLUX_DEV): DoubleStreamAttention {
  return fluxDoubleStream(randomParams(fluxDoubleSpecs(0, d), seed), d);
}

export function randomFluxSingleStream(seed: number, d: FluxDims = FLUX_DEV): SingleStreamBlock {
  return fluxSingleStream(randomParams(fluxSingleSpecs(0, d), seed), d);
}

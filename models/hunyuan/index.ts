/**
 * HunyuanVideo attention blocks (models.md §3): 20 dual-stream and 40 single-stream blocks,
 * 24 heads × 128, video first then 256 text tokens with a validity mask (§3.4), interleaved
 * RoPE [16, 56, 56] on (t, h, w) with θ 256 on the video tokens only, QK RMSNorm eps 1e-6.
 */
import { DoubleStreamAttention, MmditConfig, SingleStreamBlock } from '../common/mmdit';
import { gridPositions, RopeConfig, ropeTable, RopeTable } from '../common/rope';
import { TensorSource } from '../common/safetensors';
import { linearSpecs, modulationSpecs, normSpec, qkvSpecs } from '../common/specs';
import { BlockParams, checkParams, LoadOptions, loadParams, ParamSpec, randomParams, rows,
         whole } from '../common/weights';
import { FluxDims } from '../flux';

/** Same shape of dimensions as FLUX's (HunyuanVideo uses the same widths). */
export type HunyuanDims = FluxDims;

export const HUNYUAN_VIDEO: HunyuanDims = {
  hidden: 3072, heads: 24, headDim: 128, mlpHidden: 12288, axesDim: [16, 56, 56],
};

export const HUNYUAN_TEXT_TOKENS = 256;
export const HUNYUAN_ROPE_THETA = 256;

function config(d: HunyuanDims): MmditConfig {
  return { hidden: d.hidden, heads: d.heads, headDim: d.headDim, mlpHidden: d.mlpHidden,
    order: 'visualFirst', ropeOnText: false, ropeStyle: 'interleaved', eps: 1e-6 };
}

export function hunyuanRopeConfig(d: HunyuanDims = HUNYUAN_VIDEO): RopeConfig {
  return { axesDim: d.axesDim, theta: HUNYUAN_ROPE_THETA, style: 'interleaved' };
}

/** The video tokens' RoPE table: integer (t, h, w), no offset, no scaling (§3.2). */
export function hunyuanRope(grid: number[], d: HunyuanDims = HUNYUAN_VIDEO): RopeTable {
  return ropeTable(gridPositions(grid, d.axesDim.length), hunyuanRopeConfig(d));
}

/** Valid text counts `n_valid = sum(text_mask)` per batch element from a `[B, T]` 0/1 mask. */
export function validTextCounts(mask: ArrayLike<number>, batch: number): number[] {
  if (mask.length % batch !== 0) {
    throw new Error(`validTextCounts: mask of ${mask.length} entries is not [${batch}, T]`);
  }
  const t = mask.length / batch;
  return Array.from({ length: batch }, (_, b) => {
    let n = 0;
    for (let i = 0; i < t; i++) n += mask[b * t + i] ? 1 : 0;
    for (let i = 0; i < n; i++) {
      if (!mask[b * t + i]) {
        throw new Error(`validTextCounts: mask row ${b} is not a prefix of ones (padding must ` +
          'come after the valid tokens)');
      }
    }
    return n;
  });
}

/** Parameters of dual-stream block `i` (table in §3.6). */
export function hunyuanDoubleSpecs(i: number, d: HunyuanDims = HUNYUAN_VIDEO): ParamSpec[] {
  const o = `double_blocks.${i}`;
  const f = `transformer_blocks.${i}`;
  const c = d.hidden;
  return [
    ...modulationSpecs('imgMod', `${o}.img_mod.linear`, `${f}.norm1.linear`, c, 2),
    ...modulationSpecs('txtMod', `${o}.txt_mod.linear`, `${f}.norm1_context.linear`, c, 2),
    ...qkvSpecs('img', `${o}.img_attn_qkv`, ['to_q', 'to_k', 'to_v'].map((n) => `${f}.attn.${n}`), c, 3 * c),
    ...qkvSpecs('txt', `${o}.txt_attn_qkv`, ['add_q_proj', 'add_k_proj', 'add_v_proj'].map((n) => `${f}.attn.${n}`), c, 3 * c),
    normSpec('imgNormQ', `${o}.img_attn_q_norm.weight`, `${f}.attn.norm_q.weight`, d.headDim),
    normSpec('imgNormK', `${o}.img_attn_k_norm.weight`, `${f}.attn.norm_k.weight`, d.headDim),
    normSpec('txtNormQ', `${o}.txt_attn_q_norm.weight`, `${f}.attn.norm_added_q.weight`, d.headDim),
    normSpec('txtNormK', `${o}.txt_attn_k_norm.weight`, `${f}.attn.norm_added_k.weight`, d.headDim),
    ...linearSpecs('imgProj', `${o}.img_attn_proj`, `${f}.attn.to_out.0`, [c, c]),
    ...linearSpecs('txtProj', `${o}.txt_attn_proj`, `${f}.attn.to_add_out`, [c, c]),
  ];
}

/** Parameters of single-stream block `i`: `linear1` rows split 3072/3072/3072/12288. */
export function hunyuanSingleSpecs(i: number, d: HunyuanDims = HUNYUAN_VIDEO): ParamSpec[] {
  const o = `single_blocks.${i}`;
  const f = `single_transformer_blocks.${i}`;
  const c = d.hidden;
  const total = 3 * c + d.mlpHidden;
  return [
    ...modulationSpecs('mod', `${o}.modulation.linear`, `${f}.norm.linear`, c, 1),
    ...qkvSpecs('', `${o}.linear1`, ['to_q', 'to_k', 'to_v'].map((n) => `${f}.attn.${n}`), c, total),
    { param: 'Mlp.weight', original: rows(`${o}.linear1.weight`, [total, c], 3 * c, total),
      diffusers: whole(`${f}.proj_mlp.weight`, [d.mlpHidden, c]) },
    { param: 'Mlp.bias', original: rows(`${o}.linear1.bias`, [total], 3 * c, total),
      diffusers: whole(`${f}.proj_mlp.bias`, [d.mlpHidden]) },
    normSpec('NormQ', `${o}.q_norm.weight`, `${f}.attn.norm_q.weight`, d.headDim),
    normSpec('NormK', `${o}.k_norm.weight`, `${f}.attn.norm_k.weight`, d.headDim),
    ...linearSpecs('out', `${o}.linear2`, `${f}.proj_out`, [c, c + d.mlpHidden]),
  ];
}

function checkDims(d: HunyuanDims) {
  if (d.hidden !== d.heads * d.headDim || d.axesDim.reduce((a, b) => a + b, 0) !== d.headDim) {
    throw new Error(`HunyuanVideo dims: hidden ${d.hidden} must be heads ${d.heads} × headDim ` +
      `${d.headDim}, and axesDim [${d.axesDim}] must sum to headDim`);
  }
}

export function hunyuanDoubleStream(params: BlockParams, d: HunyuanDims = HUNYUAN_VIDEO): DoubleStreamAttention {
  checkDims(d);
  checkParams(params, hunyuanDoubleSpecs(0, d), 'hunyuanDoubleStream');
  return new DoubleStreamAttention(config(d), params);
}

export function hunyuanSingleStream(params: BlockParams, d: HunyuanDims = HUNYUAN_VIDEO): SingleStreamBlock {
  checkDims(d);
  checkParams(params, hunyuanSingleSpecs(0, d), 'hunyuanSingleStream');
  return new SingleStreamBlock(config(d), params);
}

/**
 * Dual-stream block `i` from a checkpoint: diffusers `transformer/` safetensors, or the original
 * `mp_rank_00_model_states.pt` state dict (its `module` entry) re-saved as safetensors.
 */
export function loadHunyuanDoubleStream(source: TensorSource, i: number, options?: LoadOptions,
                                        d: HunyuanDims = HUNYUAN_VIDEO): DoubleStreamAttention {
  return hunyuanDoubleStream(loadParams(source, hunyuanDoubleSpecs(i, d),
    `HunyuanVideo dual-stream block ${i}`, options), d);
}

export function loadHunyuanSingleStream(source: TensorSource, i: number, options?: LoadOptions,
                                        d: HunyuanDims = HUNYUAN_VIDEO): SingleStreamBlock {
  return hunyuanSingleStream(loadParams(source, hunyuanSingleSpecs(i, d),
    `HunyuanVideo single-stream block ${i}`, options), d);
}

export function randomHunyuanDoubleStream(seed: number, d: HunyuanDims = HUNYUAN_VIDEO): DoubleStreamAttention {
  return hunyuanDoubleStream(randomParams(hunyuanDoubleSpecs(0, d), seed), d);
}

export function randomHunyuanSingleStream(seed: number, d: HunyuanDims = HUNYUAN_VIDEO): SingleStreamBlock {
  return hunyuanSingleStream(randomParams(hunyuanSingleSpecs(0, d), seed), d);
}

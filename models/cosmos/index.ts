/**
 * Cosmos-1.0-Diffusion-7B attention (models.md §4): 28 blocks of self-attention (FA), cross-
 * attention (CA) and MLP, 32 heads × 128, no biases, adaLN-LoRA modulation, QK RMSNorm eps 1e-6,
 * half-split 3-D RoPE on the self-attention only (axes t/h/w = 44/42/42 features, NTK θ).
 * Only the self-attention takes GNA; the cross-attention over the 512 T5 tokens stays dense.
 */
import * as tf from '@tensorflow/tfjs-core';
import { denseAttention } from '../../src/ops/dense_attention';
import { DenseJointAttention, JointAttention, JointLayout } from '../common/attention';
import { gatedResidual, linear, modulate, Modulation, modulationTriples, rmsNorm } from '../common/layers';
import { SwappableAttention } from '../common/mmdit';
import { applyRope, gridPositions, RopeConfig, ropeTable, RopeTable } from '../common/rope';
import { TensorSource } from '../common/safetensors';
import { BlockParams, checkParams, LoadOptions, loadParams, ParamSpec, randomParams,
         whole } from '../common/weights';

export interface CosmosDims {
  hidden: number;
  heads: number;
  headDim: number;
  /** T5 hidden size of the cross-attention context. */
  contextDim: number;
  /** Rank of the adaLN-LoRA bottleneck. */
  adaLnLoraDim: number;
  /** RoPE features per axis (t, h, w), sum = headDim. */
  axesDim: number[];
  /** NTK extrapolation ratio per axis (7B Text2World/Video2World: t 2, h 1, w 1). */
  ropeRatio: number[];
}

export const COSMOS_7B: CosmosDims = {
  hidden: 4096, heads: 32, headDim: 128, contextDim: 1024, adaLnLoraDim: 256,
  axesDim: [44, 42, 42], ropeRatio: [2, 1, 1],
};

export const COSMOS_TEXT_TOKENS = 512;
const EPS = 1e-6;

/** `θ_axis = 10000 · r^(d / (d − 2))` (§4.1): θ_t ≈ 20671.16 for the 7B model. */
export function cosmosRopeConfig(d: CosmosDims = COSMOS_7B): RopeConfig {
  return {
    axesDim: d.axesDim,
    theta: d.axesDim.map((dim, a) => 10000 * Math.pow(d.ropeRatio[a], dim / (dim - 2))),
    style: 'halfSplit',
  };
}

/**
 * The video tokens' RoPE table on grid `[T, H, W]`: positions (t·24/fps, h, w); fps 24 (the
 * original CLI) gives integer t, the diffusers default 30 gives 0.8·t (§4.1).
 */
export function cosmosRope(grid: number[], fps = 24, d: CosmosDims = COSMOS_7B): RopeTable {
  if (grid.length !== 3) throw new Error(`cosmosRope: grid [${grid}] must be [T, H, W]`);
  return ropeTable(gridPositions(grid, 3, [24 / fps, 1, 1]), cosmosRopeConfig(d));
}

function subBlockSpecs(i: number, sub: 0 | 1, d: CosmosDims): ParamSpec[] {
  const o = `net.blocks.block${i}.blocks.${sub}`;
  const f = `transformer_blocks.${i}`;
  const attn = sub === 0 ? 'attn1' : 'attn2';
  const norm = sub === 0 ? 'norm1' : 'norm2';
  const kvIn = sub === 0 ? d.hidden : d.contextDim;
  const c = d.hidden;
  const w = (param: string, original: string, diffusers: string, shape: number[]): ParamSpec =>
    ({ param, original: whole(original, shape), diffusers: whole(diffusers, shape) });
  return [
    w('adaLn1.weight', `${o}.adaLN_modulation.1.weight`, `${f}.${norm}.linear_1.weight`, [d.adaLnLoraDim, c]),
    w('adaLn2.weight', `${o}.adaLN_modulation.2.weight`, `${f}.${norm}.linear_2.weight`, [3 * c, d.adaLnLoraDim]),
    w('Q.weight', `${o}.block.attn.to_q.0.weight`, `${f}.${attn}.to_q.weight`, [c, c]),
    w('NormQ', `${o}.block.attn.to_q.1.weight`, `${f}.${attn}.norm_q.weight`, [d.headDim]),
    w('K.weight', `${o}.block.attn.to_k.0.weight`, `${f}.${attn}.to_k.weight`, [c, kvIn]),
    w('NormK', `${o}.block.attn.to_k.1.weight`, `${f}.${attn}.norm_k.weight`, [d.headDim]),
    w('V.weight', `${o}.block.attn.to_v.0.weight`, `${f}.${attn}.to_v.weight`, [c, kvIn]),
    w('out.weight', `${o}.block.attn.to_out.0.weight`, `${f}.${attn}.to_out.0.weight`, [c, c]),
  ];
}

/** Self-attention (FA) parameters of block `i` (§4.5; original names keep the `net.` prefix). */
export function cosmosSelfSpecs(i: number, d: CosmosDims = COSMOS_7B): ParamSpec[] {
  return subBlockSpecs(i, 0, d);
}

/** Cross-attention (CA) parameters of block `i`. */
export function cosmosCrossSpecs(i: number, d: CosmosDims = COSMOS_7B): ParamSpec[] {
  return subBlockSpecs(i, 1, d);
}

export interface CosmosInputs {
  /** Timestep embedding `[B, hidden]`. */
  emb: tf.Tensor;
  /** The network's shared adaLN-LoRA term `[B, 3·hidden]`, added to this sub-block's modulation. */
  adaLnLora?: tf.Tensor;
}

/** `(shift, scale, gate) = L2(L1(SiLU(emb))) + adaln_lora` (§4.3). */
function adaLnLoraModulation(p: BlockParams, inputs: CosmosInputs): Modulation {
  const silu = tf.mul(inputs.emb, tf.sigmoid(inputs.emb));
  let m = linear(linear(silu, p['adaLn1.weight']), p['adaLn2.weight']);
  if (inputs.adaLnLora !== undefined) m = tf.add(m, inputs.adaLnLora);
  return modulationTriples(m, 1)[0];
}

function toHeads(x: tf.Tensor, d: CosmosDims): tf.Tensor {
  return tf.reshape(x, [x.shape[0], x.shape[1] as number, d.heads, d.headDim]);
}

function fromHeads(x: tf.Tensor): tf.Tensor {
  const [b, l, h, e] = x.shape;
  return tf.reshape(x, [b, l, h * e]);
}

function checkDims(d: CosmosDims) {
  if (d.hidden !== d.heads * d.headDim || d.axesDim.reduce((a, b) => a + b, 0) !== d.headDim ||
      d.axesDim.length !== 3 || d.ropeRatio.length !== 3) {
    throw new Error(`Cosmos dims: hidden ${d.hidden} must be heads ${d.heads} × headDim ` +
      `${d.headDim}; axesDim [${d.axesDim}] (3 axes) must sum to headDim; one ropeRatio per axis`);
  }
}

/**
 * The self-attention sub-block: adaLN, Q/K/V, QK-norm, half-split RoPE, attention over the
 * video grid, output projection, gated residual. The caller adds the per-block extra positional
 * embedding to `x` first, as the model does before FA (§4.3).
 */
export class CosmosSelfAttention implements SwappableAttention {
  selfAttention: JointAttention = new DenseJointAttention();
  scale: number;

  constructor(readonly dims: CosmosDims, readonly params: BlockParams) {
    checkDims(dims);
    checkParams(params, cosmosSelfSpecs(0, dims), 'CosmosSelfAttention');
    this.scale = 1 / Math.sqrt(dims.headDim);
  }

  /** `x` `[B, T·H·W, hidden]` (t-major) on `grid` to the updated `x`. */
  apply(x: tf.Tensor, inputs: CosmosInputs & { rope: RopeTable; grid: number[]; tileShape?: number[] }): tf.Tensor {
    const d = this.dims;
    const p = this.params;
    const layout: JointLayout = { grid: inputs.grid, textTokens: 0, order: 'visualFirst',
      tileShape: inputs.tileShape };
    return tf.tidy(() => {
      const mod = adaLnLoraModulation(p, inputs);
      const xm = modulate(x, mod, EPS);
      const proj = (n: string) => toHeads(linear(xm, p[`${n}.weight`]), d);
      const rotate = (t: tf.Tensor) => applyRope(t, inputs.rope, 'halfSplit');
      const q = rotate(rmsNorm(proj('Q'), p.NormQ, EPS));
      const k = rotate(rmsNorm(proj('K'), p.NormK, EPS));
      const o = this.selfAttention.attend(q, k, proj('V'), layout, this.scale);
      return gatedResidual(x, mod.gate, linear(fromHeads(o), p['out.weight']));
    });
  }

  dispose() {
    tf.dispose(Object.values(this.params));
  }
}

/** The cross-attention sub-block: dense over the T5 tokens, no RoPE, no mask (§4.4). */
export class CosmosCrossAttention {
  scale: number;

  constructor(readonly dims: CosmosDims, readonly params: BlockParams) {
    checkDims(dims);
    checkParams(params, cosmosCrossSpecs(0, dims), 'CosmosCrossAttention');
    this.scale = 1 / Math.sqrt(dims.headDim);
  }

  /** `x` `[B, N, hidden]`, `context` `[B, S, contextDim]` to the updated `x`. */
  apply(x: tf.Tensor, context: tf.Tensor, inputs: CosmosInputs): tf.Tensor {
    const d = this.dims;
    const p = this.params;
    return tf.tidy(() => {
      const mod = adaLnLoraModulation(p, inputs);
      const xm = modulate(x, mod, EPS);
      const q = rmsNorm(toHeads(linear(xm, p['Q.weight']), d), p.NormQ, EPS);
      const k = rmsNorm(toHeads(linear(context, p['K.weight']), d), p.NormK, EPS);
      const v = toHeads(linear(context, p['V.weight']), d);
      const o = denseAttention(q, k, v, this.scale).output;
      return gatedResidual(x, mod.gate, linear(fromHeads(o), p['out.weight']));
    });
  }

  dispose() {
    tf.dispose(Object.values(this.params));
  }
}

/**
 * Self-attention of block `i` from a checkpoint: diffusers `transformer/` safetensors, or the
 * original `model.pt` state dict re-saved as safetensors (names keep `net.`).
 */
export function loadCosmosSelfAttention(source: TensorSource, i: number, options?: LoadOptions,
                                        d: CosmosDims = COSMOS_7B): CosmosSelfAttention {
  return new CosmosSelfAttention(d, loadParams(source, cosmosSelfSpecs(i, d),
    `Cosmos block ${i} self-attention`, options));
}

export function loadCosmosCrossAttention(source: TensorSource, i: number, options?: LoadOptions,
                                         d: CosmosDims = COSMOS_7B): CosmosCrossAttention {
  return new CosmosCrossAttention(d, loadParams(source, cosmosCrossSpecs(i, d),
    `Cosmos block ${i} cross-attention`, options));
}

export function randomCosmosSelfAttention(seed: number, d: CosmosDims = COSMOS_7B): CosmosSelfAttention {
  return new CosmosSelfAttention(d, randomParams(cosmosSelfSpecs(0, d), seed));
}

export function randomCosmosCrossAttention(seed: number, d: CosmosDims = COSMOS_7B): CosmosCrossAttention {
  return new CosmosCrossAttention(d, randomParams(cosmosCrossSpecs(0, d), seed));
}

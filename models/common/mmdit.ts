/**
 * The attention part of MMDiT blocks shared by FLUX and HunyuanVideo (models.md §2.3, §2.4, §3.3,
 * §3.5): a double-stream block (separate text and visual weights, one joint attention) and a
 * single-stream block (one joint sequence, attention fused with the MLP through `linear1` and
 * `linear2`). The models differ in token order, RoPE coverage and text masking, which
 * `MmditConfig` carries; the parameter names come from each model's weight specs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { DenseJointAttention, JointAttention, JointLayout, joinJoint, splitJoint } from './attention';
import { gatedResidual, geluTanh, linear, modulate, modulationTriples,
         rmsNorm } from './layers';
import { applyRope, RopeStyle, RopeTable } from './rope';
import { BlockParams } from './weights';

export interface MmditConfig {
  hidden: number;
  heads: number;
  headDim: number;
  mlpHidden: number;
  order: JointLayout['order'];
  /** FLUX rotates the whole joint sequence (text positions are 0); Hunyuan only the video. */
  ropeOnText: boolean;
  ropeStyle: RopeStyle;
  /** LayerNorm and QK RMSNorm eps. */
  eps: number;
}

/** What a block needs besides its hidden states. */
export interface JointInputs {
  /** Conditioning vector `[B, hidden]` (timestep, guidance and pooled text embedding). */
  vec: tf.Tensor;
  /** RoPE table: the joint sequence's tokens when `ropeOnText`, else the visual tokens'. */
  rope: RopeTable;
  /** The visual grid `[H, W]` or `[T, H, W]`. */
  grid: number[];
  /** Valid text tokens per batch element (HunyuanVideo's mask); default all. */
  validText?: number[];
  /** Visual tokens are in this tiled layout (`TiledTokens`, permute-once). */
  tileShape?: number[];
}

/** Blocks whose self-attention can be swapped (`useGna`). */
export interface SwappableAttention {
  selfAttention: JointAttention;
  scale: number;
}

function toHeads(x: tf.Tensor, cfg: MmditConfig): tf.Tensor {
  return tf.reshape(x, [x.shape[0], x.shape[1] as number, cfg.heads, cfg.headDim]);
}

function fromHeads(x: tf.Tensor): tf.Tensor {
  const [b, l, h, d] = x.shape;
  return tf.reshape(x, [b, l, h * d]);
}

/** Per-stream Q, K, V (QK-normed) of `x` with the parameters under `p` (`img` / `txt` / ``). */
function projectQkv(x: tf.Tensor, params: BlockParams, p: string, cfg: MmditConfig): tf.Tensor[] {
  const proj = (n: string) => toHeads(linear(x, params[`${p}${n}.weight`], params[`${p}${n}.bias`]), cfg);
  return [
    rmsNorm(proj('Q'), params[`${p}NormQ`], cfg.eps),
    rmsNorm(proj('K'), params[`${p}NormK`], cfg.eps),
    proj('V'),
  ];
}

/** Joins visual and text q/k/v, applying RoPE where the model does (after QK-norm). */
function jointQkv(vis: tf.Tensor[], txt: tf.Tensor[], layout: JointLayout, cfg: MmditConfig,
                  rope: RopeTable): tf.Tensor[] {
  const rotate = (x: tf.Tensor) => applyRope(x, rope, cfg.ropeStyle);
  if (cfg.ropeOnText) {
    return vis.map((x, i) => {
      const joint = joinJoint(x, txt[i], layout);
      return i < 2 ? rotate(joint) : joint;
    });
  }
  return vis.map((x, i) => joinJoint(i < 2 ? rotate(x) : x, txt[i], layout));
}

/** The visual and the text parts of each joint tensor. */
function splitAll(joint: tf.Tensor[], layout: JointLayout): [tf.Tensor[], tf.Tensor[]] {
  const parts = joint.map((t) => splitJoint(t, layout));
  return [parts.map((s) => s.visual), parts.map((s) => s.text)];
}

function layoutOf(inputs: JointInputs, textTokens: number, cfg: MmditConfig): JointLayout {
  return { grid: inputs.grid, textTokens, order: cfg.order, validText: inputs.validText,
    tileShape: inputs.tileShape };
}

/**
 * Double-stream block, attention part: modulation 1 of both streams, QKV, QK-norm, RoPE, joint
 * attention, output projections and gated residuals. Parameters: `{img,txt}Mod.{weight,bias}`
 * (the first (shift, scale, gate) rows of the 6-way modulation), `{img,txt}{Q,K,V,Proj}.{weight,
 * bias}`, `{img,txt}Norm{Q,K}`.
 */
export class DoubleStreamAttention implements SwappableAttention {
  selfAttention: JointAttention = new DenseJointAttention();
  scale: number;

  constructor(readonly config: MmditConfig, readonly params: BlockParams) {
    this.scale = 1 / Math.sqrt(config.headDim);
  }

  /** `img` `[B, N, hidden]`, `txt` `[B, T, hidden]` to the updated streams. */
  apply(img: tf.Tensor, txt: tf.Tensor, inputs: JointInputs): { img: tf.Tensor; txt: tf.Tensor } {
    const cfg = this.config;
    const p = this.params;
    const layout = layoutOf(inputs, txt.shape[1] as number, cfg);
    return tf.tidy(() => {
      const silu = tf.mul(inputs.vec, tf.sigmoid(inputs.vec));
      const [imgMod] = modulationTriples(linear(silu, p['imgMod.weight'], p['imgMod.bias']), 1);
      const [txtMod] = modulationTriples(linear(silu, p['txtMod.weight'], p['txtMod.bias']), 1);
      const vis = projectQkv(modulate(img, imgMod, cfg.eps), p, 'img', cfg);
      const tx = projectQkv(modulate(txt, txtMod, cfg.eps), p, 'txt', cfg);
      const [q, k, v] = jointQkv(vis, tx, layout, cfg, inputs.rope);
      const o = splitJoint(this.selfAttention.attend(q, k, v, layout, this.scale), layout);
      return {
        img: gatedResidual(img, imgMod.gate, linear(fromHeads(o.visual), p['imgProj.weight'], p['imgProj.bias'])),
        txt: gatedResidual(txt, txtMod.gate, linear(fromHeads(o.text), p['txtProj.weight'], p['txtProj.bias'])),
      };
    });
  }

  dispose() {
    tf.dispose(Object.values(this.params));
  }
}

/**
 * Single-stream block (the whole block: its attention output projection is fused with the MLP
 * in `linear2`). Parameters: `mod.{weight,bias}`, `{Q,K,V,Mlp}.{weight,bias}` (the row blocks of
 * `linear1`), `NormQ`, `NormK`, `out.{weight,bias}` (`linear2`).
 */
export class SingleStreamBlock implements SwappableAttention {
  selfAttention: JointAttention = new DenseJointAttention();
  scale: number;

  constructor(readonly config: MmditConfig, readonly params: BlockParams) {
    this.scale = 1 / Math.sqrt(config.headDim);
  }

  /** `x` `[B, L, hidden]`, the joint sequence in the model's order, with `textTokens` of text. */
  apply(x: tf.Tensor, textTokens: number, inputs: JointInputs): tf.Tensor {
    const cfg = this.config;
    const p = this.params;
    const layout = layoutOf(inputs, textTokens, cfg);
    return tf.tidy(() => {
      const silu = tf.mul(inputs.vec, tf.sigmoid(inputs.vec));
      const [mod] = modulationTriples(linear(silu, p['mod.weight'], p['mod.bias']), 1);
      const xm = modulate(x, mod, cfg.eps);
      const joint = projectQkv(xm, p, '', cfg);
      // FLUX rotates the joint sequence as it is; HunyuanVideo only its video part.
      const [q, k, v] = cfg.ropeOnText
        ? joint.map((t, i) => (i < 2 ? applyRope(t, inputs.rope, cfg.ropeStyle) : t))
        : jointQkv(...splitAll(joint, layout), layout, cfg, inputs.rope);
      const attn = fromHeads(this.selfAttention.attend(q, k, v, layout, this.scale));
      const mlp = geluTanh(linear(xm, p['Mlp.weight'], p['Mlp.bias']));
      const out = linear(tf.concat([attn, mlp], -1), p['out.weight'], p['out.bias']);
      return gatedResidual(x, mod.gate, out);
    });
  }

  dispose() {
    tf.dispose(Object.values(this.params));
  }
}

/**
 * Names, inputs and attributes of the kernels this package registers. Every backend implements
 * these against the same contract; attributes are the validated `GnaAttrs` of `params.ts`.
 */
import { NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { GnaAttrs, GnaProblem, TokenPermuteAttrs } from './params';

/** Forward GNA. Inputs q, k, v; outputs `[output, lse]`. */
export const GNA = 'GeneralizedNeighborhoodAttention';
/** Backward GNA. Inputs q, k, v, output, lse, dOutput, dLse; outputs `[dq, dk, dv]`. */
export const GNA_GRAD = 'GeneralizedNeighborhoodAttentionGrad';
/** `[B, ...spatial, H, E]` to `[B*G, seq, H, E]` (spec §4). */
export const GNA_TOKEN_PERMUTE = 'GNATokenPermute';
/** The exact inverse of `GNATokenPermute`. */
export const GNA_TOKEN_UNPERMUTE = 'GNATokenUnpermute';

export interface GnaInputs extends NamedTensorInfoMap {
  q: TensorInfo;
  k: TensorInfo;
  v: TensorInfo;
}

export interface GnaGradInputs extends GnaInputs {
  output: TensorInfo;
  lse: TensorInfo;
  dOutput: TensorInfo;
  dLse: TensorInfo;
}

export interface TokenPermuteInputs extends NamedTensorInfoMap {
  x: TensorInfo;
}

export type GnaKernelAttrs = GnaAttrs;
export type TokenPermuteKernelAttrs = TokenPermuteAttrs;

/**
 * The problem a GNA kernel was called with, from its (already validated) input shapes and
 * attributes; backends call this rather than re-deriving shapes themselves.
 */
export function gnaProblemOf(inputs: GnaInputs, attrs: GnaAttrs): GnaProblem {
  const qs = inputs.q.shape;
  const rank = qs.length;
  return {
    windowSize: attrs.windowSize,
    stride: attrs.stride,
    dilation: attrs.dilation,
    isCausal: attrs.isCausal,
    scale: attrs.scale,
    batch: qs[0],
    spatialShape: qs.slice(1, rank - 2),
    heads: qs[rank - 2],
    kvHeads: inputs.k.shape[rank - 2],
    headDim: qs[rank - 1],
    valueDim: inputs.v.shape[rank - 1],
  };
}

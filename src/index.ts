/**
 * tfjs-gna: Generalized Neighborhood Attention for TensorFlow.js.
 * Importing the package registers its kernels and gradients and adds `tf.gna`,
 * `tf.tokenPermute` and `tf.tokenUnpermute` to `@tensorflow/tfjs-core`.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import { registerAll } from './register';
import { gna as gnaOp, GnaOptions, GnaResult } from './ops/gna';
import { tokenPermute as tokenPermuteOp, tokenUnpermute as tokenUnpermuteOp } from './ops/token_permute';
import { TokenPermuteOptions, TokenUnpermuteOptions } from './params';

registerAll();

export { gna, GnaOptions, GnaResult } from './ops/gna';
export { tokenPermute, tokenUnpermute } from './ops/token_permute';
export { mergeAttentions } from './ops/merge_attentions';
export { denseAttention, AttentionResult } from './ops/dense_attention';
export { GNA, GNA_GRAD, GNA_TOKEN_PERMUTE, GNA_TOKEN_UNPERMUTE } from './kernel_names';
export {
  GnaAttrs, GnaProblem, GnaWindowOptions, PerAxis, TokenPermuteOptions, TokenUnpermuteOptions,
  normalizeGnaProblem, normalizeWindowOptions, axisWindow,
} from './params';
export * as windowMath from './window';
export { permuteLayout, permuteGatherMap, PermuteLayout } from './layout';
export { attendedPairs, gnaFlops, denseFlops } from './flops';
export * from './simulator';
export { registerWebGPUBackendWithSubgroups, setGnaWebGPUSubgroups } from '../kernels/webgpu/subgroups';

declare module '@tensorflow/tfjs-core' {
  export function gna(q: Tensor, k: Tensor, v: Tensor, options: GnaOptions & {returnLse: true}): GnaResult;
  export function gna(q: Tensor, k: Tensor, v: Tensor, options: GnaOptions): Tensor;
  export function tokenPermute(x: Tensor, options: TokenPermuteOptions): Tensor;
  export function tokenUnpermute(x: Tensor, options: TokenUnpermuteOptions): Tensor;
}

// Keep the op implementations referenced for the declaration merge above.
export type GnaOpTypes = typeof gnaOp | typeof tokenPermuteOp | typeof tokenUnpermuteOp;

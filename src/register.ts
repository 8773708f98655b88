/**
 * Registers this package's kernels and gradients with tfjs-core and attaches the ops to the
 * `@tensorflow/tfjs-core` namespace. Runs once, on import of the package.
 */
import * as tf from '@tensorflow/tfjs-core';
// The module object itself: `import * as` would give a copy under esModuleInterop.
import tfCore = require('@tensorflow/tfjs-core');
import { cpuKernelConfigs } from '../kernels/cpu/register';
// Needs only tfjs-core types: @tensorflow/tfjs-backend-webgpu stays an optional peer.
import { webgpuKernelConfigs } from '../kernels/webgpu/register';
import { gnaGradConfig } from './gradients/gna_grad';
import { tokenPermuteGradConfig, tokenUnpermuteGradConfig } from './gradients/token_permute_grad';
import { gna } from './ops/gna';
import { tokenPermute, tokenUnpermute } from './ops/token_permute';

function registerOnce(config: tf.KernelConfig) {
  if (tf.getKernel(config.kernelName, config.backendName) === undefined) tf.registerKernel(config);
}

function resolveOptional(name: string): string | undefined {
  try {
    return require.resolve(name);
  } catch {
    return undefined;
  }
}

/**
 * Sets `ops` on a module's exports where that is possible. A getter is the union package's live
 * re-export of tfjs-core (the union loaded after an earlier registration), which already resolves
 * to the op; assigning over it would throw.
 */
function attachOps(exports: Record<string, unknown>, ops: Record<string, unknown>) {
  for (const [name, op] of Object.entries(ops)) {
    const existing = Object.getOwnPropertyDescriptor(exports, name);
    if (existing === undefined ? Object.isExtensible(exports) : existing.writable === true) {
      exports[name] = op;
    }
  }
}

export function registerAll() {
  cpuKernelConfigs.forEach(registerOnce);
  webgpuKernelConfigs.forEach(registerOnce);
  for (const grad of [gnaGradConfig, tokenPermuteGradConfig, tokenUnpermuteGradConfig]) {
    if (tf.getGradient(grad.kernelName) === undefined) tf.registerGradient(grad);
  }
  // tfjs-core's CommonJS exports object is extensible: `tf.gna(...)` works at run time, and the
  // declaration merging in index.ts types it.
  const ops = { gna, tokenPermute, tokenUnpermute };
  attachOps(tfCore as unknown as Record<string, unknown>, ops);
  // The @tensorflow/tfjs union package snapshots tfjs-core's exports when it loads; if it is
  // loaded already, give it the ops too. It is never loaded from here. Bundles for the browser
  // have no module cache; there the package's own `gna` export is the way in.
  const cache = typeof require === 'undefined' ? undefined : require.cache;
  const union = cache?.[resolveOptional('@tensorflow/tfjs') ?? ''];
  if (union !== undefined) attachOps(union.exports, ops);
}

/**
 * Picks the fastest tfjs backend this process can run GNA on: the native `cuda` backend when the
 * addon is built and a GPU is present, else `webgpu` through Dawn when an adapter exists, else
 * `cpu`. Every probe that fails says why, so the demo's first line explains the choice.
 */
import * as tf from '@tensorflow/tfjs';

export interface BackendChoice {
  name: string;
  /** Why each faster backend was passed over. */
  skipped: string[];
}

function tryCuda(): string | undefined {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { cudaRegistration } = require('../kernels/native') as typeof import('../kernels/native');
  return cudaRegistration.registered ? undefined : cudaRegistration.reason;
}

async function tryWebGPU(): Promise<string | undefined> {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { installDawn } = require('../bench/webgpu/dawn_node') as typeof import('../bench/webgpu/dawn_node');
    installDawn();
    type Adapter = { info: { architecture: string } };
    const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<Adapter | null> } } })
      .navigator?.gpu;
    const adapter = gpu === undefined ? null : await gpu.requestAdapter();
    if (adapter === null) return 'no WebGPU adapter';
    // A software rasteriser runs WGSL on the CPU, slower than tfjs's own CPU kernels.
    if (adapter.info.architecture === 'swiftshader') return 'only a software adapter (SwiftShader)';
    require('@tensorflow/tfjs-backend-webgpu');
    return undefined;
  } catch (e) {
    return `Dawn could not start: ${(e as Error).message.split('\n')[0]}`;
  }
}

export async function pickBestBackend(): Promise<BackendChoice> {
  const skipped: string[] = [];
  const cuda = tryCuda();
  if (cuda === undefined && (await tf.setBackend('cuda'))) return { name: 'cuda', skipped };
  skipped.push(`cuda: ${cuda ?? 'tf.setBackend failed'}`);
  const webgpu = await tryWebGPU();
  if (webgpu === undefined && (await tf.setBackend('webgpu'))) return { name: 'webgpu', skipped };
  skipped.push(`webgpu: ${webgpu ?? 'tf.setBackend failed'}`);
  await tf.setBackend('cpu');
  return { name: tf.getBackend(), skipped };
}

/**
 * Getting a WebGPU adapter for the tests: Dawn in Node (SwiftShader's Vulkan driver in CI, named
 * by VK_ICD_FILENAMES; a real GPU elsewhere). Whether an adapter exists is probed once, in a
 * child process, so that suites can decide synchronously to run or skip. With
 * GNA_REQUIRE_WEBGPU=1 (set by CI) a missing adapter fails the suite instead of skipping it.
 */
import { execFileSync } from 'child_process';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { installDawn } from '../../bench/webgpu/dawn_node';

export const REQUIRE_WEBGPU = process.env.GNA_REQUIRE_WEBGPU === '1';

const PROBE = `
const path = require('path');
const addon = path.join(path.dirname(require.resolve('webgpu/package.json')), 'dist',
  process.platform + '-' + process.arch, 'dawn.node');
const { create } = require(addon);
create([]).requestAdapter().then((a) => {
  console.log(a ? 'adapter ' + [a.info.vendor, a.info.architecture, a.info.description].join(' ') : 'none');
  process.exit(0);
}, (e) => { console.log('error ' + e.message); process.exit(0); });
`;

/** Why no adapter can be had, or undefined when one can. */
function probeAdapter(): string | undefined {
  try {
    const out = execFileSync(process.execPath, ['-e', PROBE], {
      cwd: path.resolve(__dirname, '../..'), encoding: 'utf8', timeout: 60000,
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim().split('\n').pop() ?? '';
    if (out.startsWith('adapter')) return undefined;
    return `Dawn found no WebGPU adapter (${out}); on Linux without a GPU install Debian's ` +
      'chromium and libvulkan1 and set VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json';
  } catch (e) {
    return `probing WebGPU through Dawn failed: ${(e as Error).message.split('\n')[0]}`;
  }
}

export const NO_WEBGPU_REASON = probeAdapter();

/**
 * `describe` when an adapter exists; otherwise a suite that fails (CI) or is skipped with the
 * reason printed (a developer machine).
 */
export function describeWebGPU(name: string, body: () => void): void {
  if (NO_WEBGPU_REASON === undefined) {
    describe(name, body);
  } else if (REQUIRE_WEBGPU) {
    describe(name, () => {
      test('a WebGPU adapter is available (GNA_REQUIRE_WEBGPU=1)', () => {
        throw new Error(NO_WEBGPU_REASON);
      });
    });
  } else {
    // eslint-disable-next-line no-console
    console.warn(`skipping "${name}": ${NO_WEBGPU_REASON}`);
    describe.skip(name, body);
  }
}

let ready: Promise<void> | undefined;

/** Installs Dawn, registers tfjs-backend-webgpu and makes `webgpu` the active backend. */
export function useWebGPU(): Promise<void> {
  if (ready === undefined) {
    ready = (async () => {
      installDawn();
      // tfjs-backend-webgpu registers its backend on import only if navigator.gpu exists.
      require('@tensorflow/tfjs-backend-webgpu');
      if (!(await tf.setBackend('webgpu'))) throw new Error('tf.setBackend("webgpu") failed');
    })();
  }
  return ready.then(() => tf.setBackend('webgpu')).then(() => undefined);
}

/** Data buffers the active backend holds (tensors plus any leaked kernel temporaries). */
export function backendDataCount(): number {
  return (tf.engine().backend as unknown as { numDataIds(): number }).numDataIds();
}

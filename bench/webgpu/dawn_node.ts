/**
 * WebGPU in Node through Dawn (the `webgpu` npm package) for tfjs-backend-webgpu, from CommonJS.
 * The package is ESM only, and its entry does nothing but load its native addon (and patch
 * `GPUDevice.destroy`, which tfjs never calls); CommonJS code, jest included, loads the addon
 * itself. tfjs-backend-webgpu registers its backend only if `navigator.gpu` exists when it is
 * first imported, so call this before that import.
 */
import * as path from 'path';

interface DawnAddon {
  create(options: string[]): unknown;
  globals: Record<string, unknown>;
}

/** Installs `navigator.gpu` (Dawn, with `options` such as 'enable-dawn-features=...'). */
export function installDawn(options: string[] = []): void {
  const pkg = require.resolve('webgpu/package.json');
  const addon = path.join(path.dirname(pkg), 'dist', `${process.platform}-${process.arch}`,
    'dawn.node');
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { create, globals } = require(addon) as DawnAddon;
  Object.assign(globalThis, globals);
  const gpu = create(options);
  const nav = (globalThis as { navigator?: object }).navigator;
  if (nav !== undefined) {
    Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  } else {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  }
}

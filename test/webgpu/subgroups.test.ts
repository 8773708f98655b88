/**
 * The subgroup variant of the forward program (kernels/webgpu/subgroups.ts) on a `webgpu`
 * backend re-registered on a device with `subgroups` (SwiftShader offers them, 4 lanes wide):
 * every tile size against the float64 reference, and a few whole parity cases (gradients
 * included) through the wrapped device, with nothing left behind.
 */
import * as tf from '@tensorflow/tfjs';
import { setGnaWebGPUForwardTiles } from '../../kernels/webgpu/GeneralizedNeighborhoodAttention';
import { registerWebGPUBackendWithSubgroups, subgroupsEnabled } from '../../kernels/webgpu/subgroups';
import { installDawn } from '../../bench/webgpu/dawn_node';
import { PARITY_CASES, expectParity, runParityCase } from '../helpers/parity_cases';
import { FORWARD_TILE_SIZES, expectForwardTilesMatchReference } from './forward_tile_check';
import { backendDataCount, describeWebGPU } from './webgpu_env';

const WHOLE_CASES = PARITY_CASES.slice(0, 4);

/** Names of the pipelines the backend compiled so far. */
const pipelineKeys = () => Object.keys((tf.backend() as unknown as {
  pipelineCache: Record<string, unknown>;
}).pipelineCache);

describeWebGPU('GNA forward with subgroup operations', () => {
  let ready = false;
  let offered = false;

  beforeAll(async () => {
    installDawn();
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { WebGPUBackend } = require('@tensorflow/tfjs-backend-webgpu');
    const adapter = await (navigator as unknown as {
      gpu: { requestAdapter(): Promise<{ features: Set<string> }> };
    }).gpu.requestAdapter();
    offered = adapter.features.has('subgroups');
    ready = await registerWebGPUBackendWithSubgroups(WebGPUBackend);
    if (!(await tf.setBackend('webgpu'))) throw new Error('tf.setBackend("webgpu") failed');
  });
  afterAll(() => setGnaWebGPUForwardTiles(undefined));

  test('subgroups are on wherever the adapter offers them', () => {
    expect(ready).toBe(offered);
    expect(subgroupsEnabled((tf.backend() as unknown as { device: object }).device)).toBe(ready);
  });

  test.each(FORWARD_TILE_SIZES)('tiles %s', async (_name, tiles) => {
    await expectForwardTilesMatchReference(tiles);
    const forward = pipelineKeys().filter((k) => k.startsWith('gnaForward'));
    expect(forward.length).toBeGreaterThan(0);
    expect(forward.every((k) => k.includes('_sg') === ready)).toBe(true);
  });

  test.each(WHOLE_CASES.map((c) => [c.name, c] as const))('parity %s', async (_name, c) => {
    const tensors = tf.memory().numTensors;
    const buffers = backendDataCount();
    expectParity(await runParityCase(c));
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backendDataCount()).toBe(buffers);
  });
});

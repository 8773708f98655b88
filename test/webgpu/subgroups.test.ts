/**
 * The subgroup variant of the forward program (kernels/webgpu/subgroups.ts) on a `webgpu`
 * backend re-registered on a device with `subgroups` (SwiftShader offers them, 4 lanes wide):
 * every tile size against the float64 reference, and a few whole parity cases (gradients
 * included) through the wrapped device, with nothing left behind.
 */
import * as tf from '@tensorflow/tfjs';
import { gna } from '../../src';
import { BLOCKED_FORWARD_TILES, FORWARD_CANDIDATES } from '../../kernels/webgpu/gna_forward_webgpu';
import { setGnaWebGPUForwardTiles } from '../../kernels/webgpu/GeneralizedNeighborhoodAttention';
import { registerWebGPUBackendWithSubgroups, subgroupsEnabled } from '../../kernels/webgpu/subgroups';
import { installDawn } from '../../bench/webgpu/dawn_node';
import {
  PARITY_CASES, PARITY_TOLERANCE, buildParityInputs, expectParity, parityReference, runParityCase,
} from '../helpers/parity_cases';
import { maxAbsDiff } from '../helpers/random';
import { backendDataCount, describeWebGPU } from './webgpu_env';

const TILE_CASES = PARITY_CASES.filter((c) => [
  '2d (6,7) K(3,2) s(1,2) d(2,3) causal (F,T) (spec §1.9)',
  '3d (9,6,7) K(4,3,2) s(3,1,1) d(1,2,3) B2 H2 D16',
].includes(c.name));

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

  test.each([...FORWARD_CANDIDATES, ...BLOCKED_FORWARD_TILES].map((t) =>
    [`${t.queries}q/${t.keys}k/${t.rowsPerThread}r`, t] as const))('tiles %s', async (_name, tiles) => {
    setGnaWebGPUForwardTiles(tiles);
    for (const c of TILE_CASES) {
      const x = buildParityInputs(c);
      const ref = parityReference(c, x);
      const result = tf.tidy(() => gna(tf.tensor(x.q, x.qShape), tf.tensor(x.k, x.kShape),
        tf.tensor(x.v, x.vShape), {
          windowSize: c.windowSize, stride: c.stride, dilation: c.dilation,
          isCausal: c.isCausal, returnLse: true,
        }));
      const [output, lse] = await Promise.all([result.output.data(), result.lse.data()]);
      tf.dispose([result.output, result.lse]);
      expect(maxAbsDiff(output, ref.output)).toBeLessThanOrEqual(PARITY_TOLERANCE.output);
      expect(maxAbsDiff(lse, ref.lse)).toBeLessThanOrEqual(PARITY_TOLERANCE.lse);
    }
    setGnaWebGPUForwardTiles(undefined);
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

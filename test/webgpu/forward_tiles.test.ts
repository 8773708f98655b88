/**
 * Every forward tile size the WebGPU kernel may pick (devices differ in workgroup memory, so
 * each size is some device's default), and the register-blocked variants, against the float64
 * reference: output and LSE within
 * 1e-4, on cases with padding, dilation, causal axes, stride and GQA.
 */
import * as tf from '@tensorflow/tfjs';
import { gna } from '../../src';
import { BLOCKED_FORWARD_TILES, FORWARD_CANDIDATES } from '../../kernels/webgpu/gna_forward_webgpu';
import { setGnaWebGPUForwardTiles } from '../../kernels/webgpu/GeneralizedNeighborhoodAttention';
import { PARITY_CASES, PARITY_TOLERANCE, buildParityInputs, parityReference } from '../helpers/parity_cases';
import { maxAbsDiff } from '../helpers/random';
import { describeWebGPU, useWebGPU } from './webgpu_env';

const CASES = PARITY_CASES.filter((c) => [
  '2d (6,7) K(3,2) s(1,2) d(2,3) causal (F,T) (spec §1.9)',
  '3d (9,6,7) K(4,3,2) s(3,1,1) d(1,2,3) B2 H2 D16',
].includes(c.name));

describeWebGPU('GNA forward on webgpu with every tile size', () => {
  beforeAll(() => useWebGPU());
  afterAll(() => setGnaWebGPUForwardTiles(undefined));

  test('the cases exist', () => expect(CASES.length).toBe(2));

  test.each([...FORWARD_CANDIDATES, ...BLOCKED_FORWARD_TILES].map((t) => [`${t.queries}q/${t.keys}k/${t.rowsPerThread}r`, t] as const))(
    'tiles %s', async (_name, tiles) => {
      setGnaWebGPUForwardTiles(tiles);
      for (const c of CASES) {
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
    });
});

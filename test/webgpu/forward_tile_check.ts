/**
 * Runs the GNA forward at one forced tile size on the active `webgpu` backend over cases with
 * padding, dilation, causal axes, stride and GQA, against the float64 reference (output and LSE
 * within 1e-4). Shared by the plain and the subgroup forward suites.
 */
import * as tf from '@tensorflow/tfjs';
import { gna } from '../../src';
import {
  BLOCKED_FORWARD_TILES, FORWARD_CANDIDATES, ForwardTiles,
} from '../../kernels/webgpu/gna_forward_webgpu';
import { setGnaWebGPUForwardTiles } from '../../kernels/webgpu/GeneralizedNeighborhoodAttention';
import { PARITY_CASES, PARITY_TOLERANCE, buildParityInputs, parityReference } from '../helpers/parity_cases';
import { maxAbsDiff } from '../helpers/random';

export const TILE_CASES = PARITY_CASES.filter((c) => [
  '2d (6,7) K(3,2) s(1,2) d(2,3) causal (F,T) (spec §1.9)',
  '3d (9,6,7) K(4,3,2) s(3,1,1) d(1,2,3) B2 H2 D16',
].includes(c.name));

/** Every tile size the kernel may pick and the register-blocked variants, named for test.each. */
export const FORWARD_TILE_SIZES = [...FORWARD_CANDIDATES, ...BLOCKED_FORWARD_TILES].map((t) =>
  [`${t.queries}q/${t.keys}k/${t.rowsPerThread}r`, t] as const);

export async function expectForwardTilesMatchReference(tiles: ForwardTiles): Promise<void> {
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
}

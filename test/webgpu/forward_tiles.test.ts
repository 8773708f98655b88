/**
 * Every forward tile size the WebGPU kernel may pick (devices differ in workgroup memory, so
 * each size is some device's default), and the register-blocked variants, against the float64
 * reference: output and LSE within 1e-4, on cases with padding, dilation, causal axes, stride
 * and GQA.
 */
import { setGnaWebGPUForwardTiles } from '../../kernels/webgpu/GeneralizedNeighborhoodAttention';
import { FORWARD_TILE_SIZES, TILE_CASES, expectForwardTilesMatchReference } from './forward_tile_check';
import { describeWebGPU, useWebGPU } from './webgpu_env';

describeWebGPU('GNA forward on webgpu with every tile size', () => {
  beforeAll(() => useWebGPU());
  afterAll(() => setGnaWebGPUForwardTiles(undefined));

  test('the cases exist', () => expect(TILE_CASES.length).toBe(2));

  test.each(FORWARD_TILE_SIZES)('tiles %s', (_name, tiles) => expectForwardTilesMatchReference(tiles));
});

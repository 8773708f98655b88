/**
 * `setCudaGnaOptions` validates every field and names it in the error; it runs no device code,
 * so this suite needs no GPU.
 */
import { cudaGnaOptions, setCudaGnaOptions } from '../../kernels/native/gna_launch';

describe('setCudaGnaOptions', () => {
  const saved = { ...cudaGnaOptions };
  afterEach(() => {
    const options = cudaGnaOptions as unknown as Record<string, unknown>;
    for (const key of Object.keys(options)) delete options[key];
    Object.assign(cudaGnaOptions, saved);
  });

  test('stores valid settings', () => {
    setCudaGnaOptions({ precision: 'float16', rowsPerWarp: 16, kernel: 'wgmma',
      wgmmaSchedule: 'cooperative', persistent: false, fuseKvCast: false,
      tileShapes: { qTile: [8, 8], kvTile: [8, 16] } });
    expect(cudaGnaOptions).toMatchObject({ precision: 'float16', rowsPerWarp: 16, kernel: 'wgmma',
      wgmmaSchedule: 'cooperative', persistent: false, fuseKvCast: false,
      tileShapes: { qTile: [8, 8], kvTile: [8, 16] } });
    setCudaGnaOptions({ tileShapes: undefined, wgmmaSchedule: undefined, fuseKvCast: undefined });
    expect(cudaGnaOptions.tileShapes).toBeUndefined();
    expect(cudaGnaOptions.wgmmaSchedule).toBeUndefined();
    expect(cudaGnaOptions.fuseKvCast).toBeUndefined();
  });

  test.each([
    [{ precision: 'fp8' }, /precision=fp8 must be one of 'float32', 'tf32', 'float16', 'bfloat16'/],
    [{ rowsPerWarp: 8 }, /rowsPerWarp=8 must be 16 or 32/],
    [{ kernel: 'fast' }, /kernel=fast must be 'auto', 'mma' or 'wgmma'/],
    [{ wgmmaSchedule: 'pp' }, /wgmmaSchedule=pp must be 'pingpong' or 'cooperative'/],
    [{ persistent: 1 }, /persistent=1 must be a boolean/],
    [{ fuseKvCast: 'yes' }, /fuseKvCast=yes must be a boolean/],
    [{ tileShapes: { qTile: [8, 8], kvTile: [8] } }, /tileShapes must be \{qTile, kvTile\}/],
    [{ tileShapes: { qTile: [0], kvTile: [8] } }, /entries in \[1, 1023\]/],
  ])('rejects %j', (options, message) => {
    expect(() => setCudaGnaOptions(options as never)).toThrow(message);
  });

  test('rejects a non-object', () => {
    expect(() => setCudaGnaOptions(null as never)).toThrow(/options must be an object/);
  });
});

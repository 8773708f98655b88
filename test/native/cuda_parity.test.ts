/**
 * GNA on the `cuda` backend against the float64 reference.
 * - The whole op-parity matrix (test/helpers/parity_cases.ts) at precision 'float32': forward and
 *   LSE within 1e-4, gradients within 1e-3, no tensor or device buffer left behind, and no GNA
 *   kernel through the CPU fallback.
 * - The tensor-core forward (head dims 32/64/128) at 'bfloat16' (atol 5e-2) and 'float16'
 *   (1e-2), NATTEN's forward tolerances (spec §7), on partial-tile, causal, dilated, GQA and
 *   perfectly block-sparse problems.
 */
import * as tf from '@tensorflow/tfjs';
import { gna, normalizeGnaProblem } from '../../src';
import { cudaFallbackStats, resetCudaFallbackStats, setCudaGnaOptions,
         CudaPrecision } from '../../kernels/native';
import { tiledForward } from '../../kernels/native/gna_launch';
import { PlanCache } from '../../kernels/native/gna_plan';
import { PARITY_CASES, ParityCase, buildParityInputs, expectParity, parityReference,
         runParityCase } from '../helpers/parity_cases';
import { maxAbsDiff } from '../helpers/random';
import { addon, describeCuda, useCuda } from './cuda_env';

function deviceBuffers() {
  return addon().memoryInfo().buffers;
}

describeCuda('GNA parity on cuda, precision float32', () => {
  beforeAll(async () => {
    await useCuda();
    setCudaGnaOptions({ precision: 'float32', tileShapes: undefined });
  });

  test.each(PARITY_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const tensors = tf.memory().numTensors;
    const buffers = deviceBuffers();
    resetCudaFallbackStats();
    expectParity(await runParityCase(c));
    const byKernel = cudaFallbackStats().byKernel;
    expect(byKernel.GeneralizedNeighborhoodAttention).toBeUndefined();
    expect(byKernel.GeneralizedNeighborhoodAttentionGrad).toBeUndefined();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(deviceBuffers()).toBe(buffers);
  });
});

const T = true;
const F = false;

function tcCase(name: string, spec: Partial<ParityCase> & Pick<ParityCase, 'shape' | 'windowSize'>,
                headDim: number): ParityCase {
  const rank = spec.shape.length;
  return {
    name, batch: 1, heads: 2, kvHeads: spec.heads ?? 2, headDim, valueDim: headDim,
    stride: new Array(rank).fill(1), dilation: new Array(rank).fill(1),
    isCausal: new Array(rank).fill(false), ...spec,
  };
}

const TC_CASES: ParityCase[] = [
  tcCase('1d L300 K63 s21 (partial tiles) D64', { shape: [300], windowSize: [63], stride: [21] }, 64),
  tcCase('1d L200 K40 s8 causal GQA H4/2 D32',
    { heads: 4, kvHeads: 2, shape: [200], windowSize: [40], stride: [8], isCausal: [T] }, 32),
  tcCase('1d L256 K128 s64 block-sparse D128', { shape: [256], windowSize: [128], stride: [64] }, 128),
  tcCase('2d (24,40) K(8,12) s(4,4) d(2,1) D64',
    { shape: [24, 40], windowSize: [8, 12], stride: [4, 4], dilation: [2, 1] }, 64),
  tcCase('2d (32,32) K(16,16) s(8,8) block-sparse B2 D128',
    { batch: 2, shape: [32, 32], windowSize: [16, 16], stride: [8, 8] }, 128),
  tcCase('2d (20,30) K(5,7) s(1,3) causal (T,F) MQA H3/1 D32',
    { heads: 3, kvHeads: 1, shape: [20, 30], windowSize: [5, 7], stride: [1, 3],
      isCausal: [T, F] }, 32),
  tcCase('3d (8,12,16) K(4,6,8) s(2,3,4) D64',
    { shape: [8, 12, 16], windowSize: [4, 6, 8], stride: [2, 3, 4] }, 64),
  tcCase('3d (6,10,9) K(3,4,3) s(1,2,3) d(2,2,1) causal (F,F,T) D128',
    { shape: [6, 10, 9], windowSize: [3, 4, 3], stride: [1, 2, 3], dilation: [2, 2, 1],
      isCausal: [F, F, T] }, 128),
];

// tf32 and float16 keep 10 mantissa bits, bfloat16 7 (NATTEN's test tolerances, spec §7).
const TOLERANCE: Record<string, number> = { bfloat16: 5e-2, float16: 1e-2, tf32: 1e-2 };

describeCuda('GNA tensor-core forward on cuda', () => {
  beforeAll(useCuda);
  afterAll(() => setCudaGnaOptions({ precision: 'bfloat16', rowsPerWarp: 32, tileShapes: undefined }));

  const variants: Array<[CudaPrecision, 16 | 32]> = [['bfloat16', 32], ['bfloat16', 16],
    ['float16', 32], ['tf32', 16]];
  for (const [precision, rowsPerWarp] of variants) {
    test.each(TC_CASES.map((c) => [c.name, c] as const))(`${precision}, ${rowsPerWarp} rows/warp: %s`,
      (_name, c) => {
      setCudaGnaOptions({ precision, rowsPerWarp });
      const x = buildParityInputs(c);
      const ref = parityReference(c, x);
      const options = { windowSize: c.windowSize, stride: c.stride, dilation: c.dilation,
        isCausal: c.isCausal };
      const problem = normalizeGnaProblem({ shape: x.qShape, dtype: 'float32' },
        { shape: x.kShape, dtype: 'float32' }, { shape: x.vShape, dtype: 'float32' }, options);
      const plans = new PlanCache(addon());
      expect(tiledForward(addon(), plans, problem, { precision, rowsPerWarp })).toBeDefined();
      plans.dispose();
      const tensors = tf.memory().numTensors;
      const buffers = deviceBuffers();
      const q = tf.tensor(x.q, x.qShape);
      const k = tf.tensor(x.k, x.kShape);
      const v = tf.tensor(x.v, x.vShape);
      const { output, lse } = gna(q, k, v, { ...options, returnLse: true });
      const outErr = maxAbsDiff(output.dataSync(), ref.output);
      const lseErr = maxAbsDiff(lse.dataSync(), ref.lse);
      tf.dispose([q, k, v, output, lse]);
      expect(outErr).toBeLessThanOrEqual(TOLERANCE[precision]);
      expect(lseErr).toBeLessThanOrEqual(TOLERANCE[precision]);
      // Really computed at reduced precision: not bit-equal to a float32 result.
      expect(outErr).toBeGreaterThan(1e-6);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(deviceBuffers()).toBe(buffers);
    });
  }
});

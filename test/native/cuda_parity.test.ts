/**
 * GNA on the `cuda` backend against the float64 reference.
 * - The whole op-parity matrix (test/helpers/parity_cases.ts) at precision 'float32': forward and
 *   LSE within 1e-4, gradients within 1e-3, no tensor or device buffer left behind, and no GNA
 *   kernel through the CPU fallback.
 * - The tensor-core forward (head dims 32/64/128) at 'bfloat16' (atol 5e-2) and 'float16'
 *   (1e-2), NATTEN's forward tolerances (spec §7), on partial-tile, causal, dilated, GQA and
 *   perfectly block-sparse problems; the mma.sync kernel, and on sm_90 devices the Hopper wgmma
 *   kernel (bfloat16, head dim 128, 128- and 64-token Q tiles, 64- and 128-token KV tiles, the
 *   pingpong and cooperative schedules, persistent and one CTA per work item, a problem with more
 *   work items than resident CTAs, scores rising and falling along the KV walk so that the
 *   kernel's conditional rescale keeps and moves the running maximum).
 * - The tensor-core backward at 'bfloat16' and 'float16' on the same problems, under NATTEN's
 *   harness (dOutput = 0.05·N(0, 1); here also dLse = 0.05·N(0, 1)) and its gradient tolerances:
 *   1e-2 for dQ, dK, dV, and for bfloat16 with GQA 3e-2 / 4e-2 / 4e-2 (spec §7); deterministic
 *   (bit-equal on a second run).
 */
import * as tf from '@tensorflow/tfjs';
import { gna, normalizeGnaProblem } from '../../src';
import { cudaFallbackStats, resetCudaFallbackStats, setCudaGnaOptions,
         CudaPrecision } from '../../kernels/native';
import { KV_CAST_MIN_WAVES, Scratch, TC_KERNEL_CODES, WGMMA_SCHEDULE_CODES, allocPermuted,
         permuteOperands, permutedRows, shapeDesc,
         tiledForward } from '../../kernels/native/gna_launch';
import { PlanCache } from '../../kernels/native/gna_plan';
import { NativeAddon } from '../../kernels/native/addon';
import { GnaProblem } from '../../src/params';
import { PARITY_CASES, PARITY_TOLERANCE, ParityCase, ParityInputs, buildParityInputs, expectParity, parityReference,
         runParityCase } from '../helpers/parity_cases';
import { maxAbsDiff, mulberry32, randomNormal, seedOf } from '../helpers/random';
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
  afterAll(() => setCudaGnaOptions({ precision: 'bfloat16', rowsPerWarp: 32, kernel: 'auto',
    tileShapes: undefined }));

  const variants: Array<[CudaPrecision, 16 | 32]> = [['bfloat16', 32], ['bfloat16', 16],
    ['float16', 32], ['tf32', 16]];
  for (const [precision, rowsPerWarp] of variants) {
    test.each(TC_CASES.map((c) => [c.name, c] as const))(`${precision}, ${rowsPerWarp} rows/warp: %s`,
      (_name, c) => {
      setCudaGnaOptions({ precision, rowsPerWarp, kernel: 'mma' });
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

// The Hopper kernel (issue 7): tile shapes fixed to its 128- and 64-token Q tiles, KV tiles of 64 and 128
// tokens (one and two 64-key chunks), partial tiles, causal, dilated, GQA and batch 2.
const WGMMA_CASES: Array<[ParityCase, number[][], number[][]]> = [
  [TC_CASES[2], [[128], [64]], [[64], [128]]],
  [TC_CASES[4], [[8, 16], [8, 8]], [[8, 8], [8, 16]]],
  [TC_CASES[7], [[4, 4, 8], [2, 4, 8]], [[2, 4, 8], [4, 4, 8]]],
  [tcCase('1d L300 K63 s21 causal GQA H4/2 D128',
    { heads: 4, kvHeads: 2, shape: [300], windowSize: [63], stride: [21], isCausal: [T] }, 128),
  [[128], [64]], [[64], [128]]],
  [tcCase('2d (24,40) K(8,12) s(4,4) d(2,1) D128',
    { shape: [24, 40], windowSize: [8, 12], stride: [4, 4], dilation: [2, 1] }, 128),
  [[8, 16], [8, 8]], [[8, 8], [8, 16]]],
  // 32 Q tiles x 8 heads = 256 work items of 128 tokens (504 of 64): more than the CTAs an H100
  // holds at once (132, or 264 of 64 rows), so each persistent CTA loops over several items.
  [tcCase('1d L4000 K100 s20 causal GQA H8/2 D128 (many work items)',
    { heads: 8, kvHeads: 2, shape: [4000], windowSize: [100], stride: [20], isCausal: [T] }, 128),
  [[128], [64]], [[128]]],
  // A negative scale: the kernel negates Q (exactly) and folds |scale| into the exponent.
  [tcCase('3d (6,10,9) K(3,4,3) s(1,2,3) scale -0.15 D128',
    { shape: [6, 10, 9], windowSize: [3, 4, 3], stride: [1, 2, 3], scale: -0.15 }, 128),
  [[4, 4, 8], [2, 4, 8]], [[2, 4, 8]]],
];

describeCuda('GNA wgmma forward on cuda (sm_90)', () => {
  beforeAll(useCuda);
  afterAll(() => setCudaGnaOptions({ kernel: 'auto', wgmmaSchedule: undefined, persistent: false,
    fuseKvCast: undefined, tileShapes: undefined }));
  const hopper = () => addon().probe().computeCapability === '9.0';
  const references = new Map<string, [ParityInputs, ReturnType<typeof parityReference>]>();
  const referenceOf = (c: ParityCase) => {
    if (!references.has(c.name)) {
      const x = buildParityInputs(c);
      references.set(c.name, [x, parityReference(c, x)]);
    }
    return references.get(c.name)!;
  };

  // Persistent and one CTA per item; 128-token Q tiles also run both schedules of their two
  // consumer warpgroups (64-token ones have one).
  const cases = WGMMA_CASES.flatMap(([c, qTiles, kvTiles]) => qTiles.flatMap((qTile) =>
    kvTiles.flatMap((kvTile) => (qTile.reduce((a, b) => a * b, 1) === 128
      ? ['pingpong', 'cooperative'] as const : ['pingpong'] as const).flatMap((schedule) =>
      [true, false].map((persistent) => [`${c.name}, tiles ${qTile.join('x')}/` +
        `${kvTile.join('x')}, ${schedule}, ${persistent ? 'persistent' : 'one CTA per item'}`, c,
        qTile, kvTile, schedule, persistent] as const)))));
  test.each(cases)('bfloat16 wgmma: %s', (_name, c, qTile, kvTile, wgmmaSchedule, persistent) => {
    if (!hopper()) return;
    setCudaGnaOptions({ precision: 'bfloat16', kernel: 'wgmma', wgmmaSchedule, persistent,
      fuseKvCast: true, tileShapes: { qTile, kvTile } });
    const [x, ref] = referenceOf(c);
    const tensors = tf.memory().numTensors;
    const buffers = deviceBuffers();
    const q = tf.tensor(x.q, x.qShape);
    const k = tf.tensor(x.k, x.kShape);
    const v = tf.tensor(x.v, x.vShape);
    const { output, lse } = gna(q, k, v, { windowSize: c.windowSize, stride: c.stride,
      dilation: c.dilation, isCausal: c.isCausal, scale: c.scale, returnLse: true });
    const outErr = maxAbsDiff(output.dataSync(), ref.output);
    const lseErr = maxAbsDiff(lse.dataSync(), ref.lse);
    tf.dispose([q, k, v, output, lse]);
    expect(outErr).toBeLessThanOrEqual(TOLERANCE.bfloat16);
    expect(lseErr).toBeLessThanOrEqual(TOLERANCE.bfloat16);
    expect(outErr).toBeGreaterThan(1e-6);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(deviceBuffers()).toBe(buffers);
  });

  // The scaffolding of the tests that run gnaForwardTiled two ways on one problem: the problem,
  // a plan cache and scratch (freed afterwards, no device buffer left behind), Q/K/V uploaded,
  // two output/LSE pairs and their download ([out0, lse0, out1, lse1]).
  interface TwoRuns {
    a: NativeAddon; problem: GnaProblem; plans: PlanCache; scratch: Scratch;
    q: number; k: number; v: number; outs: number[][]; results: () => Float32Array[];
  }
  const withTwoRuns = (c: ParityCase,
                       x: Pick<ParityInputs, 'q' | 'k' | 'v' | 'qShape' | 'kShape' | 'vShape'>,
                       body: (r: TwoRuns) => void) => {
    const a = addon();
    const info = (shape: number[]) => ({ shape, dtype: 'float32' as const });
    const problem = normalizeGnaProblem(info(x.qShape), info(x.kShape), info(x.vShape),
      { windowSize: c.windowSize, stride: c.stride, dilation: c.dilation, isCausal: c.isCausal,
        scale: c.scale });
    const buffers = deviceBuffers();
    const plans = new PlanCache(a);
    const scratch = new Scratch(a);
    try {
      const upload = (data: Float32Array) => {
        const h = scratch.alloc(data.byteLength);
        a.upload(h, data);
        return h;
      };
      const [q, k, v] = [x.q, x.k, x.v].map(upload);
      const outCount = x.q.length / c.headDim * c.valueDim;
      const outs = [0, 1].map(() => [scratch.alloc(outCount * 4),
        scratch.alloc(outCount / c.valueDim * 4)]);
      const results = () => outs.flat().map((h, i) => {
        const host = new Float32Array(i % 2 === 0 ? outCount : outCount / c.valueDim);
        a.download(h, host);
        return host;
      });
      body({ a, problem, plans, scratch, q, k, v, outs, results });
    } finally {
      scratch.free();
      plans.dispose();
    }
    expect(deviceBuffers()).toBe(buffers);
  };

  // gna() hands the wgmma kernel Q as is (float32, original layout; the kernel casts and tiles
  // it). Against Q permuted and cast by the permute kernel first, the result must be bit-equal:
  // both round the same float32 values to bf16.
  // The negative-scale case checks the exact negation of Q on both paths (sign flip while
  // casting, and in place after the cp.async load).
  test.each(([[WGMMA_CASES[4][0], [8, 16], [8, 8]], [WGMMA_CASES[2][0], [2, 4, 8], [4, 4, 8]],
    [WGMMA_CASES[3][0], [64], [128]], [WGMMA_CASES[6][0], [4, 4, 8], [2, 4, 8]],
    [WGMMA_CASES[6][0], [2, 4, 8], [2, 4, 8]]] as const).map(([c, qTile, kvTile]) =>
    [c.name, c, qTile, kvTile] as const))(
    'Q in the original layout (cast fused) equals Q permuted first: %s', (_name, c, qTile, kvTile) => {
    if (!hopper()) return;
    const [x, ref] = referenceOf(c);
    withTwoRuns(c, x, ({ a, problem, plans, scratch, q, k, v, outs, results }) => {
      const tiled = tiledForward(a, plans, problem, { precision: 'bfloat16',
        tileShapes: { qTile: [...qTile], kvTile: [...kvTile] } })!;
      expect(tiled.qNatural).toBe(true);
      const permutedQ = { ...tiled, qNatural: false };
      const p = allocPermuted(scratch, problem, permutedQ);
      permuteOperands(a, problem, permutedQ, q, k, v, p);
      const run = (qBuffer: number, [out, lse]: number[], qNatural: boolean,
                   kernel = TC_KERNEL_CODES.wgmma) =>
        a.gnaForwardTiled(tiled.plan.id, shapeDesc(problem), 'bfloat16', qBuffer, p.k, p.v, out,
          lse, 32, kernel, WGMMA_SCHEDULE_CODES.cooperative, false, qNatural);
      run(p.q!, outs[0], false);
      run(q, outs[1], true);
      const [o0, l0, o1, l1] = results();
      expect(maxAbsDiff(o1, o0)).toBe(0);
      expect(maxAbsDiff(l1, l0)).toBe(0);
      expect(maxAbsDiff(o1, ref.output)).toBeLessThanOrEqual(TOLERANCE.bfloat16);
      // Bad input is an error naming the rule: the mma.sync kernel only reads permuted Q, and Q
      // one float32 short of the original layout is too small.
      expect(() => run(q, outs[1], true, TC_KERNEL_CODES.mma))
        .toThrow(/q in the original layout \(qNatural\) needs the wgmma kernel/);
      const short = scratch.alloc(x.q.byteLength - 4);
      expect(() => run(short, outs[1], true))
        .toThrow(new RegExp(`buffer q holds ${x.q.byteLength - 4} bytes but the op needs ${x.q.byteLength}`));
    });
  });

  // gna() also hands the wgmma kernel with 128-token Q tiles K and V as they are (float32,
  // original layout): a spare producer warp of each CTA casts the (batch, KV head) units ahead of
  // the work items that read them (fuseKvCast). Its permuted bf16 K/V must be the permute kernel's
  // bit for bit (tile padding rows included, as zeros), and so must the output; persistent CTAs
  // and one CTA per item synchronise on the cast differently, so both run.
  const fusedCastCases = WGMMA_CASES.flatMap(([c, qTiles, kvTiles]) => qTiles
    .filter((qTile) => qTile.reduce((a, b) => a * b, 1) === 128)
    .flatMap((qTile) => kvTiles.flatMap((kvTile) => [true, false].map((persistent) =>
      [`${c.name}, tiles ${qTile.join('x')}/${kvTile.join('x')}, ` +
        `${persistent ? 'persistent' : 'one CTA per item'}`, c, qTile, kvTile,
      persistent] as const))));
  // Runs the kernel on K/V cast by the separate pass and on K/V it casts itself; checks both
  // casts and outputs bit for bit, the default choice of fuseKvCast (`byDefault`), the output
  // against the float64 reference where given, and the errors of bad fused-cast arguments.
  const checkFusedCast = (c: ParityCase,
                          x: Pick<ParityInputs, 'q' | 'k' | 'v' | 'qShape' | 'kShape' | 'vShape'>,
                          qTile: readonly number[],
                          kvTile: readonly number[], persistent: boolean, byDefault: boolean,
                          reference?: Float32Array | Float64Array) => withTwoRuns(c, x,
    ({ a, problem, plans, scratch, q, k, v, outs, results }) => {
      const tileShapes = { qTile: [...qTile], kvTile: [...kvTile] };
      const tiled = tiledForward(a, plans, problem, { precision: 'bfloat16', persistent,
        fuseKvCast: true, tileShapes })!;
      expect(tiled.kvNatural).toBe(true);
      expect(tiledForward(a, plans, problem, { precision: 'bfloat16', fuseKvCast: false,
        tileShapes })!.kvNatural).toBe(false);
      expect(tiledForward(a, plans, problem, { precision: 'bfloat16', tileShapes })!.kvNatural)
        .toBe(byDefault);
      const separate = allocPermuted(scratch, problem, { ...tiled, kvNatural: false });
      permuteOperands(a, problem, tiled, q, k, v, separate);
      const fused = allocPermuted(scratch, problem, tiled);
      const run = (p: typeof fused, [out, lse]: number[], ...cast: number[]) =>
        a.gnaForwardTiled(tiled.plan.id, shapeDesc(problem), 'bfloat16', q, p.k, p.v, out, lse, 32,
          TC_KERNEL_CODES.wgmma, WGMMA_SCHEDULE_CODES.cooperative, persistent, true, ...cast);
      run(separate, outs[0]);
      run(fused, outs[1], k, v, fused.castState!);
      const kvBytes = permutedRows(problem, tiled).kvRows * c.kvHeads * c.headDim * 2;
      const bytes = (h: number) => {
        const host = Buffer.alloc(kvBytes);
        a.download(h, host);
        return host;
      };
      expect(bytes(fused.k).equals(bytes(separate.k))).toBe(true);
      expect(bytes(fused.v).equals(bytes(separate.v))).toBe(true);
      const [o0, l0, o1, l1] = results();
      expect(maxAbsDiff(o1, o0)).toBe(0);
      expect(maxAbsDiff(l1, l0)).toBe(0);
      if (reference !== undefined) {
        expect(maxAbsDiff(o1, reference)).toBeLessThanOrEqual(TOLERANCE.bfloat16);
      }
      // Bad input is an error naming the rule: the fused cast needs Q in the original layout
      // too, and writes buffers of its own.
      const permutedQ = scratch.alloc(permutedRows(problem, tiled).qRows * c.heads * c.headDim * 2);
      expect(() => a.gnaForwardTiled(tiled.plan.id, shapeDesc(problem), 'bfloat16', permutedQ,
        fused.k, fused.v, outs[1][0], outs[1][1], 32, TC_KERNEL_CODES.wgmma,
        WGMMA_SCHEDULE_CODES.cooperative, persistent, false, k, v, fused.castState!))
        .toThrow(/fused K\/V cast \(kNatural\) needs the wgmma kernel with 128-token Q tiles, q in/);
      expect(() => run(fused, outs[1], k, v, k))
        .toThrow(/kP, vP and castState must be buffers of their own/);
      expect(() => run(fused, outs[1], k, v, scratch.alloc(4)))
        .toThrow(/buffer castState holds 4 bytes but the op needs/);
    });
  // Small problems: the prologue kernel casts every unit (all their items fit the first wave of
  // CTAs), and by default they keep the separate pass (a unit's items fill under two waves).
  test.each(fusedCastCases)('K/V cast by the kernel equals the separate cast pass: %s',
    (_name, c, qTile, kvTile, persistent) => {
    if (!hopper()) return;
    const [x, ref] = referenceOf(c);
    checkFusedCast(c, x, qTile, kvTile, persistent, false, ref.output);
  });
  // Problems whose units span waves of CTAs: the prologue kernel casts the first wave's units,
  // the CTAs' cast warps the others, paced over the work items, while the attention reads them.
  // A: 288 items per unit (fused by default on a GPU of up to 144 multiprocessors), batch 2 and
  // GQA (4 units, 3 cast in the kernel). B: 128 items per unit (separate by default), dilation
  // (2, 2) and causal (4 units, 2 cast in the kernel). No float64 reference at this size (the
  // separate pass's result is held to it above), and inputs from an integer hash: jest runs
  // Math-heavy generators some 20 times slower than node.
  const atScale = [
    tcCase('2d (64,288) K(16,16) s(8,8) B2 GQA H4/2 D128',
      { batch: 2, heads: 4, kvHeads: 2, shape: [64, 288], windowSize: [16, 16], stride: [8, 8] },
      128),
    tcCase('2d (128,256) K(8,8) s(4,4) d(2,2) causal (T,F) H2/1 D128',
      { heads: 2, kvHeads: 1, shape: [128, 256], windowSize: [8, 8], stride: [4, 4],
        dilation: [2, 2], isCausal: [T, F] }, 128),
  ];
  const hashed = (size: number, seed: number) => {
    const x = new Float32Array(size);
    for (let i = 0; i < size; i++) x[i] = (Math.imul(i + seed, 0x9e3779b1) >>> 8) / 16777216 - 0.5;
    return x;
  };
  test.each(atScale.flatMap((c) => [true, false].map((persistent) =>
    [`${c.name}, ${persistent ? 'persistent' : 'one CTA per item'}`, c, persistent] as const)))(
    'K/V cast by the kernel at scale equals the separate pass: %s', (_name, c, persistent) => {
    if (!hopper()) return;
    const lead = [c.batch, ...c.shape];
    const tokens = lead.reduce((x, y) => x * y, 1);
    const x = { qShape: [...lead, c.heads, c.headDim], kShape: [...lead, c.kvHeads, c.headDim],
      vShape: [...lead, c.kvHeads, c.valueDim], q: hashed(tokens * c.heads * c.headDim, 1),
      k: hashed(tokens * c.kvHeads * c.headDim, 1 << 28),
      v: hashed(tokens * c.kvHeads * c.valueDim, 1 << 29) };
    // The default: fused where a unit's items fill KV_CAST_MIN_WAVES waves of 128-row CTAs.
    const qTiles = c.shape.map((n, a) => Math.ceil(n / (c.dilation[a] * [8, 16][a])))
      .reduce((p, q) => p * q, 1);
    const waves = qTiles * (c.heads / c.kvHeads) / addon().probe().multiProcessorCount!;
    checkFusedCast(c, x, [8, 16], [8, 16], persistent, waves >= KV_CAST_MIN_WAVES);
  });

  // The running maximum (gna_wgmma.cu): on head 0 the scores rise along the KV walk, about 4
  // (slope 1), 16 (slope 4) or 130 (slope 32) log2 units per 64 keys; on head 1 they fall (the
  // first chunk's maximum stays). A step first exponentiates against the running maximum; where
  // its sums exceed kMaxFreeSumLimit (weights above 2^16; at slope 32 they overflow to infinity)
  // the warp computes S again and takes the maximum pass, which keeps the maximum while a chunk's
  // exceeds it by up to 8 (kRescaleSlack) and moves it when by more. Window 512 walks unmasked
  // tiles only, window 320 masked ones too. The ramp is an integer below 256 in K (exact in bf16)
  // times the slope in Q, so bf16 rounding adds little to what is tested.
  test.each([[1, [128], [128], 512], [1, [64], [64], 512], [1, [128], [64], 512],
    [4, [128], [128], 512], [4, [64], [64], 512], [32, [128], [128], 512], [32, [64], [64], 512],
    [32, [128], [64], 512], [4, [128], [128], 320], [32, [128], [128], 320],
    [32, [64], [64], 320]] as const)('bfloat16 wgmma: scores rising or falling along the walk, ' +
    'slope %d, tiles %j/%j, window %d', (slope, qTile, kvTile, window) => {
    if (!hopper()) return;
    const c = tcCase(`1d L512 K${window} score ramp ${slope}`, { shape: [512], windowSize: [window] },
      128);
    const x = buildParityInputs(c);
    const D = c.headDim;
    for (let t = 0; t < 512; t++) {
      for (let h = 0; h < 2; h++) {
        const at = (t * 2 + h) * D;
        for (let d = 1; d < D; d++) {
          x.q[at + d] *= 0.5;
          x.k[at + d] *= 0.5;
        }
        x.q[at] = slope;
        const ramp = Math.round((255 * t) / 511);
        x.k[at] = h === 0 ? ramp : 255 - ramp;
      }
    }
    const ref = parityReference(c, x);
    setCudaGnaOptions({ precision: 'bfloat16', kernel: 'wgmma', wgmmaSchedule: 'cooperative',
      persistent: false, tileShapes: { qTile: [...qTile], kvTile: [...kvTile] } });
    const tensors = tf.memory().numTensors;
    const q = tf.tensor(x.q, x.qShape);
    const k = tf.tensor(x.k, x.kShape);
    const v = tf.tensor(x.v, x.vShape);
    const { output, lse } = gna(q, k, v, { windowSize: c.windowSize, returnLse: true });
    const outErr = maxAbsDiff(output.dataSync(), ref.output);
    const lseErr = maxAbsDiff(lse.dataSync(), ref.lse);
    tf.dispose([q, k, v, output, lse]);
    expect(outErr).toBeLessThanOrEqual(TOLERANCE.bfloat16);
    expect(lseErr).toBeLessThanOrEqual(TOLERANCE.bfloat16);
    expect(tf.memory().numTensors).toBe(tensors);
  });

  test('kernel wgmma where it does not apply is an error naming its requirements', () => {
    const c = TC_CASES[0];  // head dim 64
    setCudaGnaOptions({ precision: 'bfloat16', kernel: 'wgmma', tileShapes: undefined });
    const x = buildParityInputs(c);
    const q = tf.tensor(x.q, x.qShape);
    const k = tf.tensor(x.k, x.kShape);
    const v = tf.tensor(x.v, x.vShape);
    try {
      expect(() => gna(q, k, v, { windowSize: c.windowSize, stride: c.stride }))
        .toThrow(/wgmma kernel needs an sm_90 device, bfloat16, head dim 128/);
    } finally {
      tf.dispose([q, k, v]);
    }
  });
});

// NATTEN's gradient tolerances (spec §7): [dq, dk, dv].
function gradTolerance(precision: 'bfloat16' | 'float16', c: ParityCase): number[] {
  if (precision === 'bfloat16' && c.kvHeads !== c.heads) return [3e-2, 4e-2, 4e-2];
  return [1e-2, 1e-2, 1e-2];
}

describeCuda('GNA tensor-core backward on cuda', () => {
  beforeAll(useCuda);
  afterEach(() => jest.restoreAllMocks());
  afterAll(() => setCudaGnaOptions({ precision: 'bfloat16', tileShapes: undefined }));

  const precisions: Array<'bfloat16' | 'float16'> = ['bfloat16', 'float16'];
  for (const precision of precisions) {
    test.each(TC_CASES.map((c) => [c.name, c] as const))(`${precision}: %s`, (_name, c) => {
      setCudaGnaOptions({ precision, tileShapes: undefined });
      const x = buildParityInputs(c);
      const rng = mulberry32(seedOf(`${c.name} backward`));
      x.dOutput = randomNormal(rng, x.dOutput.length, 0.05);
      x.dLse = randomNormal(rng, x.dLse.length, 0.05);
      const ref = parityReference(c, x);
      const tiledCalls = jest.spyOn(addon(), 'gnaBackwardTiled');
      const tensors = tf.memory().numTensors;
      const buffers = deviceBuffers();
      const options = { windowSize: c.windowSize, stride: c.stride, dilation: c.dilation,
        isCausal: c.isCausal, returnLse: true as const };
      const grads = () => tf.tidy(() => {
        const inputs = [tf.tensor(x.q, x.qShape), tf.tensor(x.k, x.kShape),
          tf.tensor(x.v, x.vShape)];
        const dOutput = tf.tensor(x.dOutput, x.outShape);
        const dLse = tf.tensor(x.dLse, x.lseShape);
        return tf.grads((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => {
          const r = gna(q, k, v, options);
          return tf.add(tf.sum(tf.mul(r.output, dOutput)), tf.sum(tf.mul(r.lse, dLse))) as tf.Scalar;
        })(inputs).map((g) => g.dataSync());
      });
      const first = grads();
      const second = grads();
      expect(tiledCalls).toHaveBeenCalledTimes(2);
      const want = [ref.dq, ref.dk, ref.dv];
      const tolerance = gradTolerance(precision, c);
      first.forEach((g, i) => {
        const err = maxAbsDiff(g, want[i]!);
        expect(err).toBeLessThanOrEqual(tolerance[i]);
        expect(Array.from(second[i])).toEqual(Array.from(g));
      });
      expect(tf.memory().numTensors).toBe(tensors);
      expect(deviceBuffers()).toBe(buffers);
    });
  }

  test('float32 and tf32 keep the exact float32 backward', () => {
    const c = TC_CASES[3];
    const x = buildParityInputs(c);
    const ref = parityReference(c, x);
    const tiledCalls = jest.spyOn(addon(), 'gnaBackwardTiled');
    for (const precision of ['float32', 'tf32'] as const) {
      setCudaGnaOptions({ precision, tileShapes: undefined });
      const [dq, dk, dv] = tf.tidy(() => tf.grads((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) =>
        tf.sum(tf.mul(gna(q, k, v, { windowSize: c.windowSize, stride: c.stride,
          dilation: c.dilation }), tf.tensor(x.dOutput, x.outShape))) as tf.Scalar)(
        [tf.tensor(x.q, x.qShape), tf.tensor(x.k, x.kShape), tf.tensor(x.v, x.vShape)])
        .map((g) => g.dataSync()));
      // tf32: the forward output (an input of δ) carries tf32 rounding.
      const tolerance = precision === 'float32' ? PARITY_TOLERANCE.gradient : TOLERANCE.tf32;
      expect(maxAbsDiff(dq, ref.dq!)).toBeLessThanOrEqual(tolerance);
      expect(maxAbsDiff(dk, ref.dk!)).toBeLessThanOrEqual(tolerance);
      expect(maxAbsDiff(dv, ref.dv!)).toBeLessThanOrEqual(tolerance);
    }
    expect(tiledCalls).not.toHaveBeenCalled();
  });
});

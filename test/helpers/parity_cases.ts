/**
 * The op-parity matrix of GNA (modelled on NATTEN's `test_fna.py` sweep, spec §7, with shapes
 * shrunk so the O(tokens²) float64 reference stays fast) and the harness that checks one case on
 * whatever tfjs backend is active. Backend suites (cpu, webgpu, node) reuse all of it:
 *
 *   await tf.setBackend('webgpu');
 *   for (const c of PARITY_CASES) expectParity(await runParityCase(c));
 *
 * `randomParityCases(count, seed)` adds NATTEN-style random cases on top of the fixed matrix.
 *
 * Tolerances follow spec §7 for fp32: forward and LSE atol 1e-4; every gradient atol 1e-3
 * (stricter than NATTEN's 1e-2 for dQ), with dOutput ~ N(0, 1) rather than NATTEN's 0.05·N(0, 1).
 */
import * as tf from '@tensorflow/tfjs';
import { gna } from '../../src';
import { gnaReference, RefParams, RefResult, RefTensors } from './reference';
import { maxAbsDiff, mulberry32, randomNormal, seedOf } from './random';

export interface ParityCase {
  name: string;
  batch: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  valueDim: number;
  shape: number[];
  windowSize: number[];
  stride: number[];
  dilation: number[];
  isCausal: boolean[];
  /** Additional (unmasked) KV tokens; none when absent. */
  extraTokens?: number;
  /** Explicit softmax scale; the default `headDim^-0.5` when absent. */
  scale?: number;
  /** Also back-propagate a random gradient into the LSE output. */
  lseGrad?: boolean;
}

export const PARITY_TOLERANCE = { output: 1e-4, lse: 1e-4, gradient: 1e-3 };

type CaseSpec = Partial<ParityCase> & Pick<ParityCase, 'shape' | 'windowSize'>;

/** A case with defaults: B=1, H=Hkv=1, D=Dv=8, stride 1, dilation 1, non-causal. */
function parityCase(name: string, spec: CaseSpec): ParityCase {
  const rank = spec.shape.length;
  const headDim = spec.headDim ?? 8;
  return {
    name,
    batch: 1,
    heads: 1,
    kvHeads: spec.heads ?? 1,
    headDim,
    valueDim: headDim,
    stride: new Array<number>(rank).fill(1),
    dilation: new Array<number>(rank).fill(1),
    isCausal: new Array<boolean>(rank).fill(false),
    ...spec,
  };
}

const F = false;
const T = true;

export const PARITY_CASES: ParityCase[] = [
  // ---- 1-D
  parityCase('1d L64 K63 s21 B2 H3 (odd window, stride ~K/3)',
    { batch: 2, heads: 3, headDim: 16, shape: [64], windowSize: [63], stride: [21] }),
  parityCase('1d L64 K63 s21 MQA H3/1 Dv24 lseGrad',
    { heads: 3, kvHeads: 1, headDim: 16, valueDim: 24, shape: [64], windowSize: [63],
      stride: [21], lseGrad: true }),
  parityCase('1d L48 K15 s7 GQA H4/2 B2',
    { batch: 2, heads: 4, kvHeads: 2, shape: [48], windowSize: [15], stride: [7] }),
  parityCase('1d L40 K3 s2 d5', { shape: [40], windowSize: [3], stride: [2], dilation: [5] }),
  parityCase('1d L53 K3 s2 d10 uneven groups D12',
    { headDim: 12, shape: [53], windowSize: [3], stride: [2], dilation: [10], lseGrad: true }),
  parityCase('1d L64 K8 s7 d5 even window, uneven groups',
    { headDim: 16, shape: [64], windowSize: [8], stride: [7], dilation: [5] }),
  parityCase('1d L45 K15 s1 H2 D24', { heads: 2, headDim: 24, shape: [45], windowSize: [15] }),
  parityCase('1d L37 K4 s4 blocked, partial last block, D20 Dv12',
    { headDim: 20, valueDim: 12, shape: [37], windowSize: [4], stride: [4] }),
  parityCase('1d L32 K32 full attention', { batch: 2, shape: [32], windowSize: [32] }),
  parityCase('1d L50 K7 s3 causal',
    { shape: [50], windowSize: [7], stride: [3], isCausal: [T], lseGrad: true }),
  parityCase('1d L41 K6 s6 d3 causal blocked, uneven groups',
    { shape: [41], windowSize: [6], stride: [6], dilation: [3], isCausal: [T] }),
  parityCase('1d L30 K30 causal = plain causal', { shape: [30], windowSize: [30], isCausal: [T] }),
  parityCase('1d L60 K12 s5 causal + 7 additional KV, GQA H4/2 B2',
    { batch: 2, heads: 4, kvHeads: 2, shape: [60], windowSize: [12], stride: [5],
      isCausal: [T], extraTokens: 7, lseGrad: true }),
  parityCase('1d L25 K5 s2 d2 scale 0.37 D5 Dv3',
    { headDim: 5, valueDim: 3, shape: [25], windowSize: [5], stride: [2], dilation: [2],
      scale: 0.37 }),
  parityCase('1d L128 K61 s33 D128 (spec §7 size)',
    { headDim: 128, shape: [128], windowSize: [61], stride: [33] }),
  parityCase('1d L128 K3 s2 d10 D32 (spec §7 size)',
    { headDim: 32, shape: [128], windowSize: [3], stride: [2], dilation: [10] }),
  parityCase('1d L128 K8 s7 d5 D64 causal (spec §7 size)',
    { headDim: 64, shape: [128], windowSize: [8], stride: [7], dilation: [5], isCausal: [T] }),
  parityCase('1d L125 K15 H2 D64 (spec §7 size)',
    { heads: 2, headDim: 64, shape: [125], windowSize: [15] }),
  // ---- 2-D
  parityCase('2d (19,29) K(8,8) d(2,3) D32 (spec §7 size)',
    { headDim: 32, shape: [19, 29], windowSize: [8, 8], dilation: [2, 3] }),
  parityCase('2d (5,25) K(5,16) s(1,16) H4',
    { heads: 4, headDim: 16, shape: [5, 25], windowSize: [5, 16], stride: [1, 16] }),
  parityCase('2d (5,25) K(5,16) s(1,16) GQA H4/2',
    { heads: 4, kvHeads: 2, headDim: 16, shape: [5, 25], windowSize: [5, 16], stride: [1, 16] }),
  parityCase('2d (5,25) K(5,16) s(1,16) MQA H4/1 causal (F,T)',
    { heads: 4, kvHeads: 1, headDim: 16, shape: [5, 25], windowSize: [5, 16], stride: [1, 16],
      isCausal: [F, T] }),
  parityCase('2d (36,9) K(7,3) d(5,1) uneven groups',
    { shape: [36, 9], windowSize: [7, 3], dilation: [5, 1] }),
  parityCase('2d (17,26) K(8,8) d(2,3)', { shape: [17, 26], windowSize: [8, 8], dilation: [2, 3] }),
  parityCase('2d (24,17) K(12,16) d(2,1) lseGrad',
    { shape: [24, 17], windowSize: [12, 16], dilation: [2, 1], lseGrad: true }),
  parityCase('2d (22,23) K(4,2) s(3,2) d(5,11)',
    { shape: [22, 23], windowSize: [4, 2], stride: [3, 2], dilation: [5, 11] }),
  parityCase('2d (8,8) K(8,8) full B2', { batch: 2, shape: [8, 8], windowSize: [8, 8] }),
  parityCase('2d (16,16) K(3,3) causal (T,F)',
    { shape: [16, 16], windowSize: [3, 3], isCausal: [T, F] }),
  parityCase('2d (16,16) K(4,5) s(2,3) causal (T,T) D12',
    { headDim: 12, shape: [16, 16], windowSize: [4, 5], stride: [2, 3], isCausal: [T, T] }),
  parityCase('2d (12,13) K(12,13) s(4,5) full window with stride',
    { shape: [12, 13], windowSize: [12, 13], stride: [4, 5] }),
  parityCase('2d (11,20) K(11,20) s(2,4) causal (T,T)',
    { shape: [11, 20], windowSize: [11, 20], stride: [2, 4], isCausal: [T, T] }),
  parityCase('2d (10,14) K(5,6) s(5,6) blocked, partial last block',
    { shape: [10, 14], windowSize: [5, 6], stride: [5, 6] }),
  parityCase('2d (9,12) K(3,4) s(2,3) causal (T,F) + 5 additional KV, MQA H2/1 D20 Dv12',
    { heads: 2, kvHeads: 1, headDim: 20, valueDim: 12, shape: [9, 12], windowSize: [3, 4],
      stride: [2, 3], isCausal: [T, F], extraTokens: 5 }),
  parityCase('2d (7,9) K(3,5) s(1,2) scale 4 (peaked softmax, large logits)',
    { headDim: 16, shape: [7, 9], windowSize: [3, 5], stride: [1, 2], scale: 4, lseGrad: true }),
  parityCase('2d (6,7) K(3,2) s(1,2) d(2,3) causal (F,T) (spec §1.9)',
    { headDim: 4, shape: [6, 7], windowSize: [3, 2], stride: [1, 2], dilation: [2, 3],
      isCausal: [F, T], lseGrad: true }),
  // ---- 3-D
  parityCase('3d (9,6,7) K(4,3,2) s(3,1,1) d(1,2,3) B2 H2 D16',
    { batch: 2, heads: 2, headDim: 16, shape: [9, 6, 7], windowSize: [4, 3, 2],
      stride: [3, 1, 1], dilation: [1, 2, 3] }),
  parityCase('3d (8,8,8) K(3,3,3) s(2,1,2) d(2,2,2) MQA H4/1',
    { heads: 4, kvHeads: 1, shape: [8, 8, 8], windowSize: [3, 3, 3], stride: [2, 1, 2],
      dilation: [2, 2, 2] }),
  parityCase('3d (8,8,16) K(3,3,3) s(2,1,2) d(2,2,4) MQA H4/1 D32 (spec §7 size)',
    { heads: 4, kvHeads: 1, headDim: 32, shape: [8, 8, 16], windowSize: [3, 3, 3],
      stride: [2, 1, 2], dilation: [2, 2, 4] }),
  parityCase('3d (10,9,7) K(3,4,3) s(2,3,3) d(3,2,2)',
    { shape: [10, 9, 7], windowSize: [3, 4, 3], stride: [2, 3, 3], dilation: [3, 2, 2] }),
  parityCase('3d (8,4,8) K(7,3,7) causal (T,F,T) lseGrad',
    { shape: [8, 4, 8], windowSize: [7, 3, 7], isCausal: [T, F, T], lseGrad: true }),
  parityCase('3d (6,6,6) K(6,6,6) s(2,4,5) full window with stride',
    { shape: [6, 6, 6], windowSize: [6, 6, 6], stride: [2, 4, 5] }),
  parityCase('3d (5,6,7) K(2,3,4) s(2,3,4) causal (F,T,F) + 4 additional KV, B2 H2 D12 Dv8',
    { batch: 2, heads: 2, headDim: 12, valueDim: 8, shape: [5, 6, 7], windowSize: [2, 3, 4],
      stride: [2, 3, 4], isCausal: [F, T, F], extraTokens: 4, lseGrad: true }),
  parityCase('3d (4,5,6) K(3,3,3) s(1,2,3) d(1,1,2) causal (T,T,T) D6',
    { headDim: 6, shape: [4, 5, 6], windowSize: [3, 3, 3], stride: [1, 2, 3],
      dilation: [1, 1, 2], isCausal: [T, T, T] }),
];

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

/**
 * NATTEN's random sweep (spec §7), shrunk: rank 1-3, each dim in [4, 40] while the grid holds at
 * most `maxTokens` tokens, K in [2, L], s in [1, K], d in [1, floor(L/K)], causal per dim at
 * random, heads <= 4 with a random divisor as KV heads, head dims in [1, 24] and Dv within ±4,
 * batch 1-2, additional KV in a third of the cases. Deterministic for a given seed.
 */
export function randomParityCases(count: number, seed: number, maxTokens = 240): ParityCase[] {
  const rng = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
  return Array.from({ length: count }, (_, index) => {
    const rank = int(1, 3);
    const shape = Array.from({ length: rank }, () => int(4, rank === 1 ? 96 : 40));
    for (let axis = 0; product(shape) > maxTokens; axis = (axis + 1) % rank) {
      shape[axis] = Math.max(2, Math.floor(shape[axis] * 0.8));
    }
    const windowSize = shape.map((L) => int(2, L));
    const stride = windowSize.map((K) => int(1, K));
    const dilation = shape.map((L, i) => int(1, Math.floor(L / windowSize[i])));
    const isCausal = shape.map(() => rng() < 0.5);
    const heads = int(1, 4);
    const divisors = Array.from({ length: heads }, (_, i) => i + 1).filter((h) => heads % h === 0);
    const headDim = int(1, 24);
    const c: ParityCase = {
      name: `random #${index} (seed ${seed}) shape (${shape}) K (${windowSize}) s (${stride}) ` +
        `d (${dilation}) causal (${isCausal.map((x) => (x ? 'T' : 'F'))})`,
      batch: int(1, 2),
      heads,
      kvHeads: divisors[int(0, divisors.length - 1)],
      headDim,
      valueDim: Math.max(1, headDim + int(-4, 4)),
      shape, windowSize, stride, dilation, isCausal,
      lseGrad: rng() < 0.5,
    };
    if (rng() < 1 / 3) c.extraTokens = int(1, 6);
    return c;
  });
}

/** Shapes and deterministic float32 data of one case (seeded by the case name). */
export interface ParityInputs {
  qShape: number[];
  kShape: number[];
  vShape: number[];
  outShape: number[];
  lseShape: number[];
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  dOutput: Float32Array;
  /** Zeros unless the case has `lseGrad`. */
  dLse: Float32Array;
  extraKShape?: number[];
  extraVShape?: number[];
  extraK?: Float32Array;
  extraV?: Float32Array;
}

export function buildParityInputs(c: ParityCase): ParityInputs {
  const rng = mulberry32(seedOf(c.name));
  const tokens = product(c.shape);
  const lead = [c.batch, ...c.shape];
  const inputs: ParityInputs = {
    qShape: [...lead, c.heads, c.headDim],
    kShape: [...lead, c.kvHeads, c.headDim],
    vShape: [...lead, c.kvHeads, c.valueDim],
    outShape: [...lead, c.heads, c.valueDim],
    lseShape: [...lead, c.heads],
    q: randomNormal(rng, c.batch * tokens * c.heads * c.headDim),
    k: randomNormal(rng, c.batch * tokens * c.kvHeads * c.headDim),
    v: randomNormal(rng, c.batch * tokens * c.kvHeads * c.valueDim),
    dOutput: randomNormal(rng, c.batch * tokens * c.heads * c.valueDim),
    dLse: c.lseGrad ? randomNormal(rng, c.batch * tokens * c.heads)
      : new Float32Array(c.batch * tokens * c.heads),
  };
  if (c.extraTokens !== undefined) {
    const S = c.extraTokens;
    inputs.extraKShape = [c.batch, S, c.kvHeads, c.headDim];
    inputs.extraVShape = [c.batch, S, c.kvHeads, c.valueDim];
    inputs.extraK = randomNormal(rng, c.batch * S * c.kvHeads * c.headDim);
    inputs.extraV = randomNormal(rng, c.batch * S * c.kvHeads * c.valueDim);
  }
  return inputs;
}

/** The float64 reference result of a case: forward, LSE and all gradients. */
export function parityReference(c: ParityCase, x: ParityInputs): RefResult {
  const params: RefParams = {
    shape: c.shape, windowSize: c.windowSize, stride: c.stride, dilation: c.dilation,
    isCausal: c.isCausal, scale: c.scale ?? 1 / Math.sqrt(c.headDim),
  };
  const tensors: RefTensors = {
    q: x.q, k: x.k, v: x.v, batch: c.batch, heads: c.heads, kvHeads: c.kvHeads,
    headDim: c.headDim, valueDim: c.valueDim,
    extraK: x.extraK, extraV: x.extraV, extraTokens: c.extraTokens,
  };
  return gnaReference(params, tensors, x.dOutput, x.dLse);
}

/** Max abs error per compared quantity, and the ones over tolerance. */
export interface ParityReport {
  name: string;
  errors: Record<string, number>;
  failures: string[];
}

/**
 * Runs a case through `gna` on the active backend (forward with `returnLse`, then `tf.grads` of
 * `sum(output * dOutput) + sum(lse * dLse)`) and compares everything to the float64 reference.
 */
export async function runParityCase(c: ParityCase): Promise<ParityReport> {
  const x = buildParityInputs(c);
  const ref = parityReference(c, x);
  const options = {
    windowSize: c.windowSize, stride: c.stride, dilation: c.dilation, isCausal: c.isCausal,
    scale: c.scale,
  };
  const results = tf.tidy(() => {
    const inputs = [tf.tensor(x.q, x.qShape), tf.tensor(x.k, x.kShape), tf.tensor(x.v, x.vShape)];
    if (x.extraK !== undefined && x.extraV !== undefined) {
      inputs.push(tf.tensor(x.extraK, x.extraKShape), tf.tensor(x.extraV, x.extraVShape));
    }
    const dOutput = tf.tensor(x.dOutput, x.outShape);
    const dLse = tf.tensor(x.dLse, x.lseShape);
    const run = (args: tf.Tensor[]) => gna(args[0], args[1], args[2], {
      ...options, returnLse: true,
      ...(args.length > 3 ? { additionalKeys: args[3], additionalValues: args[4] } : {}),
    });
    const { output, lse } = run(inputs);
    const loss = (...args: tf.Tensor[]) => {
      const r = run(args);
      return tf.add(tf.sum(tf.mul(r.output, dOutput)), tf.sum(tf.mul(r.lse, dLse))) as tf.Scalar;
    };
    return [output, lse, ...tf.grads(loss)(inputs)];
  });
  const values = await Promise.all(results.map((t) => t.data()));
  tf.dispose(results);
  const expected: Array<[string, ArrayLike<number> | undefined, number]> = [
    ['output', ref.output, PARITY_TOLERANCE.output],
    ['lse', ref.lse, PARITY_TOLERANCE.lse],
    ['dq', ref.dq, PARITY_TOLERANCE.gradient],
    ['dk', ref.dk, PARITY_TOLERANCE.gradient],
    ['dv', ref.dv, PARITY_TOLERANCE.gradient],
    ['dAdditionalKeys', ref.dExtraK, PARITY_TOLERANCE.gradient],
    ['dAdditionalValues', ref.dExtraV, PARITY_TOLERANCE.gradient],
  ];
  const report: ParityReport = { name: c.name, errors: {}, failures: [] };
  values.forEach((actual, i) => {
    const [name, want, tolerance] = expected[i];
    const error = maxAbsDiff(actual, want as ArrayLike<number>);
    report.errors[name] = error;
    if (!(error <= tolerance)) report.failures.push(`${name}: max abs error ${error} > ${tolerance}`);
  });
  return report;
}

/** Throws, listing every quantity over tolerance, when a report has failures. */
export function expectParity(report: ParityReport): void {
  if (report.failures.length > 0) {
    throw new Error(`parity case "${report.name}" failed:\n  ${report.failures.join('\n  ')}`);
  }
}

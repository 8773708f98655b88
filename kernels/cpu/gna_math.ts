/**
 * GNA forward and backward on plain typed arrays, heads-last (`[B, tokens, H, D]`). Shared by the
 * tfjs `cpu` kernels and by any backend that computes on the host (the tfjs-node path).
 * Arithmetic is in float64 (JS numbers, Float64Array scratch); inputs and outputs are float32.
 */
import { GnaProblem } from '../../src/params';
import { forEachWindowBlock, WindowBlock } from './window_blocks';

/** Keys per online-softmax step: scores of a block of queries × this many keys stay in cache. */
const KEY_CHUNK = 64;

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

export interface GnaForwardResult {
  output: Float32Array;
  lse: Float32Array;
}

/** Scratch buffers of one forward pass, sized for the largest block. */
interface ForwardScratch {
  qBuf: Float64Array;
  acc: Float64Array;
  rowMax: Float64Array;
  rowSum: Float64Array;
  scores: Float64Array;
}

/**
 * Attention of one block of queries (sharing a window) for one head, with an online softmax
 * over key chunks. A plain function of locals: V8 keeps its loops tight, which it does not for
 * closures over reassigned variables.
 */
function attendBlock(block: WindowBlock, qRows: number, kvRows: number, h: number, hk: number,
                     heads: number, kvHeads: number, D: number, Dv: number, scale: number,
                     q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array,
                     lse: Float32Array, w: ForwardScratch) {
  const { qBuf, acc, rowMax, rowSum, scores } = w;
  const nq = block.queryCount;
  const nk = block.keyCount;
  const queries = block.queries;
  const keys = block.keys;
  // Scaled queries of the block, contiguous, so each key row is reused across them.
  for (let i = 0; i < nq; i++) {
    const src = ((qRows + queries[i]) * heads + h) * D;
    for (let d = 0; d < D; d++) qBuf[i * D + d] = q[src + d] * scale;
  }
  rowMax.fill(-Infinity, 0, nq);
  rowSum.fill(0, 0, nq);
  acc.fill(0, 0, nq * Dv);
  for (let c0 = 0; c0 < nk; c0 += KEY_CHUNK) {
    const c1 = Math.min(c0 + KEY_CHUNK, nk);
    const width = c1 - c0;
    for (let j = c0; j < c1; j++) {
      const kOff = ((kvRows + keys[j]) * kvHeads + hk) * D;
      for (let i = 0; i < nq; i++) {
        const qOff = i * D;
        let s0 = 0;
        let s1 = 0;
        let d = 0;
        for (; d + 1 < D; d += 2) {
          s0 += qBuf[qOff + d] * k[kOff + d];
          s1 += qBuf[qOff + d + 1] * k[kOff + d + 1];
        }
        if (d < D) s0 += qBuf[qOff + d] * k[kOff + d];
        scores[i * KEY_CHUNK + (j - c0)] = s0 + s1;
      }
    }
    // Online softmax: rescale the running sum and accumulator once per chunk.
    for (let i = 0; i < nq; i++) {
      const sOff = i * KEY_CHUNK;
      let m = rowMax[i];
      for (let j = 0; j < width; j++) if (scores[sOff + j] > m) m = scores[sOff + j];
      const alpha = Math.exp(rowMax[i] - m);
      let sum = rowSum[i] * alpha;
      for (let j = 0; j < width; j++) {
        const p = Math.exp(scores[sOff + j] - m);
        scores[sOff + j] = p;
        sum += p;
      }
      rowMax[i] = m;
      rowSum[i] = sum;
      if (alpha !== 1) for (let e = 0; e < Dv; e++) acc[i * Dv + e] *= alpha;
    }
    for (let j = c0; j < c1; j++) {
      const vOff = ((kvRows + keys[j]) * kvHeads + hk) * Dv;
      for (let i = 0; i < nq; i++) {
        const p = scores[i * KEY_CHUNK + (j - c0)];
        const aOff = i * Dv;
        for (let e = 0; e < Dv; e++) acc[aOff + e] += p * v[vOff + e];
      }
    }
  }
  for (let i = 0; i < nq; i++) {
    const row = (qRows + queries[i]) * heads + h;
    const inv = 1 / rowSum[i];
    for (let e = 0; e < Dv; e++) out[row * Dv + e] = acc[i * Dv + e] * inv;
    lse[row] = rowMax[i] + Math.log(rowSum[i]);
  }
}

export function gnaForward(problem: GnaProblem, q: Float32Array, k: Float32Array,
                           v: Float32Array): GnaForwardResult {
  const { batch, heads, kvHeads, headDim: D, valueDim: Dv, scale } = problem;
  const tokens = product(problem.spatialShape);
  const group = heads / kvHeads;
  const output = new Float32Array(batch * tokens * heads * Dv);
  const lse = new Float32Array(batch * tokens * heads);
  let scratch: ForwardScratch | undefined;
  for (let b = 0; b < batch; b++) {
    forEachWindowBlock(problem, (block: WindowBlock) => {
      const maxQ = block.queries.length;
      if (scratch === undefined) {
        scratch = {
          qBuf: new Float64Array(maxQ * D), acc: new Float64Array(maxQ * Dv),
          rowMax: new Float64Array(maxQ), rowSum: new Float64Array(maxQ),
          scores: new Float64Array(maxQ * KEY_CHUNK),
        };
      }
      for (let h = 0; h < heads; h++) {
        attendBlock(block, b * tokens, b * tokens, h, Math.floor(h / group), heads, kvHeads, D,
          Dv, scale, q, k, v, output, lse, scratch);
      }
    });
  }
  return { output, lse };
}

export interface GnaBackwardInputs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  output: Float32Array;
  lse: Float32Array;
  dOutput: Float32Array;
  dLse: Float32Array;
}

export interface GnaBackwardResult {
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
}

/**
 * Backward from the saved output and LSE (spec §3.4): P = exp(S - LSE), dV += P^T dO,
 * dS = P * (dO V^T - (rowsum(dO * O) - dLse)), dQ = scale dS K, dK += scale dS^T Q. Walking
 * queries and scattering into dK/dV sums GQA groups for free.
 */
export function gnaBackward(problem: GnaProblem, x: GnaBackwardInputs): GnaBackwardResult {
  const { batch, heads, kvHeads, headDim: D, valueDim: Dv } = problem;
  const tokens = product(problem.spatialShape);
  const group = heads / kvHeads;
  const grads: BackwardAccumulators = {
    dq: new Float32Array(x.q.length),
    dk: new Float64Array(x.k.length),
    dv: new Float64Array(x.v.length),
    qRow: new Float64Array(D),
    dqRow: new Float64Array(D),
    doRow: new Float64Array(Dv),
  };
  for (let b = 0; b < batch; b++) {
    forEachWindowBlock(problem, (block: WindowBlock) => {
      for (let h = 0; h < heads; h++) {
        backwardBlock(problem, block, b * tokens, h, Math.floor(h / group), x, grads);
      }
    });
  }
  return { dq: grads.dq, dk: Float32Array.from(grads.dk), dv: Float32Array.from(grads.dv) };
}

interface BackwardAccumulators {
  dq: Float32Array;
  dk: Float64Array;
  dv: Float64Array;
  qRow: Float64Array;
  dqRow: Float64Array;
  doRow: Float64Array;
}

function backwardBlock(problem: GnaProblem, block: WindowBlock, rows: number, h: number,
                       hk: number, x: GnaBackwardInputs, a: BackwardAccumulators) {
  const { heads, kvHeads, headDim: D, valueDim: Dv, scale } = problem;
  const { q, k, v, output, lse, dOutput, dLse } = x;
  const { dq, dk, dv, qRow, dqRow, doRow } = a;
  for (let i = 0; i < block.queryCount; i++) {
    const row = (rows + block.queries[i]) * heads + h;
    const lseRow = lse[row];
    let delta = -dLse[row];
    for (let e = 0; e < Dv; e++) {
      doRow[e] = dOutput[row * Dv + e];
      delta += doRow[e] * output[row * Dv + e];
    }
    for (let d = 0; d < D; d++) {
      qRow[d] = q[row * D + d];
      dqRow[d] = 0;
    }
    for (let j = 0; j < block.keyCount; j++) {
      const kvRow = (rows + block.keys[j]) * kvHeads + hk;
      const kOff = kvRow * D;
      const vOff = kvRow * Dv;
      let s = 0;
      for (let d = 0; d < D; d++) s += qRow[d] * k[kOff + d];
      const p = Math.exp(s * scale - lseRow);
      let dp = 0;
      for (let e = 0; e < Dv; e++) {
        dp += doRow[e] * v[vOff + e];
        dv[vOff + e] += p * doRow[e];
      }
      const ds = p * (dp - delta) * scale;
      for (let d = 0; d < D; d++) {
        dqRow[d] += ds * k[kOff + d];
        dk[kOff + d] += ds * qRow[d];
      }
    }
    for (let d = 0; d < D; d++) dq[row * D + d] = dqRow[d];
  }
}

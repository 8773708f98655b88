/**
 * GNA against dense attention written with tfjs ops (`denseAttention`: matMul, logSumExp, exp,
 * matMul), both on tfjs-backend-webgpu in Node through Dawn, float32, side by side in one run:
 * the forward of every case, then forward+backward (gradients of q, k, v through tfjs autodiff)
 * of the cases marked `gradStride`. Prints two tables and one JSON line.
 *   node dist/bench/webgpu/bench.js [--quick] [--sweep] [--no-subgroups] [--out results.json]
 * The backend runs on a device with `subgroups` where the adapter offers them
 * (kernels/webgpu/subgroups.ts; --no-subgroups keeps tfjs's own device), and then GNA's forward
 * is also timed with the subgroup variant turned off. --sweep adds forward rows for every tile
 * size that fits the device; --quick runs small sizes (for a machine without a GPU).
 * Times are per call, GPU work included: calls are queued back to back and the batch is closed
 * by reading one value of the last output (the queue runs in order).
 */
import * as fs from 'fs';
// The full tfjs, not tfjs-core: it registers the gradients of tfjs's own ops (dense backward).
import * as tf from '@tensorflow/tfjs';
import { installDawn } from './dawn_node';
import { denseAttention, gna, normalizeGnaProblem } from '../../src';
import { denseFlops, gnaFlops } from '../../src/flops';
import { GnaProblem } from '../../src/params';
import { simulate } from '../../src/simulator';
import {
  BLOCKED_FORWARD_TILES, FORWARD_CANDIDATES, ForwardTiles, chooseForwardTiles,
} from '../../kernels/webgpu/gna_forward_webgpu';
import { setGnaWebGPUForwardTiles } from '../../kernels/webgpu/GeneralizedNeighborhoodAttention';
import { walkPlanFor } from '../../kernels/webgpu/gna_plan';
import { DeviceBudget, deviceBudget } from '../../kernels/webgpu/gna_webgpu_common';
import { webgpuBackend } from '../../kernels/webgpu/webgpu_backend';
import { registerWebGPUBackendWithSubgroups, setGnaWebGPUSubgroups } from '../../kernels/webgpu/subgroups';
import { printJson, printTable, Row } from '../common/table';

interface Case {
  name: string;
  grid: number[];
  window: number[];
  strides: number[][];
  heads: number;
  dim: number;
  /** Dense attention cannot run (its score matrix would not fit). */
  gnaOnly?: boolean;
  /** Also time forward+backward at this stride. */
  gradStride?: number[];
}

// FLUX-4K first: tfjs-backend-webgpu pools freed buffers without bound, and the dense runs'
// score matrices (gigabytes each) would otherwise leave too little memory for it.
const CASES: Case[] = [
  { name: 'FLUX-4K', grid: [256, 256], window: [80, 80], strides: [[16, 16]], heads: 24, dim: 128,
    gnaOnly: true },
  { name: 'FLUX-1K', grid: [64, 64], window: [32, 32], strides: [[1, 1], [8, 8], [16, 16]],
    heads: 24, dim: 128, gradStride: [8, 8] },
  { name: 'Hunyuan-small', grid: [8, 24, 40], window: [8, 12, 12], strides: [[1, 1, 1], [8, 4, 4]],
    heads: 24, dim: 128 },
];

const QUICK_CASES: Case[] = [
  { name: 'quick-2d', grid: [16, 16], window: [8, 8], strides: [[1, 1], [4, 4]], heads: 2, dim: 32,
    gradStride: [4, 4] },
  { name: 'quick-3d', grid: [4, 8, 8], window: [4, 4, 4], strides: [[1, 1, 1]], heads: 2, dim: 32 },
];

/** The forward tile sizes a sweep tries (those that fit the device). */
const SWEEP: ForwardTiles[] = [...FORWARD_CANDIDATES.slice(0, 4), ...BLOCKED_FORWARD_TILES];

/**
 * Milliseconds per call: one warm-up call (compiles), then the median of 3 timed batches. A
 * call's tensors are all results of work queued in order, so reading one value of the last one
 * waits for the whole call.
 */
async function timePerCall(call: () => tf.Tensor | tf.Tensor[], targetMs: number): Promise<number> {
  const sync = async (result: tf.Tensor | tf.Tensor[]) => {
    const ts = Array.isArray(result) ? result : [result];
    const one = tf.slice(tf.reshape(ts[ts.length - 1], [-1]), [0], [1]);
    await one.data();
    tf.dispose([one, ...ts]);
  };
  let t0 = performance.now();
  await sync(call());
  t0 = performance.now();
  await sync(call());
  const estimate = Math.max(performance.now() - t0, 0.05);
  const calls = Math.max(1, Math.min(50, Math.round(targetMs / estimate)));
  const batches: number[] = [];
  for (let b = 0; b < 3; b++) {
    const start = performance.now();
    for (let i = 0; i < calls - 1; i++) tf.dispose(call());
    await sync(call());
    batches.push((performance.now() - start) / calls);
  }
  return batches.sort((x, y) => x - y)[1];
}

/**
 * Dense attention on tokens flattened, `[B, tokens, H, D]`, split over heads when one score
 * matrix would exceed a storage binding.
 */
function denseAttentionSplit(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, problem: GnaProblem,
                             maxBinding: number): tf.Tensor {
  const tokens = problem.spatialShape.reduce((a, b) => a * b, 1);
  const perHead = tokens * tokens * 4;
  const chunk = Math.max(1, Math.min(problem.heads, Math.floor(maxBinding / perHead)));
  const [qf, kf, vf] = [q, k, v].map((t) => tf.reshape(t, [problem.batch, tokens, problem.heads, problem.headDim]));
  const parts: tf.Tensor[] = [];
  for (let h = 0; h < problem.heads; h += chunk) {
    const n = Math.min(chunk, problem.heads - h);
    const [qh, kh, vh] = [qf, kf, vf].map((t) => tf.slice(t, [0, 0, h, 0], [-1, -1, n, -1]));
    parts.push(denseAttention(qh, kh, vh, problem.scale).output);
  }
  return parts.length === 1 ? parts[0] : tf.concat(parts, 2);
}

function denseCall(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, problem: GnaProblem,
                   maxBinding: number): () => tf.Tensor {
  return () => tf.tidy(() => denseAttentionSplit(q, k, v, problem, maxBinding));
}

/** Gradients of `sum(attention(q, k, v) * dy)` with respect to q, k and v (forward included). */
function gradCall(attention: (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.Tensor,
                  q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, dy: tf.Tensor): () => tf.Tensor[] {
  const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
    tf.reshape(attention(a, b, c), dy.shape));
  return () => grads([q, k, v], dy);
}

function simulatorSpeedup(problem: GnaProblem, qTile: number[], kvTile: number[]): number | string {
  try {
    const result = simulate({
      shape: problem.spatialShape, windowSize: problem.windowSize, stride: problem.stride,
      qTile, kvTile,
    });
    return result.dynamicSpeedup;
  } catch (e) {
    return `n/a (${(e as Error).message.slice(0, 40)})`;
  }
}

/** Times GNA (for every tile size when sweeping) and, once per case, dense attention. */
async function benchStride(c: Case, stride: number[], q: tf.Tensor, k: tf.Tensor, v: tf.Tensor,
                           denseSoFar: number | undefined, budget: DeviceBudget, sweep: boolean,
                           subgroups: boolean, targetMs: number, maxBinding: number,
                           rows: Row[]): Promise<number | undefined> {
  let denseMs = denseSoFar;
  const options = { windowSize: c.window, stride };
  const problem = normalizeGnaProblem(q, k, v, options);
  if (!c.gnaOnly && denseMs === undefined) {
    denseMs = await timePerCall(denseCall(q, k, v, problem, maxBinding), targetMs);
  }
  for (const preferred of sweep ? SWEEP : [undefined]) {
    const tiles = chooseForwardTiles(budget, c.dim, c.dim, c.grid.length, preferred);
    if (preferred !== undefined && tiles !== preferred) continue;
    setGnaWebGPUForwardTiles(tiles);
    const plan = walkPlanFor('keys', problem, tiles.queries, tiles.keys);
    const gnaMs = await timePerCall(() => gna(q, k, v, options), targetMs);
    let withoutSubgroups: number | string = 'n/a';
    if (subgroups) {
      setGnaWebGPUSubgroups(false);
      withoutSubgroups = await timePerCall(() => gna(q, k, v, options), targetMs);
      setGnaWebGPUSubgroups(true);
    }
    const bound = denseFlops(problem) / gnaFlops(problem);
    rows.push({
      case: c.name, grid: c.grid.join('x'), window: c.window.join('x'), stride: stride.join('x'),
      tiles: `${tiles.queries}q/${tiles.keys}k/${tiles.rowsPerThread}r ` +
        `${plan.layout.tileShape.join('x')}|${plan.chunkShape.join('x')}`,
      'dense ms': denseMs ?? 'n/a',
      'gna ms': gnaMs,
      'no-subgroups ms': withoutSubgroups,
      'gna TFLOP/s': gnaFlops(problem) / gnaMs / 1e9,
      'dense TFLOP/s': denseMs === undefined ? 'n/a' : denseFlops(problem) / denseMs / 1e9,
      speedup: denseMs === undefined ? 'n/a' : denseMs / gnaMs,
      'flop bound': bound,
      'sim (dynamic)': simulatorSpeedup(problem, plan.layout.tileShape, plan.chunkShape),
    });
  }
  setGnaWebGPUForwardTiles(undefined);
  return denseMs;
}

/**
 * Forward+backward of GNA and of dense attention (tfjs autodiff through its matMul chain), and
 * the backward alone as the difference to the forward times of the same run.
 */
async function benchGradients(c: Case, stride: number[], q: tf.Tensor, k: tf.Tensor, v: tf.Tensor,
                              targetMs: number, maxBinding: number, forward: Row | undefined): Promise<Row> {
  const options = { windowSize: c.window, stride };
  const problem = normalizeGnaProblem(q, k, v, options);
  const dy = tf.randomNormal(q.shape, 0, 1, 'float32', 3);
  try {
    const gnaMs = await timePerCall(gradCall((a, b, d) => gna(a, b, d, options), q, k, v, dy), targetMs);
    const denseMs = await timePerCall(gradCall((a, b, d) =>
      denseAttentionSplit(a, b, d, problem, maxBinding), q, k, v, dy), targetMs);
    const minus = (total: number, part: unknown) => typeof part === 'number' ? total - part : 'n/a';
    // Training FLOPs: forward (4·D per pair) plus backward (recomputed scores, dP, dS·K, dS·Q,
    // P·dO: 10·D per pair), as FlashAttention counts them.
    const trainFlops = 3.5 * gnaFlops(problem);
    return {
      case: c.name, grid: c.grid.join('x'), window: c.window.join('x'), stride: stride.join('x'),
      'dense fwd+bwd ms': denseMs,
      'gna fwd+bwd ms': gnaMs,
      'gna bwd ms': minus(gnaMs, forward?.['gna ms']),
      'dense bwd ms': minus(denseMs, forward?.['dense ms']),
      'gna TFLOP/s': trainFlops / gnaMs / 1e9,
      speedup: denseMs / gnaMs,
      'flop bound': denseFlops(problem) / gnaFlops(problem),
    };
  } finally {
    dy.dispose();
  }
}

async function main() {
  const quick = process.argv.includes('--quick');
  const sweep = process.argv.includes('--sweep');
  const outIndex = process.argv.indexOf('--out');
  installDawn();
  // tfjs-backend-webgpu registers its backend on import only if navigator.gpu exists.
  const { WebGPUBackend } = require('@tensorflow/tfjs-backend-webgpu');
  const subgroups = !process.argv.includes('--no-subgroups') &&
    await registerWebGPUBackendWithSubgroups(WebGPUBackend);
  if (!(await tf.setBackend('webgpu'))) throw new Error('no WebGPU adapter (tf.setBackend failed)');
  const backend = webgpuBackend(tf.backend());
  const device = (backend.device as unknown as { limits: { maxStorageBufferBindingSize: number } });
  const adapterInfo = (tf.backend() as unknown as { adapterInfo?: Record<string, unknown> }).adapterInfo;
  const budget = deviceBudget(backend);
  const rows: Row[] = [];
  const gradRows: Row[] = [];
  const targetMs = quick ? 50 : 400;
  for (const c of quick ? QUICK_CASES : CASES) {
    const shape = [1, ...c.grid, c.heads, c.dim];
    const [q, k, v] = [0, 1, 2].map((seed) => tf.randomNormal(shape, 0, 1, 'float32', seed));
    let denseMs: number | undefined;
    for (const stride of c.strides) {
      try {
        denseMs = await benchStride(c, stride, q, k, v, denseMs, budget, sweep, subgroups, targetMs,
          device.limits.maxStorageBufferBindingSize, rows);
      } catch (e) {
        // One failing case (out of memory, say) must not cost the rest of a device run.
        rows.push({ case: c.name, grid: c.grid.join('x'), stride: stride.join('x'),
          error: (e as Error).message.slice(0, 200) });
        setGnaWebGPUForwardTiles(undefined);
        setGnaWebGPUSubgroups(true);
      }
    }
    if (c.gradStride !== undefined) {
      const stride = c.gradStride.join('x');
      const forward = rows.find((r) => r.case === c.name && r.stride === stride && !('error' in r));
      try {
        gradRows.push(await benchGradients(c, c.gradStride, q, k, v, targetMs,
          device.limits.maxStorageBufferBindingSize, forward));
      } catch (e) {
        gradRows.push({ case: c.name, stride, error: (e as Error).message.slice(0, 200) });
      }
    }
    tf.dispose([q, k, v]);
  }
  printTable(rows.filter((r) => !('error' in r)));
  console.log('\nforward+backward (gradients of q, k, v):');
  printTable(gradRows.filter((r) => !('error' in r)));
  for (const r of [...rows, ...gradRows].filter((row) => 'error' in row)) {
    console.log(`${r.case} ${r.stride}: ${r.error}`);
  }
  const meta = {
    backend: 'webgpu', dtype: 'float32', adapter: adapterInfo ?? null, subgroups,
    workgroupBytes: budget.workgroupBytes, node: process.version,
  };
  printJson('webgpu', meta, [...rows, ...gradRows]);
  if (outIndex >= 0) {
    fs.writeFileSync(process.argv[outIndex + 1], JSON.stringify({ ...meta, rows, gradRows }, null, 1));
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

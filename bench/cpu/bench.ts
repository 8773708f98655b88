/**
 * GNA against dense attention written with tfjs ops (matMul, softmax, matMul), both on the tfjs
 * `cpu` backend, side by side in one run. Prints a table and one JSON line.
 *   npm run bench:cpu [-- --quick]
 */
import * as tf from '@tensorflow/tfjs';
import { denseAttention, gna, normalizeGnaProblem } from '../../src';
import { denseFlops, gnaFlops } from '../../src/flops';
import { medianMs, printJson, printTable, Row } from '../common/table';

interface Case {
  grid: number[];
  window: number[];
  stride: number[];
}

const HEADS = 4;
const DIM = 64;

const CASES: Case[] = [
  { grid: [32, 32], window: [7, 7], stride: [1, 1] },
  { grid: [32, 32], window: [7, 7], stride: [7, 7] },
  { grid: [32, 32], window: [13, 13], stride: [1, 1] },
  { grid: [32, 32], window: [13, 13], stride: [4, 4] },
  { grid: [48, 48], window: [7, 7], stride: [1, 1] },
  { grid: [48, 48], window: [13, 13], stride: [1, 1] },
  { grid: [48, 48], window: [13, 13], stride: [13, 13] },
];

async function main() {
  const quick = process.argv.includes('--quick');
  await tf.setBackend('cpu');
  const reps = quick ? 1 : 3;
  const rows: Row[] = [];
  const denseMs = new Map<string, number>();
  for (const c of quick ? CASES.slice(0, 2) : CASES) {
    const shape = [1, ...c.grid, HEADS, DIM];
    const [q, k, v] = [0, 1, 2].map((seed) => tf.randomNormal(shape, 0, 1, 'float32', seed));
    const problem = normalizeGnaProblem(q, k, v, { windowSize: c.window, stride: c.stride });
    const tokens = c.grid.reduce((a, b) => a * b, 1);
    const flat = [q, k, v].map((t) => tf.reshape(t, [1, tokens, HEADS, DIM]));
    const key = c.grid.join('x');
    if (!denseMs.has(key)) {
      denseMs.set(key, await medianMs(() => tf.tidy(() => {
        denseAttention(flat[0], flat[1], flat[2], problem.scale).output.dataSync();
      }), reps));
    }
    const gnaMs = await medianMs(() => tf.tidy(() => {
      gna(q, k, v, { windowSize: c.window, stride: c.stride }).dataSync();
    }), reps);
    const dense = denseMs.get(key) as number;
    const bound = denseFlops(problem) / gnaFlops(problem);
    const speedup = dense / gnaMs;
    rows.push({
      grid: key, window: c.window.join('x'), stride: c.stride.join('x'),
      'dense ms': dense, 'gna ms': gnaMs,
      'gna GFLOP/s': gnaFlops(problem) / gnaMs / 1e6,
      'dense GFLOP/s': denseFlops(problem) / dense / 1e6,
      speedup, 'flop bound': bound, 'of bound': speedup / bound,
    });
    tf.dispose([q, k, v, ...flat]);
  }
  printTable(rows);
  printJson('cpu', { backend: 'cpu', heads: HEADS, headDim: DIM, reps }, rows);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

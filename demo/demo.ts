/**
 * The main demo: GNA on a 2-D token grid on the best available backend, printed against dense
 * attention. `npm install && npm run demo`.
 */
import * as tf from '@tensorflow/tfjs';
import { denseAttention, gna, windowMath } from '../src';
import { pickBestBackend } from './backends';

const GRID = [24, 24];
const HEADS = 4;
const DIM = 32;

/** Which keys query `(qy, qx)` attends to, drawn from the window math the kernels use. */
function drawWindow(qy: number, qx: number, window: number, stride: number): string {
  const axis = (n: number) => ({ n, windowSize: window, stride, isCausal: false });
  const rows = windowMath.queryWindow(qy, axis(GRID[0]));
  const cols = windowMath.queryWindow(qx, axis(GRID[1]));
  const lines: string[] = [];
  for (let y = 0; y < GRID[0]; y++) {
    let line = '';
    for (let x = 0; x < GRID[1]; x++) {
      const seen = y >= rows.start && y < rows.end && x >= cols.start && x < cols.end;
      line += y === qy && x === qx ? 'Q' : seen ? '#' : '.';
    }
    lines.push(`    ${line}`);
  }
  return lines.join('\n');
}

function timeMs(fn: () => void, reps = 3): number {
  fn();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) fn();
  return (performance.now() - t0) / reps;
}

async function main() {
  const { name: backend, skipped } = await pickBestBackend();
  console.log(`tfjs-gna demo on backend '${backend}': ${GRID.join('x')} tokens, ${HEADS} heads, ` +
    `head dim ${DIM}`);
  for (const reason of skipped) console.log(`  (not ${reason})`);
  console.log('');
  const shape = [1, ...GRID, HEADS, DIM];
  const [q, k, v] = [1, 2, 3].map((seed) => tf.randomNormal(shape, 0, 1, 'float32', seed));
  const tokens = GRID[0] * GRID[1];
  const flat = [q, k, v].map((t) => tf.reshape(t, [1, tokens, HEADS, DIM]));
  const scale = 1 / Math.sqrt(DIM);

  // A window as large as the grid is full attention: GNA must equal dense attention.
  const full = tf.tidy(() => {
    const dense = tf.reshape(denseAttention(flat[0], flat[1], flat[2], scale).output, shape);
    return tf.max(tf.abs(tf.sub(gna(q, k, v, { windowSize: GRID }), dense))).dataSync()[0];
  });
  console.log(`window ${GRID.join('x')} (whole grid): max |GNA - dense| = ${full.toExponential(2)}\n`);

  const denseMs = timeMs(() => tf.tidy(() => {
    denseAttention(flat[0], flat[1], flat[2], scale).output.dataSync();
  }));
  console.log(`dense attention: ${denseMs.toFixed(1)} ms`);
  if (backend === 'cuda') {
    // Only GNA and token permute are native so far: dense attention's matMul and softmax run
    // through the CPU fallback, so the ratios below overstate GNA's advantage on this backend.
    console.log('  (on cuda, dense attention runs through CPU fallbacks; GNA runs in bfloat16)');
  }
  for (const [window, stride] of [[7, 1], [8, 4], [8, 8]]) {
    const ms = timeMs(() => tf.tidy(() => {
      gna(q, k, v, { windowSize: window, stride }).dataSync();
    }));
    console.log(`GNA window ${window}x${window} stride ${stride}x${stride}: ${ms.toFixed(1)} ms ` +
      `(${(denseMs / ms).toFixed(1)}x dense; ${(tokens / (window * window)).toFixed(1)}x fewer FLOPs)`);
  }
  console.log('\nkeys seen by query (3, 13) with window 8x8, stride 4x4 (its stride group shares them):');
  console.log(drawWindow(3, 13, 8, 4));
  tf.dispose([q, k, v, ...flat]);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

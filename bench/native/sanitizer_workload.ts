/**
 * The workload compute-sanitizer runs on the GPU machine (memcheck, racecheck, synccheck): every
 * native GNA kernel once on small problems with partial tiles, causal masks, dilation and GQA —
 * token permute/unpermute, the float32, mma.sync (bf16/fp16, 16 and 32 rows per warp), tf32 and
 * Hopper wgmma forwards, and the tensor-core and float32 backwards. Small shapes: the sanitizer
 * slows kernels down by orders of magnitude.
 *   compute-sanitizer --tool memcheck node dist/bench/native/sanitizer_workload.js
 */
import { normalizeGnaProblem } from '../../src';
import { GnaProblem } from '../../src/params';
import { nativeAvailability } from '../../kernels/native/addon';
import { CudaGnaOptions, Scratch, gnaBackwardOnDevice,
         gnaForwardOnDevice } from '../../kernels/native/gna_launch';
import { PlanCache } from '../../kernels/native/gna_plan';

interface Problem {
  name: string;
  grid: number[];
  heads: number;
  kvHeads: number;
  dim: number;
  options: { windowSize: number[]; stride: number[]; dilation: number[]; isCausal: boolean[] };
  /** Scores rising along the KV walk: Q's first component this slope, K's the token index / 4. */
  ramp?: number;
}

const PROBLEMS: Problem[] = [
  { name: '1d causal GQA D64', grid: [300], heads: 4, kvHeads: 2, dim: 64,
    options: { windowSize: [63], stride: [21], dilation: [1], isCausal: [true] } },
  { name: '2d dilated D128', grid: [24, 40], heads: 2, kvHeads: 2, dim: 128,
    options: { windowSize: [8, 12], stride: [4, 4], dilation: [2, 1], isCausal: [false, false] } },
  // 512 work items of 128-token Q tiles: persistent wgmma CTAs loop over several.
  { name: '2d many work items GQA D128', grid: [64, 64], heads: 16, kvHeads: 4, dim: 128,
    options: { windowSize: [24, 24], stride: [8, 8], dilation: [1, 1], isCausal: [false, true] } },
  { name: '3d causal D32', grid: [6, 10, 9], heads: 2, kvHeads: 1, dim: 32,
    options: { windowSize: [3, 4, 3], stride: [1, 2, 3], dilation: [2, 2, 1],
      isCausal: [false, false, true] } },
  // Scores rising far above the running maximum from chunk to chunk: the wgmma kernel's max-free
  // steps fall back to recomputing S with mma.sync (masked walk: stride 1, partial tiles).
  { name: '2d rising scores D128', grid: [16, 32], heads: 2, kvHeads: 2, dim: 128, ramp: 32,
    options: { windowSize: [12, 24], stride: [1, 1], dilation: [1, 1], isCausal: [false, false] } },
];

// Forward variants; wgmma runs with fixed 128- and 64-token Q tiles on the 2-D head-dim-128
// problems only.
const VARIANTS: Array<[string, CudaGnaOptions]> = [
  ['float32', { precision: 'float32' }],
  ['bf16 mma 32 rows', { precision: 'bfloat16', kernel: 'mma', rowsPerWarp: 32 }],
  ['fp16 mma 16 rows', { precision: 'float16', kernel: 'mma', rowsPerWarp: 16 }],
  ['tf32', { precision: 'tf32' }],
  ['bf16 wgmma, 128-token Q tiles, pingpong, persistent', { precision: 'bfloat16',
    kernel: 'wgmma', wgmmaSchedule: 'pingpong', persistent: true, fuseKvCast: true,
    tileShapes: { qTile: [8, 16], kvTile: [8, 16] } }],
  ['bf16 wgmma, 128-token Q tiles, cooperative, persistent', { precision: 'bfloat16',
    kernel: 'wgmma', wgmmaSchedule: 'cooperative', persistent: true, fuseKvCast: true,
    tileShapes: { qTile: [8, 16], kvTile: [8, 16] } }],
  ['bf16 wgmma, 128-token Q tiles, pingpong, one CTA per item', { precision: 'bfloat16',
    kernel: 'wgmma', wgmmaSchedule: 'pingpong', persistent: false, fuseKvCast: true,
    tileShapes: { qTile: [8, 16], kvTile: [8, 16] } }],
  // The 128-token variants cast K/V inside the kernel (fuseKvCast: true; these problems are too
  // small for the default to choose it); this one runs the separate cast pass.
  ['bf16 wgmma, 128-token Q tiles, separate K/V cast, one CTA per item', { precision: 'bfloat16',
    kernel: 'wgmma', wgmmaSchedule: 'cooperative', persistent: false, fuseKvCast: false,
    tileShapes: { qTile: [8, 16], kvTile: [8, 16] } }],
  ['bf16 wgmma, 128-token Q tiles over 64-token KV tiles (four-stage ring), persistent', {
    precision: 'bfloat16', kernel: 'wgmma', wgmmaSchedule: 'cooperative', persistent: true,
    fuseKvCast: true,
    tileShapes: { qTile: [8, 16], kvTile: [8, 8] } }],
  ['bf16 wgmma, 128-token Q tiles over 64-token KV tiles (four-stage ring), one CTA per item', {
    precision: 'bfloat16', kernel: 'wgmma', wgmmaSchedule: 'cooperative', persistent: false,
    fuseKvCast: true,
    tileShapes: { qTile: [8, 16], kvTile: [8, 8] } }],
  ['bf16 wgmma, 64-token Q tiles, persistent', { precision: 'bfloat16', kernel: 'wgmma',
    persistent: true, tileShapes: { qTile: [8, 8], kvTile: [8, 8] } }],
];

function main() {
  const a = nativeAvailability();
  if (!a.available) throw new Error(`no native path: ${a.reason}`);
  const addon = a.addon;
  const hopper = a.device.computeCapability === '9.0';
  const plans = new PlanCache(addon);
  // An optional argument keeps the variants whose label contains it (racecheck is slow).
  const only = process.argv[2];
  let runs = 0;
  for (const pr of PROBLEMS) {
    const lead = [1, ...pr.grid];
    const qInfo = { shape: [...lead, pr.heads, pr.dim], dtype: 'float32' };
    const kInfo = { shape: [...lead, pr.kvHeads, pr.dim], dtype: 'float32' };
    const problem: GnaProblem = normalizeGnaProblem(qInfo, kInfo, kInfo, pr.options);
    const tokens = pr.grid.reduce((x, y) => x * y, 1);
    const scratch = new Scratch(addon);
    try {
      const buffer = (count: number, first?: (token: number) => number) => {
        const h = scratch.alloc(count * 4);
        const x = Float32Array.from({ length: count }, (_, i) => Math.sin(i * 0.37));
        if (first !== undefined) {
          for (let i = 0; i < count; i += pr.dim) x[i] = first(Math.floor((i * tokens) / count));
        }
        addon.upload(h, x);
        return h;
      };
      const qn = tokens * pr.heads * pr.dim;
      const kn = tokens * pr.kvHeads * pr.dim;
      const ramp = pr.ramp;
      const q = buffer(qn, ramp === undefined ? undefined : () => ramp);
      const k = buffer(kn, ramp === undefined ? undefined : (t) => Math.floor(t / 4));
      const [v, dOutput] = [kn, qn].map((n) => buffer(n));
      const dLse = buffer(tokens * pr.heads);
      const [output, dq] = [qn, qn].map((n) => scratch.alloc(n * 4));
      const lse = scratch.alloc(tokens * pr.heads * 4);
      const [dk, dv] = [kn, kn].map((n) => scratch.alloc(n * 4));
      for (const [label, options] of VARIANTS) {
        if (options.kernel === 'wgmma' && (!hopper || pr.dim !== 128 || pr.grid.length !== 2)) {
          continue;
        }
        if (only !== undefined && !label.includes(only)) continue;
        gnaForwardOnDevice(addon, plans, problem, options, q, k, v, output, lse);
        gnaBackwardOnDevice(addon, plans, problem, options, { q, k, v, output, lse, dOutput, dLse,
          dq, dk, dv });
        addon.synchronize();
        runs++;
        console.log(`${pr.name}: ${label} forward + backward`);
      }
    } finally {
      scratch.free();
    }
  }
  plans.dispose();
  console.log(`sanitizer workload done: ${runs} forward/backward pairs`);
}

main();

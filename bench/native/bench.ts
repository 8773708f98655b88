/**
 * The native CUDA path on the GPU: token permute bandwidth against a plain device copy, and the
 * tensor-core GNA forward on the paper's problems (kernel time, the Q/K/V permute-and-cast time,
 * effective TFLOP/s, FLOP-wise and simulated bounds), with the mma.sync kernel (32 and 16 rows
 * per warp) and the Hopper wgmma kernel (sm_90 only; both schedules, persistent or not) side by
 * side, the layer as gna() runs it (casts included; the K/V cast inside the wgmma kernel where
 * it applies, and with the separate cast pass), the separate pass's two launches (the K/V cast
 * and the kernel reading Q as it is), and the tensor-core backward (permutes included). Peers
 * (cuDNN SDPA, FlexAttention) come from bench/native/torch_anchors.py in the same device call.
 * Prints a table and one JSON line.
 *   npm run bench:native [-- --quick] [-- --precision=float16] [-- --reps=N] [-- --cases=a,b]
 */
import { normalizeGnaProblem } from '../../src';
import { gnaFlops } from '../../src/flops';
import { GnaProblem } from '../../src/params';
import { simulate } from '../../src/simulator';
import { NativeAddon, nativeAvailability } from '../../kernels/native/addon';
import { CudaPrecision, Scratch, TC_KERNEL_CODES, WGMMA_SCHEDULE_CODES, WgmmaSchedule,
         allocPermuted, gnaBackwardOnDevice, gnaForwardOnDevice, permuteOperands, shapeDesc,
         tiledForward } from '../../kernels/native/gna_launch';
import { PlanCache } from '../../kernels/native/gna_plan';
import { printJson, printTable, Row } from '../common/table';
import { CASES, Case, DIM, randomBuffer, tileShapesOf } from './cases';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const precision = (args.find((a) => a.startsWith('--precision='))?.split('=')[1] ??
  'bfloat16') as CudaPrecision;
const reps = Number(args.find((a) => a.startsWith('--reps='))?.split('=')[1] ?? (quick ? 3 : 10));

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

/**
 * Medians of `reps` CUDA-event timings of each of `fns`, taken in rounds (each round times every
 * function once, after one warm-up run of each), so that a drift of the GPU's clock over the
 * measurement does not favour whichever runs first.
 */
function timeInterleavedMs(addon: NativeAddon, fns: Array<() => void>): number[] {
  fns.forEach((fn) => fn());
  addon.synchronize();
  const times = fns.map(() => [] as number[]);
  for (let i = 0; i < reps; i++) {
    fns.forEach((fn, j) => {
      const t = addon.timerStart();
      fn();
      times[j].push(addon.timerStop(t));
    });
  }
  return times.map((ts) => ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)]);
}

/** Median of `reps` CUDA-event timings of `fn` after one warm-up run. */
function timeMs(addon: NativeAddon, fn: () => void): number {
  return timeInterleavedMs(addon, [fn])[0];
}

function copyBandwidth(addon: NativeAddon, scratch: Scratch): number {
  const bytes = 1 << 30;
  const a = scratch.alloc(bytes);
  const b = scratch.alloc(bytes);
  const ms = timeMs(addon, () => addon.copy(b, a, bytes));
  return (2 * bytes) / ms / 1e9;
}

function runCase(addon: NativeAddon, plans: PlanCache, c: Case, copyTBps: number): Row {
  const qShape = [1, ...c.shape, c.heads, DIM];
  const info = { shape: qShape, dtype: 'float32' };
  const problem: GnaProblem = normalizeGnaProblem(info, info, info,
    { windowSize: c.window, stride: c.stride });
  const t0 = Date.now();
  const tileShapes = tileShapesOf(c);
  const tiled = tiledForward(addon, plans, problem, { precision, tileShapes });
  if (tiled === undefined) throw new Error(`${c.name}: no tensor-core kernel for ${precision}`);
  const planMs = Date.now() - t0;
  const { qTile, kvTile } = tiled.plan.shapes!;
  const scratch = new Scratch(addon);
  try {
    const count = product(qShape);
    const q = randomBuffer(scratch, addon, count);
    const k = randomBuffer(scratch, addon, count);
    const v = randomBuffer(scratch, addon, count);
    const out = scratch.alloc(count * 4);
    const lse = scratch.alloc((count / DIM) * 4);
    // Kernel-only timings read all three operands permuted and cast (the mma.sync kernel's
    // layout); the layer column below is the production path.
    const permutedQ = { ...tiled, qNatural: false };
    const p = allocPermuted(scratch, problem, permutedQ);
    const permuteMs = timeMs(addon, () => permuteOperands(addon, problem, permutedQ, q, k, v, p));
    const launch = (rows: 16 | 32, code: number, schedule: WgmmaSchedule = 'pingpong',
                    persistent = false, qNatural = false) => () => addon.gnaForwardTiled(
      tiled.plan.id, shapeDesc(problem), tiled.elem, qNatural ? q : p.q!, p.k, p.v, out, lse, rows,
      code, WGMMA_SCHEDULE_CODES[schedule], persistent, qNatural);
    const kernel16Ms = timeMs(addon, launch(16, TC_KERNEL_CODES.mma));
    const kernelMs = timeMs(addon, launch(32, TC_KERNEL_CODES.mma));
    // The Hopper wgmma kernel where it applies (sm_90, bf16, head dim 128), else NaN: both
    // schedules, one CTA per item and persistent, on permuted Q, and the default schedule on
    // float32 Q in the original layout (what gna() launches after the K/V cast: `natural`), with
    // the K/V cast pass itself, all timed in interleaved rounds; the default (per-problem
    // schedule, one CTA per item) and its largest difference from the mma.sync output over the
    // first 4M values.
    const head = new Float32Array(Math.min(1 << 22, count));
    const tail = new Float32Array(head.length);
    addon.download(out, head);
    const wgmma: Record<string, number> = {};
    let wgmmaDiff = NaN;
    try {
      const configs: Array<[string, () => void]> = (['pingpong', 'cooperative'] as const)
        .flatMap((schedule) => [false, true].map((persistent): [string, () => void] => [
          `${schedule}${persistent ? '+persistent' : ''}`,
          launch(32, TC_KERNEL_CODES.wgmma, schedule, persistent)]));
      // The K/V cast as gna() runs it, into the K/V buffers above (same tiling, same values).
      const castKv = { ...tiled, qNatural: true };
      configs.push(
        ['natural', launch(32, TC_KERNEL_CODES.wgmma, tiled.wgmmaSchedule, false, true)],
        ['natural+persistent', launch(32, TC_KERNEL_CODES.wgmma, tiled.wgmmaSchedule, true, true)],
        ['castKv', () => permuteOperands(addon, problem, castKv, q, k, v, { k: p.k, v: p.v })]);
      // The kernel casting K/V itself (fuseKvCast, 128-token Q tiles): float32 Q, K and V in the
      // original layout, against `natural` + `castKv` above.
      if (tiled.qNatural && product(qTile) === 128) {
        const f = allocPermuted(scratch, problem, { ...tiled, kvNatural: true });
        const fused = (persistent: boolean) => () => addon.gnaForwardTiled(tiled.plan.id,
          shapeDesc(problem), tiled.elem, q, f.k, f.v, out, lse, 32, TC_KERNEL_CODES.wgmma,
          WGMMA_SCHEDULE_CODES[tiled.wgmmaSchedule], persistent, true, k, v, f.castState!);
        configs.push(['fused', fused(false)], ['fused+persistent', fused(true)]);
      }
      const ms = timeInterleavedMs(addon, configs.map(([, fn]) => fn));
      configs.forEach(([name], i) => { wgmma[name] = ms[i]; });
      launch(32, TC_KERNEL_CODES.wgmma, tiled.wgmmaSchedule)();
      addon.download(out, tail);
      wgmmaDiff = head.reduce((m, x, i) => Math.max(m, Math.abs(x - tail[i])), 0);
    } catch (e) {
      if (!/wgmma kernel needs/.test(String(e))) throw e;
    }
    const wgmmaMs = wgmma[tiled.wgmmaSchedule] ?? NaN;
    // The layer as gna() runs it: float32 Q/K/V in the original layout to float32 output and
    // LSE, casts (the K/V cast inside the wgmma kernel where fuseKvCast's default picks it) and
    // kernel, default options; and with the separate K/V cast pass, in interleaved rounds.
    const layer = (fuseKvCast?: boolean) => () => gnaForwardOnDevice(addon, plans, problem,
      { precision, tileShapes, fuseKvCast }, q, k, v, out, lse);
    const [layerMs, layerSeparateMs] = timeInterleavedMs(addon, [layer(), layer(false)]);
    // The GNATokenPermute op itself (float32 in and out) against the copy ceiling.
    const qGeom = tiled.plan.qGeometry!;
    const seq = product(qGeom.tileShape.map((t, a) => Math.ceil(c.shape[a] / t) * t));
    const p32 = scratch.alloc(seq * c.heads * DIM * 4);
    const perm32Ms = timeMs(addon, () => addon.tokenPermute(qGeom, 1, c.heads * DIM, q, p32,
      'float32'));
    const perm32TBps = (4 * count + 4 * seq * c.heads * DIM) / perm32Ms / 1e9;
    // Backward at this precision (the tensor-core kernels, permutes included) on every case;
    // the exact float32 kernels too on the small case, for comparison.
    gnaForwardOnDevice(addon, plans, problem, { precision, tileShapes }, q, k, v, out, lse);
    const [dq, dk, dv] = [0, 1, 2].map(() => scratch.alloc(count * 4));
    const dLse = randomBuffer(scratch, addon, count / DIM);
    const grads = { q, k, v, output: out, lse, dOutput: v, dLse, dq, dk, dv };
    const backwardMs = timeMs(addon, () => gnaBackwardOnDevice(addon, plans, problem,
      { precision, tileShapes }, grads));
    const backwardF32Ms = c.name !== 'flux1k_gna' ? NaN : timeMs(addon, () =>
      gnaBackwardOnDevice(addon, plans, problem, { precision: 'float32' }, grads));
    const sim = simulate({ shape: c.shape, windowSize: c.window, stride: c.stride, qTile, kvTile });
    const flops = gnaFlops(problem);
    return {
      case: c.name,
      tiles: `${qTile.join('x')}/${kvTile.join('x')}`,
      'visits(masked)': `${tiled.plan.visits}(${tiled.plan.maskedVisits})`,
      kernel_ms: kernelMs,
      kernel16_ms: kernel16Ms,
      schedule: tiled.wgmmaSchedule,
      wgmma_ms: wgmmaMs,
      wgmma_pp_ms: wgmma.pingpong ?? NaN,
      wgmma_coop_ms: wgmma.cooperative ?? NaN,
      wgmma_pp_persist_ms: wgmma['pingpong+persistent'] ?? NaN,
      wgmma_coop_persist_ms: wgmma['cooperative+persistent'] ?? NaN,
      natural_ms: wgmma.natural ?? NaN,
      natural_persist_ms: wgmma['natural+persistent'] ?? NaN,
      cast_kv_ms: wgmma.castKv ?? NaN,
      fused_ms: wgmma.fused ?? NaN,
      fused_persist_ms: wgmma['fused+persistent'] ?? NaN,
      TFLOPs_wgmma: flops / wgmmaMs / 1e9,
      layer_ms: layerMs,
      layer_separate_ms: layerSeparateMs,
      TFLOPs_layer: flops / layerMs / 1e9,
      wgmma_vs_mma: wgmmaDiff,
      permute_ms: permuteMs,
      TFLOPs: flops / kernelMs / 1e9,
      'perm32_%copy': (100 * perm32TBps) / copyTBps,
      flop_bound: sim.flopSpeedup,
      sim_bound: sim.simulatedSpeedup,
      plan_ms: planMs,
      backward_ms: backwardMs,
      // FlashAttention's convention: a backward is 2.5 forwards of matrix products.
      TFLOPs_bwd: (2.5 * flops) / backwardMs / 1e9,
      backward_f32_ms: backwardF32Ms,
    };
  } finally {
    scratch.free();
  }
}

function main() {
  const a = nativeAvailability();
  if (!a.available) {
    console.log(`bench:native skipped: ${a.reason}`);
    printJson('native', { skipped: a.reason }, []);
    return;
  }
  const addon = a.addon;
  const plans = new PlanCache(addon);
  const scratch = new Scratch(addon);
  const copyTBps = copyBandwidth(addon, scratch);
  scratch.free();
  const rows: Row[] = [];
  const only = args.find((a) => a.startsWith('--cases='))?.split('=')[1]?.split(',');
  const cases = only !== undefined ? CASES.filter((x) => only.includes(x.name)) :
    quick ? CASES.filter((x) => x.name === 'flux1k_gna') : CASES;
  for (const c of cases) {
    try {
      rows.push(runCase(addon, plans, c, copyTBps));
    } catch (err) {
      rows.push({ case: c.name, error: (err as Error).message });
    }
    console.error(JSON.stringify(rows[rows.length - 1]));
  }
  plans.dispose();
  console.log(`device: ${a.device.name} (cc ${a.device.computeCapability}); precision ${precision}; ` +
    `D=${DIM}, batch 1; copy ${copyTBps.toFixed(2)} TB/s (read+write); median of ${reps}`);
  printTable(rows);
  printJson('native', { device: a.device.name, precision, headDim: DIM, copyTBps, reps }, rows);
}

main();

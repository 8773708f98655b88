/**
 * One native GNA forward case, run a few times as gna() runs it (casts and kernel), as the target
 * of a profiler on the GPU machine (device_run.sh PROFILE=1 runs Nsight Compute on it).
 *   node dist/bench/native/profile.js --case=flux4k_gna [--kernel=wgmma] [--schedule=cooperative]
 *     [--persistent] [--launches=2]
 */
import { normalizeGnaProblem } from '../../src';
import { nativeAvailability } from '../../kernels/native/addon';
import { CudaGnaOptions, Scratch, TcKernel, WgmmaSchedule,
         gnaForwardOnDevice } from '../../kernels/native/gna_launch';
import { PlanCache } from '../../kernels/native/gna_plan';
import { CASES, DIM, randomBuffer, tileShapesOf } from './cases';

const arg = (name: string) => process.argv.slice(2).find((a) => a.startsWith(`--${name}=`))
  ?.split('=')[1];

function main() {
  const a = nativeAvailability();
  if (!a.available) throw new Error(`no native path: ${a.reason}`);
  const name = arg('case') ?? 'flux4k_gna';
  const c = CASES.find((x) => x.name === name);
  if (c === undefined) {
    throw new Error(`--case=${name}: not one of ${CASES.map((x) => x.name).join(', ')}`);
  }
  const launches = Number(arg('launches') ?? 2);
  const options: CudaGnaOptions = {
    precision: 'bfloat16',
    kernel: (arg('kernel') ?? 'wgmma') as TcKernel,
    wgmmaSchedule: (arg('schedule') ?? 'cooperative') as WgmmaSchedule,
    persistent: process.argv.includes('--persistent'),
    tileShapes: tileShapesOf(c),
  };
  const shape = [1, ...c.shape, c.heads, DIM];
  const info = { shape, dtype: 'float32' };
  const problem = normalizeGnaProblem(info, info, info, { windowSize: c.window, stride: c.stride });
  const addon = a.addon;
  const plans = new PlanCache(addon);
  const scratch = new Scratch(addon);
  try {
    const count = shape.reduce((x, y) => x * y, 1);
    const [q, k, v] = [0, 1, 2].map(() => randomBuffer(scratch, addon, count));
    const out = scratch.alloc(count * 4);
    const lse = scratch.alloc((count / DIM) * 4);
    for (let i = 0; i < launches; i++) {
      gnaForwardOnDevice(addon, plans, problem, options, q, k, v, out, lse);
    }
    addon.synchronize();
    console.log(`profile: ${name} ${JSON.stringify(options)} x${launches} done`);
  } finally {
    scratch.free();
    plans.dispose();
  }
}

main();

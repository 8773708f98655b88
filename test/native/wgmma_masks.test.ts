/**
 * The wgmma kernel reads each partial tile pair's fine mask from words the addon precomputes on
 * the host (native/src/gna_wgmma_masks.cu: buildWgmmaMasks, one mask per distinct window pattern).
 * wgmma_masks_check.cu runs the builder on plans that gna_plan.ts builds here (causal, dilated,
 * strided and stride-1 geometries in 1-3 D, on the tile volumes the kernel takes) and compares
 * every bit with the per-axis window test on the plan's window table. It needs nvcc only (CI has
 * it for the addon), no GPU; without nvcc the suite is skipped with the reason.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { NativeAddon, PlanDesc } from '../../kernels/native/addon';
import { PlanCache } from '../../kernels/native/gna_plan';
import { normalizeGnaProblem } from '../../src/params';
import { findNvcc } from './find_nvcc';

const nvcc = findNvcc();
const describeNvcc = nvcc ? describe : describe.skip;
const MAX_RANK = 3;
const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

/** The check program's input: the plan's geometry and tables as whitespace-separated integers. */
function planText(desc: PlanDesc): string {
  const t = desc.tiled!;
  const rank = desc.rank;
  const pad = (xs: number[], fill: number) =>
    Array.from({ length: MAX_RANK }, (_, a) => (a < rank ? xs[a] : fill));
  const dilation = pad(desc.dilation, 1);
  const extent = pad(desc.extent, 1);
  const qTile = pad(t.qTile, 1);
  const kvTile = pad(t.kvTile, 1);
  const spatial = pad(desc.spatialShape, 1);
  const tilesPerDim = (tile: number[]) => tile.map((s, a) => Math.ceil(spatial[a] / (s * dilation[a])));
  const qTilesPerDim = tilesPerDim(qTile);
  // Window table offsets per axis, in int4 entries (the addon's layout).
  let at = 0;
  const offset = extent.map((e, a) => {
    const o = at;
    if (a < rank) at += dilation[a] * e;
    return o;
  });
  const groups = product(dilation);
  const lines = [
    [rank, groups, product(qTile), product(kvTile), product(qTilesPerDim)],
    ...Array.from({ length: MAX_RANK }, (_, a) => [dilation[a], extent[a], offset[a], qTile[a],
      kvTile[a], qTilesPerDim[a], tilesPerDim(kvTile)[a]]),
    [desc.windows.length], [...desc.windows],
    [t.tileRanges.length], [...t.tileRanges],
    [t.entries.length], [...t.entries],
    [...t.qOffsets], [...t.kvOffsets],
  ];
  return lines.map((l) => l.join(' ')).join('\n');
}

describeNvcc(`wgmma fine masks${nvcc ? '' : ' (skipped: nvcc not found)'}`, () => {
  let dir: string;
  let exe: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gna-masks-'));
    exe = path.join(dir, 'wgmma_masks_check');
    const src = path.join(__dirname, '../../native/src');
    execFileSync(nvcc!, ['-std=c++17', '-O2', '-I', src, '-o', exe,
      path.join(__dirname, 'wgmma_masks_check.cu'), path.join(src, 'gna_wgmma_masks.cu'),
      path.join(src, 'gna_wgmma.cu')], { stdio: 'pipe' });
  }, 300000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const cases: Array<[string, number[], number[], number[], number[], boolean[], number[], number[]]> = [
    ['2d NA, 64/64 tiles', [40, 36], [13, 9], [1, 1], [1, 1], [false, false], [8, 8], [8, 8]],
    ['2d NA, 128/128 tiles', [40, 36], [13, 9], [1, 1], [1, 1], [false, false], [8, 16], [16, 8]],
    ['2d NA, 128/64 tiles', [40, 36], [13, 9], [1, 1], [1, 1], [false, false], [8, 16], [8, 8]],
    ['2d dilated strided', [24, 40], [8, 12], [4, 4], [2, 1], [false, false], [8, 8], [8, 16]],
    ['3d causal dilated', [6, 10, 9], [3, 4, 3], [1, 2, 3], [2, 2, 1], [false, false, true],
      [2, 4, 8], [4, 4, 8]],
    ['3d NA', [6, 20, 12], [3, 7, 5], [1, 1, 1], [1, 1, 1], [false, false, false], [2, 8, 8],
      [2, 8, 4]],
    ['1d causal, KV tiles of 192', [700], [99], [21], [1], [true], [128], [192]],
  ];
  test.each(cases)('%s: every bit matches the window test', (_name, grid, windowSize, stride,
    dilation, isCausal, qTile, kvTile) => {
    let desc: PlanDesc | undefined;
    const plans = new PlanCache({ createPlan: (d) => { desc = d; return 1; } } as NativeAddon);
    const shape = [1, ...grid, 2, 128];
    const info = { shape, dtype: 'float32' as const };
    plans.get(normalizeGnaProblem(info, info, info, { windowSize, stride, dilation, isCausal }),
      { qTile, kvTile });
    const input = path.join(dir, 'plan.txt');
    fs.writeFileSync(input, planText(desc!));
    const out = execFileSync(exe, [input], { encoding: 'utf8' }).trim();
    const [checks, mismatches, masks] = out.match(/\d+/g)!.map(Number);
    const maskedPairs = desc!.tiled!.entries.filter((e) => e < 0).length;
    expect(out).toMatch(/ 0 mismatches,/);
    expect(mismatches).toBe(0);
    expect(checks).toBeGreaterThan(maskedPairs * product(qTile) * product(kvTile));
    expect(masks).toBeGreaterThan(0);
    expect(masks).toBeLessThanOrEqual(maskedPairs);
  }, 60000);
});

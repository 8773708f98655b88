/**
 * The tensor-core kernels mask partial tiles with a guard-bit test over packed in-tile
 * coordinates (native/src/gna_tc.cuh: tileWindow, sees; the wgmma kernel through the masks the
 * host builds with it). guard_mask_check.cu compares it with the per-axis test (inWindows) on
 * the host over 6.4M random row windows, tiles and keys of rank 1-3, including tile extents up to
 * the guard bit. It needs nvcc only (CI has it for the addon), no GPU; without nvcc the suite is
 * skipped with the reason.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { findNvcc } from './find_nvcc';

const nvcc = findNvcc();
const describeNvcc = nvcc ? describe : describe.skip;

describeNvcc(`guard-bit window mask${nvcc ? '' : ' (skipped: nvcc not found)'}`, () => {
  test('agrees with the per-axis window test on every checked key', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gna-guard-'));
    try {
      const exe = path.join(dir, 'guard_mask_check');
      execFileSync(nvcc!, ['-std=c++17', '-O2', '-o', exe,
        path.join(__dirname, 'guard_mask_check.cu')], { stdio: 'pipe' });
      const out = execFileSync(exe, { encoding: 'utf8' });
      expect(out.trim()).toBe('6400000 checks, 0 mismatches');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120000);
});

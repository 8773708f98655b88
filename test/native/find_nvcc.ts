/** The nvcc of this machine (CUDA_HOME, CUDA_PATH, /usr/local/cuda, then PATH), if any. */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export function findNvcc(): string | undefined {
  const homes = [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda'];
  const fromHome = homes.filter((h): h is string => !!h).map((h) => path.join(h, 'bin/nvcc'))
    .find((p) => fs.existsSync(p));
  if (fromHome) return fromHome;
  try {
    return execFileSync('which', ['nvcc'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

#!/usr/bin/env node
// `npm run build:native`: compiles the CUDA addon with node-gyp, offline. Node's headers come from
// the running node's own prefix (passed as --nodedir so node-gyp never downloads them), node-gyp
// from this package's dependencies or else the copy bundled with npm, nvcc from CUDA_HOME, PATH
// or /usr/local/cuda. Exits non-zero with a plain reason when something is missing.
'use strict';
const { execFileSync, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

function fail(message) {
  console.error(`build:native: ${message}`);
  process.exit(1);
}

function findNodeGyp() {
  try {
    return require.resolve('node-gyp/bin/node-gyp.js', { paths: [path.join(__dirname, '..')] });
  } catch {
    const prefix = path.resolve(path.dirname(process.execPath), '..');
    const bundled = [
      path.join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
      path.join(prefix, 'node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
    ].find((p) => fs.existsSync(p));
    if (bundled) return bundled;
  }
  return fail('node-gyp not found (install it, or use an npm that bundles it)');
}

function findCudaHome() {
  const isHome = (dir) => dir && fs.existsSync(path.join(dir, 'bin/nvcc')) &&
    fs.existsSync(path.join(dir, 'include/cuda_runtime.h'));
  const candidates = [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda'];
  try {
    const nvcc = execFileSync('which', ['nvcc'], { encoding: 'utf8' }).trim();
    if (nvcc) candidates.push(path.resolve(path.dirname(fs.realpathSync(nvcc)), '..'));
  } catch { /* not on PATH */ }
  const home = candidates.find(isHome);
  return home ?? fail('CUDA toolkit not found (nvcc and include/cuda_runtime.h): install it ' +
    '(12.8 or later for sm_100a) or set CUDA_HOME');
}

function nodeDir() {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (fs.existsSync(path.join(prefix, 'include/node/node_api.h'))) return prefix;
  return fail(`Node headers not found under ${prefix}/include/node (node-gyp would try to ` +
    'download them; install the node headers package)');
}

try {
  require.resolve('node-addon-api', { paths: [path.join(__dirname, '..')] });
} catch {
  fail('node-addon-api is not installed (it is an optional dependency of tfjs-gna)');
}
const cudaHome = findCudaHome();
const jobs = String(Math.max(1, Math.min(os.cpus().length, 4)));
const args = [findNodeGyp(), 'rebuild', `--nodedir=${nodeDir()}`, '--jobs', jobs];
console.log(`build:native: CUDA ${cudaHome}, node-gyp ${args[0]}, ${jobs} jobs`);
const run = spawnSync(process.execPath, args, {
  cwd: __dirname, stdio: 'inherit', env: { ...process.env, CUDA_HOME: cudaHome },
});
if (run.status !== 0) fail(`node-gyp failed (exit ${run.status})`);

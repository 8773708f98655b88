/**
 * `gna-sim` run in-process through `runCli` (the binary's `main`): the table of the FLUX
 * example, literally; the `--json` schema; search; SVG output; exit code 2 with a one-line
 * message and no stack trace on bad input.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CliIo, runCli } from '../../src/cli/gna_sim';

interface Run {
  code: number;
  out: string;
  err: string;
  files: Map<string, string>;
}

function run(argv: string): Run {
  const out: string[] = [];
  const err: string[] = [];
  const files = new Map<string, string>();
  const io: CliIo = {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    writeFile: (p, data) => files.set(p, data),
  };
  const code = runCli(argv.split(/\s+/).filter((a) => a.length > 0), io);
  return { code, out: out.join('\n'), err: err.join('\n'), files };
}

const FLUX = '--shape 256 256 --window 80 80 --stride 16 16 --q-tile 16 16 --kv-tile 16 8';

test('the FLUX example prints this table', () => {
  const r = run(FLUX);
  expect(r.code).toBe(0);
  expect(r.err).toBe('');
  expect(r.out).toBe(`layout   256 x 256 (65,536 tokens)
window   80 x 80, stride 16 x 16, dilation 1 x 1, causal no x no
tiling   multi-dimensional: Q tile 16 x 16, KV tile 16 x 8

quantity                                 value
---------------------------------------  ---------------------------------
Q tiles / KV tiles                       256 / 512
tile pairs                               131,072
visited pairs (exact)                    12,800 = 12,800 dense + 0 partial
static walk: worst Q tile, mean, total   50, 50.00, 12,800
dynamic walk: worst Q tile, mean, total  50, 50.00, 12,800
dense attention KV tiles                 512
FLOP-wise speedup                        10.24x
simulated speedup (static)               10.24x
simulated speedup (dynamic)              10.24x
perfectly block-sparse                   yes (per dim: yes, yes)
masked FLOP fraction                     0.0%
worst Q tile                             [0, 0]`);
});

test('NA on FLUX with an end-to-end estimate', () => {
  const r = run('--shape 256 256 --window 80 --q-tile 16 16 --kv-tile 16 8 --attention-share 0.518');
  expect(r.code).toBe(0);
  expect(r.out).toContain('static walk: worst Q tile, mean, total   84, 72.52, 18,564');
  expect(r.out).toContain('simulated speedup (static)               6.10x');
  expect(r.out).toContain('perfectly block-sparse                   no (per dim: no, no)');
  expect(r.out).toContain('end-to-end speedup                       1.76x (FLOP-wise bound 1.88x; attention share 0.518 x sparse steps 1)');
});

test('--json: the SimulationResult, with the documented fields and types', () => {
  const r = run(`${FLUX} --json --attention-share 0.518`);
  expect(r.code).toBe(0);
  const j = JSON.parse(r.out);
  expect(Object.keys(j).sort()).toEqual([
    'attendedPairs', 'config', 'denseTiles', 'dynamic', 'dynamicSpeedup', 'e2eFlopBound', 'e2eSpeedup', 'exact',
    'flopSpeedup', 'groups', 'kvTiles', 'maskedFlopFraction', 'perfectlyBlockSparse', 'qTiles', 'simulatedSpeedup',
    'static', 'tilePairs', 'worstQTile',
  ]);
  expect(j.config).toEqual({ shape: [256, 256], windowSize: [80, 80], stride: [16, 16], dilation: [1, 1],
    isCausal: [false, false], qTile: [16, 16], kvTile: [16, 8], tiling: 'multi', attentionShare: 0.518,
    sparseStepFraction: 1 });
  expect(j.exact).toEqual({ visited: 12800, dense: 12800, partial: 0, maxPerQTile: 50 });
  expect(j.static).toEqual({ maxPerQTile: 50, meanPerQTile: 50, total: 12800 });
  expect(j.dynamic).toEqual({ maxPerQTile: 50, meanPerQTile: 50, total: 12800 });
  expect(j.perfectlyBlockSparse).toEqual({ perAxis: [true, true], overall: true });
  expect(j.worstQTile).toEqual({ group: [0, 0], tile: [0, 0] });
  for (const k of ['denseTiles', 'attendedPairs', 'flopSpeedup', 'simulatedSpeedup', 'dynamicSpeedup',
    'maskedFlopFraction', 'e2eSpeedup', 'e2eFlopBound', 'groups', 'qTiles', 'kvTiles', 'tilePairs']) {
    expect(typeof j[k]).toBe('number');
  }
  expect(j.simulatedSpeedup).toBeCloseTo(10.24, 12);
  expect(j.e2eSpeedup).toBeCloseTo(1.88, 2);
});

test('--search ranks configurations; --json gives the entries', () => {
  const r = run('--shape 256 256 --window 80 --search --backend blackwell-fna --stride 16 16 --top 2');
  expect(r.code).toBe(0);
  expect(r.out).toBe(`4 configurations simulated; best 2:

#  stride   Q tile   KV tile  backends       worst/dense  simulated  FLOP-wise  block-sparse
-  -------  -------  -------  -------------  -----------  ---------  ---------  ------------
1  16 x 16  16 x 16  16 x 8   blackwell-fna       50/512     10.24x     10.24x  yes
2  16 x 16  16 x 16  8 x 16   blackwell-fna       50/512     10.24x     10.24x  yes`);
  const j = JSON.parse(run('--shape 64 --window 16 --search --json --top 3').out);
  expect(j.evaluated).toBe(16 * 5);
  expect(j.entries).toHaveLength(3);
  expect(Object.keys(j.entries[0]).sort()).toEqual(['backends', 'denseTiles', 'dynamicSpeedup', 'flopSpeedup',
    'kvTile', 'maskedFlopFraction', 'maxPerQTile', 'perfectlyBlockSparse', 'qTile', 'simulatedSpeedup', 'stride']);
});

test('--svg draws one Q tile for large layouts and the tile matrix for small ones', () => {
  const big = run(`${FLUX} --svg flux.svg`);
  expect(big.code).toBe(0);
  expect(big.files.get('flux.svg')).toContain('KV tiles visited by Q tile [0, 0]');
  const picked = run(`${FLUX} --svg q.svg --q-tile-index 3 5`);
  expect(picked.files.get('q.svg')).toContain('KV tiles visited by Q tile [3, 5]');
  const small = run('--shape 16 16 --window 5 --stride 2 --q-tile 4 4 --kv-tile 4 2 --svg m.svg');
  expect(small.files.get('m.svg')).toContain('Q tile x KV tile matrix (16 x 32, row-major tile order)');
  const forced = run('--shape 16 16 --window 5 --q-tile 4 4 --kv-tile 4 2 --svg t.svg --svg-kind tile');
  expect(forced.files.get('t.svg')).toContain('KV tiles visited by Q tile');
});

test.each([
  ['', 'gna-sim: --shape is required'],
  ['--shape 16 16', 'gna-sim: --window is required'],
  ['--shape 16 16 --window 4', 'gna-sim: --q-tile is required (or use --search)'],
  ['--shape 16 x --window 4 --q-tile 4 --kv-tile 4', "gna-sim: --shape expects integers, got 'x'"],
  ['--shape 16 --window 4 --q-tile 4 --kv-tile 4 --bogus', 'gna-sim: unknown option --bogus'],
  ['16 --shape 16', "gna-sim: unexpected argument '16'"],
  ['--shape 16 --shape 16', 'gna-sim: --shape is given twice'],
  ['--shape 16 --window 4 --q-tile 4 --kv-tile 4 --tiling 2d', "gna-sim: --tiling must be one of multi, 1d, got '2d'"],
  ['--shape 16 --window 4 --q-tile 4 --kv-tile 4 --causal maybe', "gna-sim: --causal expects 1/0/true/false, got 'maybe'"],
  ['--shape 16 --window 4 --q-tile 4 --kv-tile 4 --json 1', "gna-sim: --json takes no value, got '1'"],
  ['--shape 16 --window 4 --q-tile 4 --kv-tile 4 --attention-share lots', "gna-sim: --attention-share expects a number, got 'lots'"],
  ['--shape 16 --window 4 --search --backend tpu', "gna-sim: --backend must be one of blackwell-fna, hopper-fna, cutlass-fna, flex-fna, tfjs-gna, got 'tpu'"],
])('bad input %j exits 2 with a clear message', (argv, message) => {
  const r = run(argv);
  expect(r.code).toBe(2);
  expect(r.out).toBe('');
  expect(r.err.split('\n')).toEqual([message, 'Run gna-sim --help for usage.']);
});

test.each([
  ['--shape 16 16 --window 20 --q-tile 4 --kv-tile 4', 'gna-sim: simulate: windowSize[0]=20 with dilation[0]=1 exceeds spatial size 16 (windowSize*dilation <= size)'],
  ['--shape 16 --window 4 --stride 5 --q-tile 4 --kv-tile 4', 'gna-sim: simulate: stride[0]=5 exceeds windowSize[0]=4 (stride <= windowSize)'],
  ['--shape 16 16 --window 4 --q-tile 4 4 4 --kv-tile 4', "gna-sim: simulate: qTile=[4, 4, 4] has 3 entries; tiling 'multi' needs one extent per spatial dim (2)"],
  ['--shape 16 16 --window 4 --q-tile 4 --kv-tile 4 --svg a.svg --q-tile-index 9 9', 'gna-sim: qTileVisits: Q tile [9, 9] is outside the Q tile grid [4, 4]'],
])('invalid problem %j exits 2 with the simulator\'s message', (argv, message) => {
  const r = run(argv);
  expect(r.code).toBe(2);
  expect(r.err).toBe(message);
  expect(r.err).not.toMatch(/\n\s+at /);
});

test('--help prints usage and exits 0; the script starts with a node shebang', () => {
  const r = run('--help');
  expect(r.code).toBe(0);
  expect(r.out).toMatch(/^Usage: gna-sim --shape L\.\.\. --window K\.\.\. \[options\]/);
  const source = fs.readFileSync(path.join(__dirname, '../../src/cli/gna_sim.ts'), 'utf8');
  expect(source.startsWith('#!/usr/bin/env node\n')).toBe(true);
});

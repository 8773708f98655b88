/**
 * One FLUX single-stream block and one HunyuanVideo dual-stream block at real widths (24 heads ×
 * 128), dense against GNA, on any tfjs backend. Prints four tables and one JSON line:
 *  1. blocks: dense and GNA block time, the attention inside them timed alone on the same
 *     q/k/v, the rest of the block (block − attention, which must agree between the two), the
 *     attention share f of the dense block, the attention and block speedups, the block speedup
 *     Amdahl's law predicts from f and the measured attention speedup, and the tile simulator's
 *     op and end-to-end estimates (src/simulator `simulate`, attentionShare = f);
 *  2. where the GNA joint attention's time goes: the gna op on the visual grid alone, the same
 *     op with the valid text as additional KV (dense part + LSE merge), the text queries' dense
 *     attention, the slicing and joining left over, and one token-permute pass;
 *  3. permute once: a stack of FLUX single-stream blocks with the op's per-layer permutation
 *     against hidden states kept tiled through the stack.
 * On `cuda` every kernel of these blocks is native; matMul runs in bfloat16 there (as GNA does
 * by default), and a last table times the native gna op on the visual grid against the same
 * kernel with a whole-grid window (= dense attention).
 *
 *   node dist/bench/models/bench.js [--backend cpu|webgpu|cuda] [--quick] [--heads N]
 *     [--reps N] [--layers N] [--target-ms N] [--no-permute]
 * Defaults: GPUs get the cases below at 24 heads; `cpu` and `--quick` small grids (add
 * `--heads 2` on the CPU). Each time is per call: warm-up calls (compilation) excluded, then
 * the median of `reps` batches of calls queued back to back, a batch closed by reading one value
 * of its last output (the queue runs in order) or, on `cuda`, by a device synchronize; the
 * batches of the things compared (dense and GNA, say) alternate.
 */
import * as tf from '@tensorflow/tfjs';
import '../../src';
import { gna } from '../../src/ops/gna';
import { tokenPermute } from '../../src/ops/token_permute';
import { simulate } from '../../src/simulator';
import {
  DenseJointAttention, denseAttentionOutput, disposeRopeTable, DoubleStreamAttention, FLUX_DEV,
  FluxDims, fluxRope, fluxSingleSpecs, fluxSingleStream, GnaJointAttention, GnaWindow,
  hunyuanDoubleSpecs, hunyuanDoubleStream, hunyuanRope, JointAttention, JointLayout,
  randomParams, SingleStreamBlock, TiledTokens,
} from '../../models';
import { printJson, printTable, Row } from '../common/table';

/**
 * A reduced grid with a window and stride that stay perfectly block-sparse for the simulator's
 * tiles, as the paper's settings are for NATTEN's (models.md §5.3). Base-size rescaling of the
 * paper presets (`presetOptions(name, grid)`) is not used here: on small grids it lands on
 * strides no tile divides (FLUX 64×64: window 20, stride 4) or on stride-1-like windows.
 */
interface Case {
  model: 'flux' | 'hunyuan';
  title: string;
  grid: number[];
  text: number;
  /** Valid text tokens (HunyuanVideo's mask: a prompt fills part of the 256 slots). */
  validText?: number;
  window: number[];
  stride: number[];
  /** Simulator tiles: the Q tile divides the stride, the KV tile the window. */
  qTile: number[];
  kvTile: number[];
}

/**
 * FLUX-1K (1024², 64×64 tokens + 512 text): window 32×32, stride 16×16 with 8×8 tiles, perfectly
 * block-sparse like the paper's 4K 80×80 / 16×16 on 256×256 with NATTEN's 16×8 tiles (75%
 * sparse instead of 90%; 16×8 tiles would not do here: the windows of stride group 1 start at
 * row 8). HunyuanVideo reduced to 8×24×40 (+ 256 text, 192 valid): window 8×12×12, stride 8×4×4
 * with 4×4×4 tiles (85% sparse; the paper: 18×24×24 / 16×8×8 on 30×48×80 with 2×8×8 tiles, 91%).
 * Both are cases of bench/webgpu, so the op timings can be checked against it.
 */
const GPU_CASES: Case[] = [
  { model: 'flux', title: 'FLUX single-stream', grid: [64, 64], text: 512, window: [32, 32],
    stride: [16, 16], qTile: [8, 8], kvTile: [8, 8] },
  { model: 'hunyuan', title: 'HunyuanVideo dual-stream', grid: [8, 24, 40], text: 256,
    validText: 192, window: [8, 12, 12], stride: [8, 4, 4], qTile: [4, 4, 4], kvTile: [4, 4, 4] },
];

/** The same shapes of setting, small enough for the CPU backend and SwiftShader. */
const SMALL_CASES: Case[] = [
  { model: 'flux', title: 'FLUX single-stream', grid: [8, 8], text: 16, window: [4, 4],
    stride: [4, 4], qTile: [2, 2], kvTile: [2, 2] },
  { model: 'hunyuan', title: 'HunyuanVideo dual-stream', grid: [2, 4, 8], text: 16, validText: 12,
    window: [2, 2, 4], stride: [2, 2, 4], qTile: [2, 2, 2], kvTile: [2, 2, 2] },
];

interface Args {
  backend: string;
  quick: boolean;
  heads: number;
  reps: number;
  layers: number;
  targetMs: number;
  permute: boolean;
}

function parseArgs(argv: string[]): Args {
  const value = (i: number) => {
    if (argv[i + 1] === undefined) throw new Error(`bench/models: ${argv[i]} needs a value`);
    return argv[i + 1];
  };
  const positive = (s: string, name: string) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`bench/models: ${name}=${s} must be a positive integer`);
    return n;
  };
  const args: Args = { backend: 'cpu', quick: false, heads: 24, reps: 5, layers: 4, targetMs: 200,
    permute: true };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--backend') args.backend = value(i++);
    else if (a === '--quick') args.quick = true;
    else if (a === '--heads') args.heads = positive(value(i++), '--heads');
    else if (a === '--reps') args.reps = positive(value(i++), '--reps');
    else if (a === '--layers') args.layers = positive(value(i++), '--layers');
    else if (a === '--target-ms') args.targetMs = positive(value(i++), '--target-ms');
    else if (a === '--no-permute') args.permute = false;
    else throw new Error(`bench/models: unknown argument ${a}`);
  }
  return args;
}

type Sync = (out: tf.Tensor[]) => Promise<void>;

async function useBackend(name: string): Promise<Sync> {
  let sync: Sync = async (out) => {
    // One value of the last output: the queue runs in order, so everything before it is done.
    const one = tf.tidy(() => tf.slice(tf.reshape(out[out.length - 1], [-1]), [0], [1]));
    await one.data();
    tf.dispose([one, ...out]);
  };
  if (name === 'webgpu') {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    require('../webgpu/dawn_node').installDawn();
    require('@tensorflow/tfjs-backend-webgpu');
  } else if (name === 'cuda') {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { cudaRegistration, setCudaMatMulOptions } = require('../../kernels/native');
    if (!cudaRegistration.registered) throw new Error(`cuda backend: ${cudaRegistration.reason}`);
    // Tensor cores for the projections, as a DiT would run them (the default is exact float32).
    setCudaMatMulOptions({ precision: 'bfloat16' });
    sync = async (out) => {
      (tf.backend() as unknown as { addon: { synchronize(): void } }).addon.synchronize();
      tf.dispose(out);
    };
  }
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') failed`);
  return sync;
}

type Call = () => tf.Tensor | tf.Tensor[];

/**
 * Milliseconds per call of each of `fns` (see the file comment). Their batches alternate, so
 * that drift (clocks, other load, buffer pools) touches all of them alike.
 */
async function timePerCall(fns: Call[], sync: Sync, args: Args): Promise<number[]> {
  const run = (fn: Call) => {
    const out = fn();
    return Array.isArray(out) ? out : [out];
  };
  const calls: number[] = [];
  for (const fn of fns) {
    await sync(run(fn));
    const t0 = performance.now();
    await sync(run(fn));
    const estimate = Math.max(performance.now() - t0, 0.05);
    calls.push(Math.max(1, Math.min(20, Math.round(args.targetMs / estimate))));
  }
  const batches: number[][] = fns.map(() => []);
  for (let b = 0; b < args.reps; b++) {
    for (let f = 0; f < fns.length; f++) {
      const t0 = performance.now();
      for (let i = 0; i < calls[f] - 1; i++) tf.dispose(run(fns[f]));
      await sync(run(fns[f]));
      batches[f].push((performance.now() - t0) / calls[f]);
    }
  }
  return batches.map((times) => times.sort((x, y) => x - y)[Math.floor(times.length / 2)]);
}

function dims(base: FluxDims, heads: number): FluxDims {
  const hidden = heads * base.headDim;
  return { ...base, heads, hidden, mlpHidden: 4 * hidden };
}

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

function windowOf(c: Case): GnaWindow {
  return { windowSize: c.window, stride: c.stride };
}

function layoutOf(c: Case): JointLayout {
  return c.model === 'flux' ? { grid: c.grid, textTokens: c.text, order: 'textFirst' }
    : { grid: c.grid, textTokens: c.text, order: 'visualFirst', validText: [c.validText ?? c.text] };
}

function simulated(c: Case, attentionShare?: number) {
  return simulate({ shape: c.grid, windowSize: c.window, stride: c.stride, qTile: c.qTile,
    kvTile: c.kvTile, attentionShare });
}

/** The block of a case with random weights, and a call running it on random inputs. */
function blockOf(c: Case, d: FluxDims): { block: SingleStreamBlock | DoubleStreamAttention;
                                          run: () => tf.Tensor[]; dispose: () => void } {
  const n = product(c.grid);
  const vec = tf.randomNormal([1, d.hidden], 0, 1, 'float32', 3);
  if (c.model === 'flux') {
    const block = fluxSingleStream(randomParams(fluxSingleSpecs(0, d), 1), d);
    const x = tf.randomNormal([1, c.text + n, d.hidden], 0, 1, 'float32', 2);
    const rope = fluxRope(c.grid, c.text, d);
    return { block, run: () => [block.apply(x, c.text, { vec, rope, grid: c.grid })],
      dispose: () => { tf.dispose([x, vec]); disposeRopeTable(rope); block.dispose(); } };
  }
  const block = hunyuanDoubleStream(randomParams(hunyuanDoubleSpecs(0, d), 4), d);
  const img = tf.randomNormal([1, n, d.hidden], 0, 1, 'float32', 5);
  const txt = tf.randomNormal([1, c.text, d.hidden], 0, 1, 'float32', 6);
  const rope = hunyuanRope(c.grid, d);
  const validText = layoutOf(c).validText;
  return { block, run: () => {
    const r = block.apply(img, txt, { vec, rope, grid: c.grid, validText });
    return [r.img, r.txt];
  }, dispose: () => { tf.dispose([img, txt, vec]); disposeRopeTable(rope); block.dispose(); } };
}

/** Block table row and attention breakdown row of one case. */
async function measureCase(c: Case, args: Args, sync: Sync): Promise<[Row, Row]> {
  const d = dims(FLUX_DEV, args.heads);
  const layout = layoutOf(c);
  const n = product(c.grid);
  const valid = c.validText ?? c.text;
  const scale = 1 / Math.sqrt(d.headDim);
  const time = async (fn: Call) => (await timePerCall([fn], sync, args))[0];
  // The attention alone, on q/k/v of the block's shape (the same work as inside the block).
  const [q, k, v] = [8, 9, 10].map((s) => tf.randomNormal([1, n + c.text, args.heads, d.headDim],
    0, 1, 'float32', s));
  const dense = new DenseJointAttention();
  const sparse = new GnaJointAttention(windowOf(c));
  const [denseAttn, gnaAttn] = await timePerCall([() => dense.attend(q, k, v, layout, scale),
    () => sparse.attend(q, k, v, layout, scale)], sync, args);
  // Its parts, on separate tensors so that no slicing is timed twice.
  const visStart = layout.order === 'textFirst' ? c.text : 0;
  const txtStart = layout.order === 'textFirst' ? 0 : n;
  const part = (t: tf.Tensor, start: number, count: number, shape?: number[]) => tf.tidy(() => {
    const s = tf.slice(t, [0, start], [-1, count]);
    return shape === undefined ? s : tf.reshape(s, shape);
  });
  const gridShape = [1, ...c.grid, args.heads, d.headDim];
  const [qv, kv, vv] = [q, k, v].map((t) => part(t, visStart, n, gridShape));
  const qt = part(q, txtStart, c.text);
  const [kt, vt] = [k, v].map((t) => part(t, txtStart, valid));
  const [kAll, vAll] = layout.order === 'visualFirst'
    ? [k, v].map((t) => part(t, 0, n + valid)) : [k.clone(), v.clone()];
  const options = { ...windowOf(c), scale };
  const opAlone = await time(() => gna(qv, kv, vv, options));
  const opWithText = await time(() => gna(qv, kv, vv, { ...options, additionalKeys: kt,
    additionalValues: vt }));
  const textQueries = await time(() => denseAttentionOutput(qt, kAll, vAll, scale));
  const permutePass = await time(() => tokenPermute(qv, { tileShape: c.qTile }));
  tf.dispose([q, k, v, qv, kv, vv, qt, kt, vt, kAll, vAll]);

  const b = blockOf(c, d);
  const runWith = (site: JointAttention) => () => {
    b.block.selfAttention = site;
    return b.run();
  };
  const [denseBlock, gnaBlock] = await timePerCall([runWith(dense), runWith(sparse)], sync, args);
  b.dispose();

  const f = Math.min(denseAttn / denseBlock, 1);
  const attnSpeedup = denseAttn / gnaAttn;
  const sim = simulated(c, f);
  const head = { block: c.title, grid: c.grid.join('x'), text: c.model === 'flux' ? c.text
    : `${valid}/${c.text}`, window: c.window.join('x'), stride: c.stride.join('x') };
  const blockRow: Row = {
    ...head, 'dense blk ms': denseBlock, 'gna blk ms': gnaBlock, 'dense attn ms': denseAttn,
    'gna attn ms': gnaAttn, 'rest ms (dense)': denseBlock - denseAttn,
    'rest ms (gna)': gnaBlock - gnaAttn, 'attn share': f, 'attn speedup': attnSpeedup,
    'blk speedup': denseBlock / gnaBlock, 'amdahl(meas)': 1 / ((1 - f) + f / attnSpeedup),
    'flop bound': sim.flopSpeedup, 'sim op': sim.simulatedSpeedup,
    'sim e2e': sim.e2eSpeedup as number, 'block sparse': String(sim.perfectlyBlockSparse.overall),
  };
  const breakdownRow: Row = {
    block: c.title, 'gna op ms': opAlone, '+ text kv ms': opWithText - opAlone,
    'text queries ms': textQueries, 'slice/join ms': gnaAttn - opWithText - textQueries,
    'gna attn ms': gnaAttn, 'permute pass ms': permutePass,
  };
  return [blockRow, breakdownRow];
}

/**
 * `cuda`: the native gna op over the visual grid against the same kernel with a whole-grid
 * window, which is dense attention (spec: a window covering the grid is self-attention).
 */
async function measureCaseCuda(c: Case, args: Args, sync: Sync): Promise<Row> {
  const shape = [1, ...c.grid, args.heads, 128];
  const [q, k, v] = [8, 9, 10].map((s) => tf.randomNormal(shape, 0, 1, 'float32', s));
  const [denseMs, gnaMs] = await timePerCall([() => gna(q, k, v, { windowSize: c.grid }),
    () => gna(q, k, v, windowOf(c))], sync, args);
  tf.dispose([q, k, v]);
  const sim = simulated(c);
  return { block: c.title, grid: c.grid.join('x'), window: c.window.join('x'),
    stride: c.stride.join('x'), 'full-window ms': denseMs, 'gna op ms': gnaMs,
    'op speedup': denseMs / gnaMs, 'flop bound': sim.flopSpeedup, 'sim op': sim.simulatedSpeedup };
}

/**
 * A stack of FLUX single-stream blocks (one set of weights shared by every layer) in the
 * natural layout, where the gna op permutes per layer inside (q/k/v in, output and LSE out on
 * webgpu and on cuda's tensor-core path; the CPU kernel needs none), against hidden states
 * tiled once per forward, where each attention site converts its q/k/v back and its output in
 * again (`gnaOnTiledTokens`: the op takes only the natural layout).
 */
async function measurePermute(c: Case, args: Args, sync: Sync): Promise<Row[]> {
  const d = dims(FLUX_DEV, args.heads);
  const { grid, text } = c;
  const block = fluxSingleStream(randomParams(fluxSingleSpecs(0, d), 20), d);
  const x = tf.randomNormal([1, text + product(grid), d.hidden], 0, 1, 'float32', 30);
  const vec = tf.randomNormal([1, d.hidden], 0, 1, 'float32', 31);
  const rope = fluxRope(grid, text, d);
  const tiles = new TiledTokens(grid, c.qTile);
  const tiledRope = tiles.permuteRopeTable(rope, text);
  block.selfAttention = new GnaJointAttention(windowOf(c));
  const stack = (once: boolean) => () => tf.tidy(() => {
    let h = once ? tiles.enterJoint(x, text, 'textFirst') : x;
    for (let i = 0; i < args.layers; i++) {
      h = block.apply(h, text, once ? { vec, rope: tiledRope, grid, tileShape: c.qTile }
        : { vec, rope, grid });
    }
    return once ? tiles.exitJoint(h, text, 'textFirst') : h;
  });
  const [natural, once, enter] = await timePerCall([stack(false), stack(true),
    () => tiles.enterJoint(x, text, 'textFirst')], sync, args);
  const tile = c.qTile.join('x');
  const rows: Row[] = [
    { mode: 'natural layout (the op permutes per layer inside)', layers: args.layers, tile, ms: natural },
    { mode: 'permute once per forward (+4 conversions per layer)', layers: args.layers, tile, ms: once },
    { mode: 'one hidden-state permute [1, L, C]', layers: 0, tile, ms: enter },
  ];
  tf.dispose([x, vec]);
  [rope, tiledRope].forEach(disposeRopeTable);
  block.dispose();
  return rows;
}

async function main() {
  const args = parseArgs(process.argv);
  const sync = await useBackend(args.backend);
  const cases = args.quick || args.backend === 'cpu' ? SMALL_CASES : GPU_CASES;
  const meta = { backend: tf.getBackend(), heads: args.heads, headDim: 128, reps: args.reps,
    e2eFrom: 'src/simulator simulate().e2eSpeedup with attentionShare = measured share' };
  const blocks: Row[] = [];
  const breakdown: Row[] = [];
  for (const c of cases) {
    const [b, p] = await measureCase(c, args, sync);
    blocks.push(b);
    breakdown.push(p);
  }
  printTable(blocks);
  console.log('');
  printTable(breakdown);
  const permute = args.permute ? await measurePermute(cases[0], args, sync) : [];
  if (permute.length > 0) {
    console.log('');
    printTable(permute);
  }
  const ops: Row[] = [];
  if (args.backend === 'cuda') {
    for (const c of cases) ops.push(await measureCaseCuda(c, args, sync));
    console.log('');
    printTable(ops);
  }
  printJson('models', { ...meta, breakdown, permute, ops }, blocks);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

/**
 * One FLUX single-stream block and one HunyuanVideo dual-stream block at real widths (24 heads ×
 * 128), dense against GNA (the paper presets rescaled to the grid), on any tfjs backend. Reports
 * the attention share f of the dense block, the attention and block speedups, and the block
 * speedup that Amdahl's law predicts from f and (a) the measured attention speedup, (b) the tile
 * simulator's speedup (src/simulator `simulate`, e2eSpeedup with attentionShare = f). A second
 * part times a stack of FLUX single-stream blocks with per-layer token permutation against
 * permute-once. Prints a table and one JSON line.
 *
 *   node dist/bench/models/bench.js [--backend cpu|webgpu|cuda] [--grid 16x16] [--grid 2x8x8]
 *     [--text N] [--heads N] [--reps N] [--layers N] [--no-permute]
 * A 2-D --grid sets the FLUX grid, a 3-D one the HunyuanVideo grid. On `cuda` only the GNA and
 * token permute kernels are native: matMul and the dense baseline fall back to the CPU backend,
 * so the block comparison is meaningful on `cpu` and `webgpu`.
 */
import * as tf from '@tensorflow/tfjs';
import '../../src';
import { simulate } from '../../src/simulator';
import { tokenPermute, tokenUnpermute } from '../../src/ops/token_permute';
import {
  DenseJointAttention, disposeRopeTable, DoubleStreamAttention, FLUX_DEV, FluxDims, fluxRope,
  fluxSingleSpecs, fluxSingleStream, GnaJointAttention, HUNYUAN_VIDEO,
  hunyuanDoubleSpecs, hunyuanDoubleStream, hunyuanRope, JointAttention, JointLayout,
  presetOptions, randomParams, SingleStreamBlock, splitJoint, joinJoint, TiledTokens,
} from '../../models';
import { medianMs, printJson, printTable, Row } from '../common/table';

interface Args {
  backend: string;
  fluxGrid: number[];
  hunyuanGrid: number[];
  fluxText: number;
  hunyuanText: number;
  heads: number;
  reps: number;
  layers: number;
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
  const args: Args = { backend: 'cpu', fluxGrid: [], hunyuanGrid: [], fluxText: 0, hunyuanText: 0,
    heads: 24, reps: 3, layers: 2, permute: true };
  let text: number | undefined;
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--backend') args.backend = value(i++);
    else if (a === '--grid') {
      const g = value(i++).split('x').map((s) => positive(s, '--grid'));
      if (g.length === 2) args.fluxGrid = g;
      else if (g.length === 3) args.hunyuanGrid = g;
      else throw new Error(`bench/models: --grid ${g.join('x')} must be HxW (FLUX) or TxHxW (Hunyuan)`);
    } else if (a === '--text') text = positive(value(i++), '--text');
    else if (a === '--heads') args.heads = positive(value(i++), '--heads');
    else if (a === '--reps') args.reps = positive(value(i++), '--reps');
    else if (a === '--layers') args.layers = positive(value(i++), '--layers');
    else if (a === '--no-permute') args.permute = false;
    else throw new Error(`bench/models: unknown argument ${a}`);
  }
  // The CPU backend runs ~1 GFLOP/s: small grids and short text there; GPUs get 1024² FLUX.
  const cpu = args.backend === 'cpu';
  if (args.fluxGrid.length === 0) args.fluxGrid = cpu ? [8, 8] : [64, 64];
  if (args.hunyuanGrid.length === 0) args.hunyuanGrid = cpu ? [2, 4, 8] : [6, 16, 24];
  args.fluxText = text ?? (cpu ? 16 : 512);
  args.hunyuanText = text ?? (cpu ? 16 : 256);
  return args;
}

async function useBackend(name: string) {
  if (name === 'webgpu') {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    require('../webgpu/dawn_node').installDawn();
    require('@tensorflow/tfjs-backend-webgpu');
  } else if (name === 'cuda') {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { cudaRegistration } = require('../../kernels/native');
    if (!cudaRegistration.registered) throw new Error(`cuda backend: ${cudaRegistration.reason}`);
    console.error('bench/models: on cuda, matMul and the dense baseline run through the CPU ' +
      'fallback; only GNA is native');
  }
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') failed`);
}

/** Median ms of `fn`, waiting for the result's data so GPU work is included. */
async function time(fn: () => tf.Tensor | tf.Tensor[], reps: number): Promise<number> {
  return medianMs(async () => {
    const out = fn();
    const list = Array.isArray(out) ? out : [out];
    await Promise.all(list.map((t) => t.data()));
    tf.dispose(list);
  }, reps);
}

/** Tile shapes for the simulator: NATTEN's Hopper choices for the paper cases (models.md §5.3). */
function tilesFor(grid: number[]): { qTile: number[]; kvTile: number[] } {
  const tile = grid.length === 2 ? [16, 8] : [2, 8, 8];
  const fit = tile.map((t, i) => Math.min(t, grid[i]));
  return { qTile: fit, kvTile: fit };
}

interface BlockCase {
  model: string;
  preset: 'flux4k' | 'hunyuanVideo';
  grid: number[];
  text: number;
  block: SingleStreamBlock | DoubleStreamAttention;
  run(): tf.Tensor | tf.Tensor[];
  layout: JointLayout;
  dispose(): void;
}

function dims(base: FluxDims, heads: number): FluxDims {
  const hidden = heads * base.headDim;
  return { ...base, heads, hidden, mlpHidden: 4 * hidden };
}

function fluxCase(args: Args): BlockCase {
  const d = dims(FLUX_DEV, args.heads);
  const grid = args.fluxGrid;
  const text = args.fluxText;
  const n = grid[0] * grid[1];
  const block = fluxSingleStream(randomParams(fluxSingleSpecs(0, d), 1), d);
  const x = tf.randomNormal([1, text + n, d.hidden], 0, 1, 'float32', 2);
  const vec = tf.randomNormal([1, d.hidden], 0, 1, 'float32', 3);
  const rope = fluxRope(grid, text, d);
  return {
    model: 'FLUX single-stream', preset: 'flux4k', grid, text, block,
    layout: { grid, textTokens: text, order: 'textFirst' },
    run: () => block.apply(x, text, { vec, rope, grid }),
    dispose: () => { tf.dispose([x, vec]); disposeRopeTable(rope); block.dispose(); },
  };
}

function hunyuanCase(args: Args): BlockCase {
  const d = dims(HUNYUAN_VIDEO, args.heads);
  const grid = args.hunyuanGrid;
  const text = args.hunyuanText;
  const n = grid.reduce((a, b) => a * b, 1);
  const block = hunyuanDoubleStream(randomParams(hunyuanDoubleSpecs(0, d), 4), d);
  const img = tf.randomNormal([1, n, d.hidden], 0, 1, 'float32', 5);
  const txt = tf.randomNormal([1, text, d.hidden], 0, 1, 'float32', 6);
  const vec = tf.randomNormal([1, d.hidden], 0, 1, 'float32', 7);
  const rope = hunyuanRope(grid, d);
  // A realistic prompt fills part of the 256 text slots; mask the rest as padding.
  const validText = [Math.max(1, Math.floor(text * 0.75))];
  return {
    model: 'HunyuanVideo dual-stream', preset: 'hunyuanVideo', grid, text, block,
    layout: { grid, textTokens: text, order: 'visualFirst', validText },
    run: () => {
      const r = (block as DoubleStreamAttention).apply(img, txt, { vec, rope, grid, validText });
      return [r.img, r.txt];
    },
    dispose: () => { tf.dispose([img, txt, vec]); disposeRopeTable(rope); block.dispose(); },
  };
}

async function measureBlock(c: BlockCase, heads: number, reps: number): Promise<Row> {
  const options = presetOptions(c.preset, c.grid);
  const tokens = c.grid.reduce((a, b) => a * b, 1) + c.text;
  const [q, k, v] = [8, 9, 10].map((s) => tf.randomNormal([1, tokens, heads, 128], 0, 1, 'float32', s));
  const dense = new DenseJointAttention();
  const sparse = new GnaJointAttention(options);
  const scale = 1 / Math.sqrt(128);
  const denseAttn = await time(() => dense.attend(q, k, v, c.layout, scale), reps);
  const gnaAttn = await time(() => sparse.attend(q, k, v, c.layout, scale), reps);
  tf.dispose([q, k, v]);
  c.block.selfAttention = dense;
  const denseBlock = await time(() => c.run(), reps);
  c.block.selfAttention = sparse;
  const gnaBlock = await time(() => c.run(), reps);
  const f = Math.min(denseAttn / denseBlock, 1);
  const attnSpeedup = denseAttn / gnaAttn;
  const sim = simulate({ shape: c.grid, windowSize: options.windowSize, stride: options.stride,
    ...tilesFor(c.grid), attentionShare: f });
  return {
    block: c.model, grid: c.grid.join('x'), text: c.text,
    window: (options.windowSize as number[]).join('x'), stride: (options.stride as number[]).join('x'),
    'dense blk ms': denseBlock, 'gna blk ms': gnaBlock, 'dense attn ms': denseAttn,
    'gna attn ms': gnaAttn, 'attn share': f, 'attn speedup': attnSpeedup,
    'blk speedup': denseBlock / gnaBlock,
    'amdahl(meas)': 1 / ((1 - f) + f / attnSpeedup),
    'sim op': sim.simulatedSpeedup, 'sim e2e': sim.e2eSpeedup as number,
  };
}

/**
 * GNA as a model would call a kernel that wants the tiled layout, every layer: permute the
 * visual q/k/v, attend, un-permute the output (models.md §5.2, gna-semantics §4).
 */
class PerLayerPermutedGna implements JointAttention {
  readonly kind = 'gna-per-layer-permute';

  constructor(private readonly inner: GnaJointAttention, private readonly tileShape: number[]) {}

  attend(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, layout: JointLayout, scale: number): tf.Tensor {
    return tf.tidy(() => {
      const tiled = [q, k, v].map((t) => {
        const { visual, text } = splitJoint(t, layout);
        const [b, , h, e] = visual.shape;
        const p = tokenPermute(tf.reshape(visual, [b, ...layout.grid, h, e]), { tileShape: this.tileShape });
        return joinJoint(p, text, layout);
      });
      const out = this.inner.attend(tiled[0], tiled[1], tiled[2], { ...layout, tileShape: this.tileShape }, scale);
      const { visual, text } = splitJoint(out, layout);
      const natural = tokenUnpermute(visual, { tileShape: this.tileShape, shape: layout.grid });
      return joinJoint(tf.reshape(natural, visual.shape), text, layout);
    });
  }
}

async function measurePermute(args: Args): Promise<Row[]> {
  const d = dims(FLUX_DEV, args.heads);
  const grid = args.fluxGrid;
  const text = args.fluxText;
  const tileShape = tilesFor(grid).qTile.map((t, i) => (grid[i] % t === 0 ? t : 1));
  const options = presetOptions('flux4k', grid);
  const blocks = Array.from({ length: args.layers }, (_, i) =>
    fluxSingleStream(randomParams(fluxSingleSpecs(i, d), 20 + i), d));
  const x = tf.randomNormal([1, text + grid[0] * grid[1], d.hidden], 0, 1, 'float32', 30);
  const vec = tf.randomNormal([1, d.hidden], 0, 1, 'float32', 31);
  const rope = fluxRope(grid, text, d);
  const tiles = new TiledTokens(grid, tileShape);
  const tiledRope = tiles.permuteRopeTable(rope, text);
  const gnaNatural = new GnaJointAttention(options);
  const stack = (attention: JointAttention, once: boolean) => () => tf.tidy(() => {
    for (const b of blocks) b.selfAttention = attention;
    let h = once ? tiles.enterJoint(x, text, 'textFirst') : x;
    for (const b of blocks) {
      h = b.apply(h, text, once ? { vec, rope: tiledRope, grid, tileShape } : { vec, rope, grid });
    }
    return once ? tiles.exitJoint(h, text, 'textFirst') : h;
  });
  const permuteMs = await time(() => tiles.enterJoint(x, text, 'textFirst'), args.reps);
  const modes: Array<[string, () => tf.Tensor]> = [
    ['natural layout (no permutation)', stack(gnaNatural, false)],
    ['permute q/k/v + unpermute o per layer', stack(new PerLayerPermutedGna(gnaNatural, tileShape), false)],
    ['permute once per forward', stack(gnaNatural, true)],
  ];
  const rows: Row[] = [];
  for (const [mode, fn] of modes) {
    rows.push({ mode, layers: args.layers, tile: tileShape.join('x'), 'stack ms': await time(fn, args.reps) });
  }
  rows.push({ mode: 'one hidden-state permute [1, L, C]', layers: 0, tile: tileShape.join('x'),
    'stack ms': permuteMs });
  tf.dispose([x, vec]);
  [rope, tiledRope].forEach(disposeRopeTable);
  blocks.forEach((b) => b.dispose());
  return rows;
}

async function main() {
  const args = parseArgs(process.argv);
  await useBackend(args.backend);
  const rows: Row[] = [];
  for (const make of [fluxCase, hunyuanCase]) {
    const c = make(args);
    rows.push(await measureBlock(c, args.heads, args.reps));
    c.dispose();
  }
  printTable(rows);
  const permuteRows = args.permute ? await measurePermute(args) : [];
  if (permuteRows.length > 0) {
    console.log('');
    printTable(permuteRows);
  }
  printJson('models', { backend: tf.getBackend(), heads: args.heads, headDim: 128,
    reps: args.reps, e2eFrom: 'src/simulator simulate().e2eSpeedup with attentionShare = measured share',
    permute: permuteRows }, rows);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

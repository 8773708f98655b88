/**
 * A FLUX single-stream block at full width (3072 hidden, 24 heads × 128) on a 64×64 grid plus 512
 * text tokens, dense against GNA, entirely on the `cuda` backend: block and attention times, and
 * the CPU-fallback count of one forward (0 when every kernel is native). Then the block's GEMM
 * shapes through the native matmul at each precision, in TFLOP/s against the measured 784
 * TFLOP/s bf16 dense ceiling of the H100. Prints a table and one JSON line.
 *   node dist/bench/native/block_bench.js [--grid 64x64] [--text 512] [--heads 24] [--reps 5]
 *     [--precision bfloat16|tf32|float32]   (matmul and GNA precision of the block runs)
 */
import * as tf from '@tensorflow/tfjs';
import { cudaFallbackStats, cudaRegistration, resetCudaFallbackStats, setCudaGnaOptions,
         setCudaMatMulOptions, CudaMatMulPrecision } from '../../kernels/native';
import type { CudaBackend } from '../../kernels/native/cuda_backend';
import { DenseJointAttention, disposeRopeTable, FLUX_DEV, FluxDims, fluxRope, fluxSingleSpecs,
         fluxSingleStream, GnaJointAttention, JointLayout, presetOptions,
         randomParams } from '../../models';
import { medianMs, printJson, printTable, Row } from '../common/table';

const BF16_CEILING_TFLOPS = 784;

function parseArgs(argv: string[]) {
  const get = (name: string, fallback: string) => {
    const i = argv.indexOf(name);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
  };
  const grid = get('--grid', '64x64').split('x').map(Number);
  const precision = get('--precision', 'bfloat16') as CudaMatMulPrecision;
  const out = { grid, text: Number(get('--text', '512')), heads: Number(get('--heads', '24')),
    reps: Number(get('--reps', '5')), precision };
  if (grid.length !== 2 || [...grid, out.text, out.heads, out.reps].some((n) => !(n >= 1))) {
    throw new Error('block_bench: --grid HxW, --text, --heads and --reps must be positive');
  }
  return out;
}

async function main() {
  const args = parseArgs(process.argv);
  if (!cudaRegistration.registered) throw new Error(`cuda backend: ${cudaRegistration.reason}`);
  await tf.setBackend('cuda');
  const backend = tf.backend() as CudaBackend;
  const addon = backend.addon;
  setCudaMatMulOptions({ precision: args.precision });
  setCudaGnaOptions({ precision: args.precision, tileShapes: undefined });

  const hidden = args.heads * FLUX_DEV.headDim;
  const d: FluxDims = { ...FLUX_DEV, heads: args.heads, hidden, mlpHidden: 4 * hidden };
  const tokens = args.grid[0] * args.grid[1] + args.text;
  const params = tf.tidy(() => randomParams(fluxSingleSpecs(0, d), 1) as unknown as tf.NamedTensorMap);
  const block = fluxSingleStream(params as unknown as Record<string, tf.Tensor>, d);
  const x = tf.randomNormal([1, tokens, hidden], 0, 1, 'float32', 2);
  const vec = tf.randomNormal([1, hidden], 0, 1, 'float32', 3);
  const rope = fluxRope(args.grid, args.text, d);
  const layout: JointLayout = { grid: args.grid, textTokens: args.text, order: 'textFirst' };
  const gnaOptions = presetOptions('flux4k', args.grid);
  const attentions = [['dense', new DenseJointAttention()],
    ['gna', new GnaJointAttention(gnaOptions)]] as const;
  const sync = (out: tf.Tensor) => {
    addon.synchronize();
    out.dispose();
  };

  const rows: Row[] = [];
  const [q, k, v] = [8, 9, 10].map((s) => tf.randomNormal([1, tokens, args.heads, 128], 0, 1, 'float32', s));
  for (const [name, attention] of attentions) {
    block.selfAttention = attention;
    resetCudaFallbackStats();
    sync(block.apply(x, args.text, { vec, rope, grid: args.grid }));
    const fallbacks = cudaFallbackStats();
    const blockMs = await medianMs(() => sync(block.apply(x, args.text, { vec, rope, grid: args.grid })), args.reps);
    const attnMs = await medianMs(() => sync(attention.attend(q, k, v, layout, 1 / Math.sqrt(128))), args.reps);
    rows.push({ attention: name, grid: args.grid.join('x'), text: args.text, precision: args.precision,
      'block ms': blockMs, 'attn ms': attnMs, 'attn share': attnMs / blockMs,
      fallbacks: fallbacks.total, 'fallback kernels': Object.keys(fallbacks.byKernel).join(',') || '-' });
  }
  tf.dispose([q, k, v, x, vec]);
  disposeRopeTable(rope);
  block.dispose();
  rows.forEach((r, i) => { if (i > 0) r['blk speedup'] = (rows[0]['block ms'] as number) / (r['block ms'] as number); });
  rows[0]['blk speedup'] = 1;
  printTable(rows);

  // The block's GEMMs: adaLN modulation, Q/K/V, MLP up (linear1) and the fused out (linear2).
  const gemms: Array<[string, number, number, number]> = [
    ['mod [1,H]x[3H,H]^T', 1, 3 * hidden, hidden],
    ['q/k/v [L,H]x[H,H]^T', tokens, hidden, hidden],
    ['mlp [L,H]x[4H,H]^T', tokens, 4 * hidden, hidden],
    ['out [L,5H]x[H,5H]^T', tokens, hidden, 5 * hidden],
  ];
  const gemmRows: Row[] = [];
  for (const precision of ['bfloat16', 'tf32', 'float32'] as CudaMatMulPrecision[]) {
    setCudaMatMulOptions({ precision });
    for (const [name, m, n, kk] of gemms) {
      const a = tf.randomNormal([m, kk], 0, 1, 'float32', 4);
      const w = tf.randomNormal([n, kk], 0, 0.02, 'float32', 5);
      const once = () => tf.matMul(a, w, false, true);
      sync(once());
      const times: number[] = [];
      for (let i = 0; i < args.reps; i++) {
        const t = addon.timerStart();
        const c = once();
        times.push(addon.timerStop(t));
        c.dispose();
      }
      times.sort((p, r) => p - r);
      const ms = times[Math.floor(times.length / 2)];
      const tflops = (2 * m * n * kk) / (ms * 1e9);
      gemmRows.push({ gemm: name, m, n, k: kk, precision, ms, 'TFLOP/s': tflops,
        'of bf16 ceiling': tflops / BF16_CEILING_TFLOPS });
      tf.dispose([a, w]);
    }
  }
  console.log('');
  printTable(gemmRows);
  printJson('native_block', { device: addon.probe().name, ceilingTflops: BF16_CEILING_TFLOPS,
    tokens, hidden, heads: args.heads }, [...rows, ...gemmRows]);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

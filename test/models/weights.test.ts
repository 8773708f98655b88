/**
 * Loading blocks from tiny synthetic safetensors files written with the real names and layouts
 * (models.md §2.7, §3.6, §4.5): fused QKV and single-block linear1 split by rows, original and
 * diffusers names giving the same block, and clear errors for missing or mis-shaped tensors.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {
  BlockParams, cosmosCrossSpecs, CosmosDims, cosmosSelfSpecs, FluxDims, fluxRope,
  hunyuanDoubleSpecs, hunyuanSingleSpecs, loadCosmosCrossAttention, loadCosmosSelfAttention,
  loadFluxDoubleStream, loadFluxSingleStream, loadHunyuanDoubleStream, loadHunyuanSingleStream,
  ParamSpec, SafetensorsBuffer, validTextCounts, disposeRopeTable,
} from '../../models';
import { openSafetensors } from '../../models/common/safetensors_node';
import { FixtureTensor, maxAbsDiff, randn, writeSafetensors } from './helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const C = 8;
const M = 16;
const DIMS: FluxDims = { hidden: C, heads: 2, headDim: 4, mlpHidden: M, axesDim: [2, 2] };
const COSMOS: CosmosDims = { hidden: 12, heads: 2, headDim: 6, contextDim: 5, adaLnLoraDim: 3,
  axesDim: [2, 2, 2], ropeRatio: [2, 1, 1] };

let seed = 100;
const rnd = (n: number) => Array.from(randn([n], seed++).dataSync());

/** `n` rows of width `w`, entries tagged so rows of different tensors never coincide. */
function matrix(rows: number, cols: number): number[] {
  return rnd(rows * cols);
}

describe('FLUX double-stream, original vs diffusers', () => {
  // Hand-written tensors with the literal checkpoint names.
  const [wq, wk, wv, bq, bk, bv] = [matrix(C, C), matrix(C, C), matrix(C, C), rnd(C), rnd(C), rnd(C)];
  const [tq, tk, tv, cq, ck, cv] = [matrix(C, C), matrix(C, C), matrix(C, C), rnd(C), rnd(C), rnd(C)];
  const [imgMod, imgModB, txtMod, txtModB] = [matrix(6 * C, C), rnd(6 * C), matrix(6 * C, C), rnd(6 * C)];
  const norms = [rnd(4), rnd(4), rnd(4), rnd(4)];
  const [ip, ipb, tp, tpb] = [matrix(C, C), rnd(C), matrix(C, C), rnd(C)];
  const o = 'double_blocks.7';
  const original: FixtureTensor[] = [
    { name: `${o}.img_mod.lin.weight`, shape: [6 * C, C], data: imgMod },
    { name: `${o}.img_mod.lin.bias`, shape: [6 * C], data: imgModB },
    { name: `${o}.txt_mod.lin.weight`, shape: [6 * C, C], data: txtMod },
    { name: `${o}.txt_mod.lin.bias`, shape: [6 * C], data: txtModB },
    { name: `${o}.img_attn.qkv.weight`, shape: [3 * C, C], data: [...wq, ...wk, ...wv] },
    { name: `${o}.img_attn.qkv.bias`, shape: [3 * C], data: [...bq, ...bk, ...bv] },
    { name: `${o}.txt_attn.qkv.weight`, shape: [3 * C, C], data: [...tq, ...tk, ...tv] },
    { name: `${o}.txt_attn.qkv.bias`, shape: [3 * C], data: [...cq, ...ck, ...cv] },
    { name: `${o}.img_attn.norm.query_norm.scale`, shape: [4], data: norms[0] },
    { name: `${o}.img_attn.norm.key_norm.scale`, shape: [4], data: norms[1] },
    { name: `${o}.txt_attn.norm.query_norm.scale`, shape: [4], data: norms[2] },
    { name: `${o}.txt_attn.norm.key_norm.scale`, shape: [4], data: norms[3] },
    { name: `${o}.img_attn.proj.weight`, shape: [C, C], data: ip },
    { name: `${o}.img_attn.proj.bias`, shape: [C], data: ipb },
    { name: `${o}.txt_attn.proj.weight`, shape: [C, C], data: tp },
    { name: `${o}.txt_attn.proj.bias`, shape: [C], data: tpb },
    { name: 'final_layer.linear.weight', shape: [2], data: [1, 2] },
  ];
  const f = 'transformer_blocks.7';
  const diffusers: FixtureTensor[] = [
    { name: `${f}.norm1.linear.weight`, shape: [6 * C, C], data: imgMod },
    { name: `${f}.norm1.linear.bias`, shape: [6 * C], data: imgModB },
    { name: `${f}.norm1_context.linear.weight`, shape: [6 * C, C], data: txtMod },
    { name: `${f}.norm1_context.linear.bias`, shape: [6 * C], data: txtModB },
    ...([['to_q', wq, bq], ['to_k', wk, bk], ['to_v', wv, bv], ['add_q_proj', tq, cq],
      ['add_k_proj', tk, ck], ['add_v_proj', tv, cv]] as const).flatMap(([n, w, b]) => [
      { name: `${f}.attn.${n}.weight`, shape: [C, C], data: w, dtype: 'F32' as const },
      { name: `${f}.attn.${n}.bias`, shape: [C], data: b }]),
    { name: `${f}.attn.norm_q.weight`, shape: [4], data: norms[0] },
    { name: `${f}.attn.norm_k.weight`, shape: [4], data: norms[1] },
    { name: `${f}.attn.norm_added_q.weight`, shape: [4], data: norms[2] },
    { name: `${f}.attn.norm_added_k.weight`, shape: [4], data: norms[3] },
    { name: `${f}.attn.to_out.0.weight`, shape: [C, C], data: ip },
    { name: `${f}.attn.to_out.0.bias`, shape: [C], data: ipb },
    { name: `${f}.attn.to_add_out.weight`, shape: [C, C], data: tp },
    { name: `${f}.attn.to_add_out.bias`, shape: [C], data: tpb },
  ];

  it('splits the fused QKV by rows and takes the first modulation triple', () => {
    const block = loadFluxDoubleStream(new SafetensorsBuffer(writeSafetensors(original)), 7, {}, DIMS);
    expect(Array.from(block.params['imgK.weight'].dataSync())).toEqual(Array.from(new Float32Array(wk)));
    expect(Array.from(block.params['txtV.bias'].dataSync())).toEqual(Array.from(new Float32Array(cv)));
    expect(block.params['imgMod.weight'].shape).toEqual([3 * C, C]);
    expect(Array.from(block.params['imgMod.weight'].dataSync())).toEqual(
      Array.from(new Float32Array(imgMod.slice(0, 3 * C * C))));
    block.dispose();
  });

  it('gives the same block from original and diffusers names', () => {
    const a = loadFluxDoubleStream(new SafetensorsBuffer(writeSafetensors(original)), 7, {}, DIMS);
    const b = loadFluxDoubleStream(new SafetensorsBuffer(writeSafetensors(diffusers)), 7,
      { format: 'diffusers' }, DIMS);
    for (const k of Object.keys(a.params)) {
      expect(maxAbsDiff(a.params[k].dataSync(), b.params[k].dataSync())).toBe(0);
    }
    const [img, txt, vec] = [randn([1, 6, C], 1), randn([1, 3, C], 2), randn([1, C], 3)];
    const rope = fluxRope([2, 3], 3, DIMS);
    const ra = a.apply(img, txt, { vec, rope, grid: [2, 3] });
    const rb = b.apply(img, txt, { vec, rope, grid: [2, 3] });
    expect(maxAbsDiff(ra.img.dataSync(), rb.img.dataSync())).toBe(0);
    tf.dispose([img, txt, vec, ra.img, ra.txt, rb.img, rb.txt]);
    disposeRopeTable(rope);
    a.dispose();
    b.dispose();
  });

  it('names a missing tensor, a mis-shaped one, and an unrecognised checkpoint', () => {
    const missing = original.filter((t) => !t.name.endsWith('txt_attn.proj.bias'));
    expect(() => loadFluxDoubleStream(new SafetensorsBuffer(writeSafetensors(missing), 'flux1-dev.safetensors'), 7, {}, DIMS))
      .toThrow("loadParams: FLUX double-stream block 7: missing tensor 'double_blocks.7.txt_attn.proj.bias' " +
        '(parameter txtProj.bias, original names) in flux1-dev.safetensors');
    const misshaped = original.map((t) => (t.name.endsWith('img_attn.qkv.weight')
      ? { ...t, shape: [C, 3 * C] } : t));
    expect(() => loadFluxDoubleStream(new SafetensorsBuffer(writeSafetensors(misshaped)), 7, {}, DIMS))
      .toThrow(`tensor 'double_blocks.7.img_attn.qkv.weight' has shape [${C},${3 * C}] but parameter imgQ.weight needs [${3 * C},${C}]`);
    expect(() => loadFluxDoubleStream(new SafetensorsBuffer(writeSafetensors(original)), 2, {}, DIMS))
      .toThrow(/holds neither 'double_blocks.2.img_mod.lin.weight' \(original names\) nor 'transformer_blocks.2.norm1.linear.weight'/);
    expect(() => loadFluxDoubleStream(new SafetensorsBuffer(writeSafetensors(original)), 7,
      { format: 'diffusers' }, DIMS)).toThrow(/missing tensor 'transformer_blocks.7.norm1.linear.weight'/);
  });
});

describe('single-stream linear1 / linear2', () => {
  const [q, k, v, mlp] = [matrix(C, C), matrix(C, C), matrix(C, C), matrix(M, C)];
  const [b1, w2, b2] = [rnd(3 * C + M), matrix(C, C + M), rnd(C)];
  const [mod, modB, nq, nk] = [matrix(3 * C, C), rnd(3 * C), rnd(4), rnd(4)];
  it('FLUX: linear1 rows 3072/3072/3072/12288 are Q, K, V, MLP (bf16 file)', () => {
    const o = 'single_blocks.3';
    const file = writeSafetensors([
      { name: `${o}.linear1.weight`, shape: [3 * C + M, C], data: [...q, ...k, ...v, ...mlp] },
      { name: `${o}.linear1.bias`, shape: [3 * C + M], data: b1 },
      { name: `${o}.linear2.weight`, shape: [C, C + M], data: w2 },
      { name: `${o}.linear2.bias`, shape: [C], data: b2 },
      { name: `${o}.modulation.lin.weight`, shape: [3 * C, C], data: mod },
      { name: `${o}.modulation.lin.bias`, shape: [3 * C], data: modB },
      { name: `${o}.norm.query_norm.scale`, shape: [4], data: nq },
      { name: `${o}.norm.key_norm.scale`, shape: [4], data: nk },
    ].map((t) => ({ ...t, dtype: 'BF16' as const })));
    const block = loadFluxSingleStream(new SafetensorsBuffer(file), 3, {}, DIMS);
    const bf16 = (xs: number[]) => Array.from(new Float32Array(xs)).map((x) => {
      const u = new Uint32Array(new Float32Array([x]).buffer)[0] & 0xffff0000;
      return new Float32Array(new Uint32Array([u]).buffer)[0];
    });
    expect(Array.from(block.params['Mlp.weight'].dataSync())).toEqual(bf16(mlp));
    expect(Array.from(block.params['V.weight'].dataSync())).toEqual(bf16(v));
    expect(Array.from(block.params['Mlp.bias'].dataSync())).toEqual(bf16(b1.slice(3 * C)));
    expect(block.params['out.weight'].shape).toEqual([C, C + M]);
    block.dispose();
  });

  it('FLUX diffusers names: to_q/to_k/to_v + proj_mlp, proj_out, norm.linear', () => {
    const f = 'single_transformer_blocks.3';
    const file = writeSafetensors([
      { name: `${f}.attn.to_q.weight`, shape: [C, C], data: q }, { name: `${f}.attn.to_q.bias`, shape: [C], data: b1.slice(0, C) },
      { name: `${f}.attn.to_k.weight`, shape: [C, C], data: k }, { name: `${f}.attn.to_k.bias`, shape: [C], data: b1.slice(C, 2 * C) },
      { name: `${f}.attn.to_v.weight`, shape: [C, C], data: v }, { name: `${f}.attn.to_v.bias`, shape: [C], data: b1.slice(2 * C, 3 * C) },
      { name: `${f}.proj_mlp.weight`, shape: [M, C], data: mlp }, { name: `${f}.proj_mlp.bias`, shape: [M], data: b1.slice(3 * C) },
      { name: `${f}.proj_out.weight`, shape: [C, C + M], data: w2 }, { name: `${f}.proj_out.bias`, shape: [C], data: b2 },
      { name: `${f}.norm.linear.weight`, shape: [3 * C, C], data: mod }, { name: `${f}.norm.linear.bias`, shape: [3 * C], data: modB },
      { name: `${f}.attn.norm_q.weight`, shape: [4], data: nq }, { name: `${f}.attn.norm_k.weight`, shape: [4], data: nk },
    ]);
    const block = loadFluxSingleStream(new SafetensorsBuffer(file), 3, {}, DIMS);
    expect(Array.from(block.params['K.weight'].dataSync())).toEqual(Array.from(new Float32Array(k)));
    block.dispose();
  });
});

/** A file holding `params` under the names and layout of `specs` in `format`. */
function fileFromSpecs(specs: ParamSpec[], params: BlockParams, format: 'original' | 'diffusers'): Uint8Array {
  const full = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const s of specs) {
    const ref = s[format];
    let t = full.get(ref.name);
    if (t === undefined) {
      // Rows no parameter uses (the MLP half of a modulation) get a marker value.
      t = { shape: ref.shape, data: new Float32Array(ref.shape.reduce((a, b) => a * b, 1)).fill(-7) };
      full.set(ref.name, t);
    }
    const rowSize = ref.shape.slice(1).reduce((a, b) => a * b, 1);
    t.data.set(params[s.param].dataSync() as Float32Array, (ref.rows?.[0] ?? 0) * rowSize);
  }
  return writeSafetensors([...full].map(([name, t]) => ({ name, shape: t.shape, data: t.data })));
}

function randomFor(specs: ParamSpec[]): BlockParams {
  const out: BlockParams = {};
  for (const s of specs) {
    const r = s.original;
    out[s.param] = randn(r.rows ? [r.rows[1] - r.rows[0], ...r.shape.slice(1)] : r.shape, seed++);
  }
  return out;
}

describe('HunyuanVideo and Cosmos names', () => {
  const cases: Array<[string, ParamSpec[], (src: SafetensorsBuffer) => { params: BlockParams; dispose(): void }, string[]]> = [
    ['HunyuanVideo dual-stream', hunyuanDoubleSpecs(4, DIMS), (s) => loadHunyuanDoubleStream(s, 4, {}, DIMS),
      ['double_blocks.4.img_attn_qkv.weight', 'double_blocks.4.txt_attn_q_norm.weight', 'transformer_blocks.4.attn.norm_added_k.weight', 'transformer_blocks.4.norm1_context.linear.bias']],
    ['HunyuanVideo single-stream', hunyuanSingleSpecs(1, DIMS), (s) => loadHunyuanSingleStream(s, 1, {}, DIMS),
      ['single_blocks.1.linear1.weight', 'single_blocks.1.q_norm.weight', 'single_transformer_blocks.1.proj_mlp.weight', 'single_transformer_blocks.1.norm.linear.weight']],
    ['Cosmos self-attention', cosmosSelfSpecs(2, COSMOS), (s) => loadCosmosSelfAttention(s, 2, {}, COSMOS),
      ['net.blocks.block2.blocks.0.block.attn.to_q.0.weight', 'net.blocks.block2.blocks.0.block.attn.to_k.1.weight', 'net.blocks.block2.blocks.0.adaLN_modulation.2.weight', 'transformer_blocks.2.attn1.norm_q.weight', 'transformer_blocks.2.norm1.linear_1.weight']],
    ['Cosmos cross-attention', cosmosCrossSpecs(2, COSMOS), (s) => loadCosmosCrossAttention(s, 2, {}, COSMOS),
      ['net.blocks.block2.blocks.1.block.attn.to_v.0.weight', 'transformer_blocks.2.attn2.to_k.weight', 'transformer_blocks.2.norm2.linear_2.weight']],
  ];
  for (const [title, specs, load, names] of cases) {
    it(`${title}: both namings load the same parameters`, () => {
      const allNames = new Set(specs.flatMap((s) => [s.original.name, s.diffusers.name]));
      for (const n of names) expect(allNames).toContain(n);
      const params = randomFor(specs);
      for (const format of ['original', 'diffusers'] as const) {
        const block = load(new SafetensorsBuffer(fileFromSpecs(specs, params, format)));
        for (const k of Object.keys(params)) {
          expect(maxAbsDiff(block.params[k].dataSync(), params[k].dataSync())).toBe(0);
        }
        block.dispose();
      }
      tf.dispose(Object.values(params));
    });
  }

  it('Cosmos cross-attention K/V read the T5 width', () => {
    const kv = cosmosCrossSpecs(0, COSMOS).find((s) => s.param === 'K.weight') as ParamSpec;
    expect(kv.diffusers.shape).toEqual([12, 5]);
  });

  it('text mask to valid counts', () => {
    expect(validTextCounts([1, 1, 0, 1, 0, 0], 2)).toEqual([2, 1]);
    expect(() => validTextCounts([0, 1, 1, 1], 2)).toThrow(/mask row 0 is not a prefix of ones/);
  });
});

describe('Node checkpoint files', () => {
  it('loads a block from a sharded diffusers checkpoint on disk', () => {
    const specs = hunyuanDoubleSpecs(0, DIMS);
    const params = randomFor(specs);
    const bytes = new SafetensorsBuffer(fileFromSpecs(specs, params, 'diffusers'));
    const names = bytes.names();
    const half = Math.floor(names.length / 2);
    const shard = (ns: string[]) => writeSafetensors(ns.map((n) => ({ name: n,
      shape: bytes.entry(n)!.shape, data: bytes.read(n) })));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-'));
    try {
      fs.writeFileSync(path.join(dir, 'a.safetensors'), shard(names.slice(0, half)));
      fs.writeFileSync(path.join(dir, 'b.safetensors'), shard(names.slice(half)));
      const map = Object.fromEntries(names.map((n, i) => [n, i < half ? 'a.safetensors' : 'b.safetensors']));
      fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: map }));
      const src = openSafetensors(path.join(dir, 'model.safetensors.index.json'));
      const block = loadHunyuanDoubleStream(src, 0, {}, DIMS);
      src.close();
      expect(maxAbsDiff(block.params['txtK.weight'].dataSync(), params['txtK.weight'].dataSync())).toBe(0);
      block.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      tf.dispose(Object.values(params));
    }
  });
});

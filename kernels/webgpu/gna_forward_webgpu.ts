/**
 * GNA forward in the style of FlashAttention (spec §3.4, §5): one workgroup per (query tile,
 * batch·group, head), tiles over the token-permuted order, q/k/v read and output/LSE written in
 * the natural layout (walk_wgsl.ts). The query tile stays in workgroup memory; the
 * workgroup walks only the key chunks of its tile's window range (from the walk table of
 * gna_plan.ts), applies the fine mask only to chunks that are not dense, and keeps an
 * online softmax. Threads: `TPR` per group of `rowsPerThread` query rows; a thread scores every
 * TPR-th key of a chunk for each of its rows and accumulates every TPR-th vec4 of their output
 * rows, so each key or value vec4 it loads from workgroup memory feeds all of its rows. A row's
 * maximum and sum over its TPR threads go through workgroup memory and a barrier, or, with
 * `subgroups` (subgroups.ts), through `subgroupShuffleXor` among the row's neighbouring lanes.
 * Output: one buffer, `[B, ...spatial, H, Dv]` followed by the LSE `[B, ...spatial, H]`.
 */
import { GnaProblem } from '../../src/params';
import { WalkPlan } from './gna_plan';
import { DeviceBudget } from './gna_webgpu_common';
import { KeyWalk, walkUniforms } from './walk_wgsl';
import { ProgramUniform, WebGPUProgram } from './webgpu_backend';
import {
  ProgramUniforms, SUBGROUPS_MARKER, componentsOf, scalarRowStore, vec4RowLoader,
} from './wgsl';

/** Threads per query row (and per key row in the backward). */
export const THREADS_PER_ROW = 4;

export interface ForwardTiles {
  /** Queries per workgroup (the permute tile volume). */
  queries: number;
  /** Keys per chunk step. */
  keys: number;
  /** Query rows per thread (register blocking). */
  rowsPerThread: number;
}

const vec4s = (width: number) => Math.ceil(width / 4);

/** Workgroup memory of the forward program, in bytes. */
export function forwardWorkgroupBytes(t: ForwardTiles, headDim: number, valueDim: number,
                                      rank: number): number {
  // +1 vec4 per row: rows of a power-of-two stride would put every lane on one memory bank.
  const qRow = vec4s(headDim) + 1;
  const kvRow = Math.max(vec4s(headDim), vec4s(valueDim)) + 1;
  return 16 * (t.queries * qRow + t.keys * kvRow) +
    4 * (t.queries * t.keys + t.keys * (1 + rank) + t.queries * (THREADS_PER_ROW + 1) + 1);
}

/**
 * Candidate tiles, best first, as measured on an H100 through Dawn (docs/webgpu-performance.md):
 * 64 queries × 16 keys with one row per thread beat every other size on all benchmark layers;
 * blocking 2 or 4 rows per thread was slower there (it stays selectable for other GPUs). Devices
 * with 32 KiB of workgroup memory (SwiftShader, many integrated GPUs) get 32-query tiles at
 * head dim 128.
 */
export const FORWARD_CANDIDATES: ForwardTiles[] = [
  { queries: 64, keys: 16, rowsPerThread: 1 }, { queries: 32, keys: 32, rowsPerThread: 1 },
  { queries: 32, keys: 16, rowsPerThread: 1 }, { queries: 16, keys: 16, rowsPerThread: 1 },
  { queries: 16, keys: 8, rowsPerThread: 1 }, { queries: 8, keys: 8, rowsPerThread: 1 },
  { queries: 8, keys: 4, rowsPerThread: 1 }, { queries: 4, keys: 4, rowsPerThread: 1 },
];

/** Register-blocked variants (several query rows per thread), for tuning on other GPUs. */
export const BLOCKED_FORWARD_TILES: ForwardTiles[] = [
  { queries: 64, keys: 16, rowsPerThread: 2 }, { queries: 32, keys: 32, rowsPerThread: 2 },
  { queries: 64, keys: 16, rowsPerThread: 4 }, { queries: 32, keys: 32, rowsPerThread: 4 },
];

const threadsOf = (t: ForwardTiles) => (t.queries / t.rowsPerThread) * THREADS_PER_ROW;

/** The first candidate that fits the device (or `preferred` when it fits). */
export function chooseForwardTiles(budget: DeviceBudget, headDim: number, valueDim: number,
                                   rank: number, preferred?: ForwardTiles): ForwardTiles {
  const fits = (t: ForwardTiles) => threadsOf(t) <= budget.invocations &&
    forwardWorkgroupBytes(t, headDim, valueDim, rank) <= budget.workgroupBytes;
  if (preferred !== undefined && fits(preferred)) return preferred;
  const tiles = FORWARD_CANDIDATES.find(fits);
  if (tiles === undefined) {
    throw new Error(`gna (webgpu): head dims ${headDim}/${valueDim} need more workgroup memory ` +
      `than this device offers (${budget.workgroupBytes} bytes)`);
  }
  return tiles;
}

export class GnaForwardProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0], y: [1], z: [2] };
  dispatch: [number, number, number];
  variableNames = ['q', 'k', 'v', 'walk'];
  variableComponents: number[];
  workgroupSize: [number, number, number];
  uniforms: string;
  private walk: KeyWalk;
  private values: ProgramUniforms;
  /** Row suffixes `_0`, `_1`, ... of the rows a thread owns. */
  private rows: string[];
  private keysPerThread: number[];
  private vec4sPerThread: number[];

  constructor(private problem: GnaProblem, plan: WalkPlan, private tiles: ForwardTiles,
              private subgroups = false) {
    const { layout } = plan;
    const { heads, kvHeads, headDim: D, valueDim: DV } = problem;
    const batchGroups = problem.batch * layout.groups;
    const rows = problem.batch * layout.tokens * heads;
    const rank = layout.spatialShape.length;
    this.outputShape = [rows * DV + rows];
    this.dispatch = [layout.sequenceLength / layout.tileVolume, batchGroups, heads];
    this.workgroupSize = [threadsOf(tiles), 1, 1];
    this.variableComponents = [componentsOf(D), componentsOf(D), componentsOf(DV), 1];
    this.walk = new KeyWalk(rank);
    this.rows = Array.from({ length: tiles.rowsPerThread }, (_, i) => `_${i}`);
    this.keysPerThread = Array.from({ length: tiles.keys / THREADS_PER_ROW }, (_, j) => j);
    this.vec4sPerThread = Array.from({ length: Math.ceil(vec4s(DV) / THREADS_PER_ROW) }, (_, e) => e);
    this.values = walkUniforms(plan, new ProgramUniforms()
      .float('scale', problem.scale)
      .int('heads', heads)
      .int('kvHeads', kvHeads)
      .int('lseOffset', rows * DV));
    this.uniforms = this.values.declaration();
    this.shaderKey = `gnaForward_r${rank}_${tiles.queries}_${tiles.keys}_${tiles.rowsPerThread}_` +
      `d${D}_${DV}${subgroups ? '_sg' : ''}`;
  }

  uniformData(): ProgramUniform {
    return this.values.data();
  }

  private constants(): string {
    const { headDim: D, valueDim: DV } = this.problem;
    const D4 = vec4s(D);
    const DV4 = vec4s(DV);
    return `
      const BQ = ${this.tiles.queries};
      const BK = ${this.tiles.keys};
      const TPR = ${THREADS_PER_ROW};
      const RPT = ${this.tiles.rowsPerThread};
      const WG = ${threadsOf(this.tiles)};
      const D4 = ${D4};
      const DV4 = ${DV4};
      const QS = ${D4 + 1};
      const KVS = ${Math.max(D4, DV4) + 1};
      const NEG = -3.0e38;`;
  }

  private declarations(): string {
    const rank = this.problem.spatialShape.length;
    const { headDim: D, valueDim: DV } = this.problem;
    const { queries, keys } = this.tiles;
    return `
      var<workgroup> qTile : array<vec4<f32>, ${queries * (vec4s(D) + 1)}>;
      var<workgroup> kvChunk : array<vec4<f32>, ${keys * (Math.max(vec4s(D), vec4s(DV)) + 1)}>;
      var<workgroup> probs : array<f32, ${queries * keys}>;
      var<workgroup> keyRow : array<i32, ${keys}>;
      var<workgroup> keyPos : array<i32, ${keys * rank}>;
      ${this.subgroups ? '' : `var<workgroup> rowReduce : array<f32, ${queries * THREADS_PER_ROW}>;`}
      var<workgroup> ownerRow : array<i32, ${queries}>;
      var<workgroup> shared_i : i32;
      ${vec4RowLoader('loadQ', 'q', D)}
      ${vec4RowLoader('loadK', 'k', D)}
      ${vec4RowLoader('loadV', 'v', DV)}`;
  }

  /** Per owned row: its tile row `row<sfx>`, query, window and softmax state. */
  private rowState(): string {
    const w = this.walk;
    return this.rows.map((r, i) => `
        let row${r} = rowGroup * RPT + ${i};
        ${w.ownedRowLets(`row${r}`, r)}
        ${w.queryWindowLets(r)}
        var m${r} = NEG;
        var l${r} = 0.0;
        ${this.vec4sPerThread.map((e) => `var acc${r}_${e} = vec4<f32>(0.0);`).join('\n')}`).join('\n');
  }

  /** Cooperative load of the chunk's keys (or values) into `kvChunk`; zeros for padding keys. */
  private loadChunk(loader: string, width4: string): string {
    return `
        for (var idx = t; idx < BK * ${width4}; idx += WG) {
          let kk = idx / ${width4};
          let c4 = idx % ${width4};
          var x = vec4<f32>(0.0);
          if (keyRow[kk] >= 0) { x = ${loader}(keyRow[kk] * uniforms.kvHeads + hk, c4); }
          kvChunk[kk * KVS + c4] = x;
        }`;
  }

  /** `s<row>_<j>`: scaled scores of this thread's keys `lane + TPR*j`, and their masks. */
  private scores(): string {
    const key = (j: number) => `(lane + ${THREADS_PER_ROW * j})`;
    const lines: string[] = [];
    for (const r of this.rows) for (const j of this.keysPerThread) lines.push(`var s${r}_${j} = 0.0;`);
    lines.push('for (var d4 = 0; d4 < D4; d4++) {');
    for (const r of this.rows) lines.push(`  let q${r} = qTile[row${r} * QS + d4];`);
    for (const j of this.keysPerThread) {
      lines.push(`  let k${j} = kvChunk[${key(j)} * KVS + d4];`);
      for (const r of this.rows) lines.push(`  s${r}_${j} += dot(q${r}, k${j});`);
    }
    lines.push('}');
    for (const r of this.rows) {
      for (const j of this.keysPerThread) {
        lines.push(`let valid${r}_${j} = keyRow[${key(j)}] >= 0 && ` +
          `(dense || (${this.walk.fineMask(key(j), r)}));`);
      }
    }
    return lines.join('\n');
  }

  /**
   * `<out><sfx>`: `op` (max or +) of `<value><sfx>` over the TPR threads of each owned row.
   * Through workgroup memory, every earlier read of `rowReduce` must be behind a barrier already.
   */
  private rowReduce(out: string, value: string, op: 'max' | '+'): string {
    const combine = (a: string, b: string) => op === 'max' ? `max(${a}, ${b})` : `${a} + ${b}`;
    if (this.subgroups) {
      const masks: number[] = [];
      for (let m = 1; m < THREADS_PER_ROW; m *= 2) masks.push(m);
      return this.rows.map((r) => [`var ${out}${r} = ${value}${r};`, ...masks.map((m) =>
        `${out}${r} = ${combine(`${out}${r}`, `subgroupShuffleXor(${out}${r}, ${m}u)`)};`)].join('\n'))
        .join('\n');
    }
    return [
      ...this.rows.map((r) => `rowReduce[row${r} * TPR + lane] = ${value}${r};`),
      'workgroupBarrier();',
      ...this.rows.map((r) => `var ${out}${r} = rowReduce[row${r} * TPR];
        for (var i = 1; i < TPR; i++) { ${out}${r} = ${combine(`${out}${r}`, `rowReduce[row${r} * TPR + i]`)}; }`),
    ].join('\n');
  }

  private onlineSoftmax(): string {
    const js = this.keysPerThread;
    const rescale = (r: string) => this.vec4sPerThread.map((e) => `acc${r}_${e} = acc${r}_${e} * alpha${r};`);
    return [
      ...this.rows.map((r) => `
        var localMax${r} = NEG;
        ${js.map((j) => `if (valid${r}_${j}) { localMax${r} = max(localMax${r}, s${r}_${j}); }`).join('\n')}`),
      // The previous chunk's reads of rowReduce are behind this step's earlier barriers.
      this.rowReduce('chunkMax', 'localMax', 'max'),
      ...this.rows.map((r) => `
        let mNew${r} = max(m${r}, chunkMax${r});
        let alpha${r} = exp(m${r} - mNew${r});
        m${r} = mNew${r};
        l${r} = l${r} * alpha${r};
        ${rescale(r).join('\n')}
        ${js.map((j) => `let p${r}_${j} = select(0.0, exp(s${r}_${j} - mNew${r}), valid${r}_${j});
        l${r} += p${r}_${j};
        probs[row${r} * BK + lane + ${THREADS_PER_ROW * j}] = p${r}_${j};`).join('\n')}`),
    ].join('\n');
  }

  /** acc += P V over the chunk: each value vec4 loaded once serves every owned row. */
  private accumulate(): string {
    const DV4 = vec4s(this.problem.valueDim);
    const lines = ['for (var c = 0; c < BK; c++) {'];
    for (const r of this.rows) lines.push(`  let p${r} = probs[row${r} * BK + c];`);
    for (const e of this.vec4sPerThread) {
      const col = `lane + ${THREADS_PER_ROW * e}`;
      const body = [`let v${e} = kvChunk[c * KVS + ${col}];`,
        ...this.rows.map((r) => `acc${r}_${e} += p${r} * v${e};`)].join(' ');
      lines.push((e + 1) * THREADS_PER_ROW > DV4 ? `  if (${col} < DV4) { ${body} }` : `  ${body}`);
    }
    lines.push('}');
    return lines.join('\n');
  }

  private epilogue(): string {
    const DV = this.problem.valueDim;
    return `
        // The last chunk's reads of rowReduce are behind its last two barriers.
        ${this.rowReduce('total', 'l', '+')}
        ${this.rows.map((r) => `{
          let total = total${r};
          let inv = select(0.0, 1.0 / total, total > 0.0);
          let orow = ownerToken${r} * uniforms.heads + h;
          if (realOwner${r}) {
            ${this.vec4sPerThread.map((e) => scalarRowStore(`orow * ${DV}`,
              `(lane + ${THREADS_PER_ROW * e})`, `(acc${r}_${e} * inv)`, DV)).join('\n')}
            if (lane == 0) { result[uniforms.lseOffset + orow] = select(NEG, m${r} + log(total), total > 0.0); }
          }
        }`).join('\n')}`;
  }

  getUserCode(): string {
    const w = this.walk;
    return `
      ${this.subgroups ? SUBGROUPS_MARKER : ''}
      ${this.constants()}
      ${this.declarations()}
      fn main() {
        let t = i32(localIndex);
        let rowGroup = t / TPR;
        let lane = t % TPR;
        let tileIndex = i32(workgroupId.x);
        let bg = i32(workgroupId.y);
        let h = i32(workgroupId.z);
        let hk = h / (uniforms.heads / uniforms.kvHeads);
        ${w.ownerLets('tileIndex', 'bg')}
        ${this.rowState()}
        if (lane == 0) {
          ${this.rows.map((r) => `ownerRow[row${r}] = ownerToken${r};`).join('\n')}
        }
        workgroupBarrier();
        // The scale is folded into q once, so scores come out scaled (spec §1.1); padding
        // queries get zeros.
        for (var idx = t; idx < BQ * D4; idx += WG) {
          let token = ownerRow[idx / D4];
          var x = vec4<f32>(0.0);
          if (token >= 0) { x = loadQ(token * uniforms.heads + h, idx % D4) * uniforms.scale; }
          qTile[(idx / D4) * QS + idx % D4] = x;
        }
        if (t == 0) { shared_i = ${w.totalSteps()}; }
        let totalSteps = workgroupUniformLoad(&shared_i);
        for (var step = 0; step < totalSteps; step++) {
          ${w.stepLets('step')}
          // Only per-thread masks depend on the class (no barrier does): an empty chunk, which
          // walks over overlapping windows never meet, would be masked like a partial one.
          let dense = ${w.stepClass()} == 2;
          // keyRow and keyPos were last read before the previous step's last barrier.
          if (t < BK) {
            ${w.keyInfo('t')}
          }
          // keyRow is visible, and every thread is past the previous step's reads of kvChunk.
          workgroupBarrier();
          ${this.loadChunk('loadK', 'D4')}
          workgroupBarrier();
          ${this.scores()}
          ${this.onlineSoftmax()}
          workgroupBarrier();
          ${this.loadChunk('loadV', 'DV4')}
          workgroupBarrier();
          ${this.accumulate()}
        }
        ${this.epilogue()}
      }`;
  }
}

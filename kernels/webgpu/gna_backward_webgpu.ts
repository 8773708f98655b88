/**
 * GNA backward from the saved output and LSE (spec §3.4), in three programs:
 *  - `GnaDeltaProgram`: `delta = rowsum(dO * O) - dLse` per (token, head), natural layout;
 *  - `GnaDqProgram`: one workgroup per (query tile, batch·group, head) walking its key chunks as
 *    the forward does: `dQ = scale * sum_k dS K`, `dS = P * (dO V^T - delta)`;
 *  - `GnaDkDvProgram`: one workgroup per (key tile, batch·group, KV head) walking the query chunks
 *    of its keys' inverse neighbourhoods (§1.7), over every query head of the GQA group:
 *    `dV = sum_q P dO`, `dK = scale * sum_q dS Q`. Output: dK `[B, ...spatial, Hkv, D]` then dV.
 * Tiles are over the token-permuted order; every input and result is read and written in the
 * natural layout (walk_wgsl.ts). Threads: `THREADS_PER_ROW` per owned row, as in the forward.
 */
import { GnaProblem } from '../../src/params';
import { THREADS_PER_ROW } from './gna_forward_webgpu';
import { WalkPlan } from './gna_plan';
import { DeviceBudget } from './gna_webgpu_common';
import { KeyWalk, QueryWalk, walkUniforms } from './walk_wgsl';
import { ProgramUniform, WebGPUProgram } from './webgpu_backend';
import { ProgramUniforms, componentsOf, scalarRowStore, vec4RowLoader } from './wgsl';

const TPR = THREADS_PER_ROW;
const vec4s = (width: number) => Math.ceil(width / 4);
/** Row stride of a vec4 tile in workgroup memory; +1 keeps lanes off one memory bank. */
const rowStride = (width: number) => vec4s(width) + 1;

export interface BackwardTiles {
  /** Rows a workgroup owns: queries for dQ, keys for dK/dV (the permute tile volume). */
  tile: number;
  /** Keys per dQ step. */
  keys: number;
  /** Queries per dK/dV step. */
  queries: number;
}

export function dqWorkgroupBytes(t: BackwardTiles, D: number, DV: number, rank: number): number {
  return 16 * (t.tile * (rowStride(D) + rowStride(DV)) + t.keys * Math.max(rowStride(D), rowStride(DV))) +
    4 * (t.tile * t.keys + t.keys * (1 + rank) + t.tile + 1);
}

export function dkdvWorkgroupBytes(t: BackwardTiles, D: number, DV: number, rank: number): number {
  return 16 * (t.tile + t.queries) * (rowStride(D) + rowStride(DV)) +
    4 * (2 * t.tile * t.queries + t.queries * (3 + 2 * rank) + t.tile + 1);
}

const BACKWARD_CANDIDATES: BackwardTiles[] = [
  { tile: 32, keys: 16, queries: 16 }, { tile: 16, keys: 16, queries: 16 },
  { tile: 16, keys: 16, queries: 8 }, { tile: 16, keys: 8, queries: 8 },
  { tile: 8, keys: 8, queries: 8 }, { tile: 8, keys: 4, queries: 4 },
  { tile: 4, keys: 4, queries: 4 },
];

export function chooseBackwardTiles(budget: DeviceBudget, D: number, DV: number,
                                    rank: number): BackwardTiles {
  const tiles = BACKWARD_CANDIDATES.find((t) => t.tile * TPR <= budget.invocations &&
    dqWorkgroupBytes(t, D, DV, rank) <= budget.workgroupBytes &&
    dkdvWorkgroupBytes(t, D, DV, rank) <= budget.workgroupBytes);
  if (tiles === undefined) {
    throw new Error(`gna (webgpu): head dims ${D}/${DV} need more workgroup memory for the ` +
      `backward than this device offers (${budget.workgroupBytes} bytes)`);
  }
  return tiles;
}

/** `delta[row] = sum_e dO[row, e] * O[row, e] - dLse[row]`, one invocation per row. */
export class GnaDeltaProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  variableNames = ['dOutput', 'output', 'dLse'];
  variableComponents: number[];
  workgroupSize: [number, number, number] = [64, 1, 1];
  size = true;

  constructor(rows: number, private valueDim: number) {
    this.outputShape = [rows];
    this.dispatch = [Math.ceil(rows / 64), 1, 1];
    const c = componentsOf(valueDim);
    this.variableComponents = [c, c, 1];
    this.shaderKey = `gnaDelta_${valueDim}`;
  }

  getUserCode(): string {
    return `
      ${vec4RowLoader('loadDO', 'dOutput', this.valueDim)}
      ${vec4RowLoader('loadO', 'output', this.valueDim)}
      fn main(index : i32) {
        if (index >= uniforms.size) { return; }
        var sum = 0.0;
        for (var c4 = 0; c4 < ${vec4s(this.valueDim)}; c4++) {
          sum += dot(loadDO(index, c4), loadO(index, c4));
        }
        result[index] = sum - dLse[index];
      }`;
  }
}

/** Constants and loaders shared by the dQ and dK/dV programs. */
function sharedPreamble(problem: GnaProblem): string {
  const { headDim: D, valueDim: DV } = problem;
  return `
      const TPR = ${TPR};
      const D4 = ${vec4s(D)};
      const DV4 = ${vec4s(DV)};
      const QS = ${rowStride(D)};
      const VS = ${rowStride(DV)};
      var<workgroup> shared_i : i32;
      ${vec4RowLoader('loadQ', 'q', D)}
      ${vec4RowLoader('loadK', 'k', D)}
      ${vec4RowLoader('loadV', 'v', DV)}
      ${vec4RowLoader('loadDO', 'dOutput', DV)}`;
}

/** Problem sizes and the plan as uniforms; `dvOffset` is where dK/dV's dV region starts. */
function backwardUniforms(problem: GnaProblem, plan: WalkPlan): ProgramUniforms {
  const kvRows = problem.batch * plan.layout.tokens * problem.kvHeads;
  return walkUniforms(plan, new ProgramUniforms()
    .float('scale', problem.scale)
    .int('heads', problem.heads)
    .int('kvHeads', problem.kvHeads)
    .int('dvOffset', kvRows * problem.headDim));
}

/** Pipelines depend only on the rank and head dims (and tile sizes); the rest is uniforms. */
function programKey(problem: GnaProblem): string {
  return `r${problem.spatialShape.length}_d${problem.headDim}_${problem.valueDim}`;
}

function inputComponents(problem: GnaProblem): number[] {
  const { headDim: D, valueDim: DV } = problem;
  return [componentsOf(D), componentsOf(D), componentsOf(DV), componentsOf(DV), 1, 1, 1];
}

/** `acc<i> += <scalar> * tile[<row> * stride + lane + TPR*i]` for every vec4 this lane owns. */
function laneAccumulate(acc: string, scalar: string, tile: string, rowBase: string,
                        width: number): string {
  const owned = Math.ceil(vec4s(width) / TPR);
  return Array.from({ length: owned }, (_, i) => {
    const col = `lane + ${TPR * i}`;
    const line = `${acc}${i} += ${scalar} * ${tile}[${rowBase} + ${col}];`;
    return (i + 1) * TPR > vec4s(width) ? `if (${col} < ${vec4s(width)}) { ${line} }` : line;
  }).join('\n');
}

function laneAccumulators(acc: string, width: number): string {
  return Array.from({ length: Math.ceil(vec4s(width) / TPR) }, (_, i) =>
    `var ${acc}${i} = vec4<f32>(0.0);`).join('\n');
}

function laneStore(acc: string, rowBase: string, width: number, factor: string): string {
  return Array.from({ length: Math.ceil(vec4s(width) / TPR) }, (_, i) =>
    scalarRowStore(rowBase, `(lane + ${TPR * i})`, `(${acc}${i} * ${factor})`, width)).join('\n');
}

/**
 * The natural token rows of the owner tile into `ownerRow` (-1 for padding), then `loads` (WGSL
 * loops over `idx` that read `ownerRow`), run by the whole workgroup.
 */
function loadOwnerTile(loads: string): string {
  return `
        if (lane == 0) { ownerRow[row] = ownerToken; }
        workgroupBarrier();
        ${loads}`;
}

/** `tile[...] = loader(row of tile row)` for the owner tile, zeros for padding rows. */
function ownerTileLoad(tile: string, stride: string, loader: string, width4: string,
                       heads: string, head: string): string {
  return `
        for (var idx = t; idx < WG / TPR * ${width4}; idx += WG) {
          let token = ownerRow[idx / ${width4}];
          var x = vec4<f32>(0.0);
          if (token >= 0) { x = ${loader}(token * ${heads} + ${head}, idx % ${width4}); }
          ${tile}[(idx / ${width4}) * ${stride} + idx % ${width4}] = x;
        }`;
}

/** Inputs: q, k, v, dOutput, lse, delta (natural layout), walk table. Output dQ like q. */
export class GnaDqProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0], y: [1], z: [2] };
  dispatch: [number, number, number];
  variableNames = ['q', 'k', 'v', 'dOutput', 'lse', 'delta', 'walk'];
  variableComponents: number[];
  workgroupSize: [number, number, number];
  uniforms: string;
  private walk: KeyWalk;
  private values: ProgramUniforms;

  constructor(private problem: GnaProblem, plan: WalkPlan, private tiles: BackwardTiles) {
    const { layout } = plan;
    const batchGroups = problem.batch * layout.groups;
    this.outputShape = [problem.batch * layout.tokens * problem.heads * problem.headDim];
    this.dispatch = [layout.sequenceLength / layout.tileVolume, batchGroups, problem.heads];
    this.workgroupSize = [tiles.tile * TPR, 1, 1];
    this.variableComponents = inputComponents(problem);
    this.walk = new KeyWalk(problem.spatialShape.length);
    this.values = backwardUniforms(problem, plan);
    this.uniforms = this.values.declaration();
    this.shaderKey = `gnaDq_${tiles.tile}_${tiles.keys}_${programKey(problem)}`;
  }

  uniformData(): ProgramUniform {
    return this.values.data();
  }

  private declarations(): string {
    const { headDim: D, valueDim: DV } = this.problem;
    const { tile, keys } = this.tiles;
    const rank = this.problem.spatialShape.length;
    return `
      const BQ = ${tile};
      const BK = ${keys};
      const WG = ${tile * TPR};
      const KVS = ${Math.max(rowStride(D), rowStride(DV))};
      var<workgroup> qTile : array<vec4<f32>, ${tile * rowStride(D)}>;
      var<workgroup> doTile : array<vec4<f32>, ${tile * rowStride(DV)}>;
      var<workgroup> kvChunk : array<vec4<f32>, ${keys * Math.max(rowStride(D), rowStride(DV))}>;
      var<workgroup> dsChunk : array<f32, ${tile * keys}>;
      var<workgroup> keyRow : array<i32, ${keys}>;
      var<workgroup> ownerRow : array<i32, ${tile}>;
      var<workgroup> keyPos : array<i32, ${keys * rank}>;`;
  }

  private loadChunk(loader: string, width4: string): string {
    return `
          for (var idx = t; idx < BK * ${width4}; idx += WG) {
            let kk = idx / ${width4};
            var x = vec4<f32>(0.0);
            if (keyRow[kk] >= 0) { x = ${loader}(keyRow[kk] * uniforms.kvHeads + hk, idx % ${width4}); }
            kvChunk[kk * KVS + idx % ${width4}] = x;
          }`;
  }

  /** dP = dO V^T for this row's keys (V in kvChunk), then, with K loaded, dS into dsChunk. */
  private scoresAndDs(): string {
    const perThread = this.tiles.keys / TPR;
    const js = Array.from({ length: perThread }, (_, j) => j);
    const key = (j: number) => `(lane + ${TPR * j})`;
    return `
          ${js.map((j) => `var dp${j} = 0.0;`).join('\n')}
          for (var c4 = 0; c4 < DV4; c4++) {
            let dov = doTile[row * VS + c4];
            ${js.map((j) => `dp${j} += dot(dov, kvChunk[${key(j)} * KVS + c4]);`).join('\n')}
          }
          workgroupBarrier();
          ${this.loadChunk('loadK', 'D4')}
          workgroupBarrier();
          ${js.map((j) => `var s${j} = 0.0;`).join('\n')}
          for (var c4 = 0; c4 < D4; c4++) {
            let qv = qTile[row * QS + c4];
            ${js.map((j) => `s${j} += dot(qv, kvChunk[${key(j)} * KVS + c4]);`).join('\n')}
          }
          ${js.map((j) => `
          let valid${j} = realOwner && keyRow[${key(j)}] >= 0 && (dense || (${this.walk.fineMask(key(j))}));
          let p${j} = select(0.0, exp(s${j} * uniforms.scale - rowLse), valid${j});
          dsChunk[row * BK + ${key(j)}] = p${j} * (dp${j} - rowDelta);`).join('\n')}`;
  }

  getUserCode(): string {
    const { headDim: D } = this.problem;
    const w = this.walk;
    return `
      ${sharedPreamble(this.problem)}
      ${this.declarations()}
      fn main() {
        let t = i32(localIndex);
        let row = t / TPR;
        let lane = t % TPR;
        let tileIndex = i32(workgroupId.x);
        let bg = i32(workgroupId.y);
        let h = i32(workgroupId.z);
        let hk = h / (uniforms.heads / uniforms.kvHeads);
        ${w.ownerLets('tileIndex', 'bg')}
        ${w.ownedRowLets('row')}
        ${w.queryWindowLets()}
        ${loadOwnerTile(ownerTileLoad('qTile', 'QS', 'loadQ', 'D4', 'uniforms.heads', 'h') +
          ownerTileLoad('doTile', 'VS', 'loadDO', 'DV4', 'uniforms.heads', 'h'))}
        // Padding rows read row 0's statistics; their scores are masked (realOwner).
        let orow = max(ownerToken, 0) * uniforms.heads + h;
        let rowLse = lse[orow];
        let rowDelta = delta[orow];
        if (t == 0) { shared_i = ${w.totalSteps()}; }
        let totalSteps = workgroupUniformLoad(&shared_i);
        ${laneAccumulators('dq', D)}
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
          ${this.loadChunk('loadV', 'DV4')}
          workgroupBarrier();
          ${this.scoresAndDs()}
          workgroupBarrier();
          for (var c = 0; c < BK; c++) {
            let ds = dsChunk[row * BK + c];
            ${laneAccumulate('dq', 'ds', 'kvChunk', 'c * KVS', D)}
          }
        }
        if (realOwner) {
          ${laneStore('dq', `orow * ${D}`, D, 'uniforms.scale')}
        }
      }`;
  }
}

/**
 * Inputs as `GnaDqProgram`; output dK (like k) then dV (like v), for the key tiles of a 'queries'
 * walk plan.
 */
export class GnaDkDvProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0], y: [1], z: [2] };
  dispatch: [number, number, number];
  variableNames = ['q', 'k', 'v', 'dOutput', 'lse', 'delta', 'walk'];
  variableComponents: number[];
  workgroupSize: [number, number, number];
  uniforms: string;
  private walk: QueryWalk;
  private values: ProgramUniforms;

  constructor(private problem: GnaProblem, plan: WalkPlan, private tiles: BackwardTiles) {
    const { layout } = plan;
    const batchGroups = problem.batch * layout.groups;
    const rows = problem.batch * layout.tokens * problem.kvHeads;
    this.outputShape = [rows * (problem.headDim + problem.valueDim)];
    this.dispatch = [layout.sequenceLength / layout.tileVolume, batchGroups, problem.kvHeads];
    this.workgroupSize = [tiles.tile * TPR, 1, 1];
    this.variableComponents = inputComponents(problem);
    this.walk = new QueryWalk(problem.spatialShape.length);
    this.values = backwardUniforms(problem, plan);
    this.uniforms = this.values.declaration();
    this.shaderKey = `gnaDkDv_${tiles.tile}_${tiles.queries}_${programKey(problem)}`;
  }

  uniformData(): ProgramUniform {
    return this.values.data();
  }

  private declarations(): string {
    const { tile, queries } = this.tiles;
    const { headDim: D, valueDim: DV } = this.problem;
    const rank = this.problem.spatialShape.length;
    return `
      const BT = ${tile};
      const BQC = ${queries};
      const WG = ${tile * TPR};
      var<workgroup> kTile : array<vec4<f32>, ${tile * rowStride(D)}>;
      var<workgroup> vTile : array<vec4<f32>, ${tile * rowStride(DV)}>;
      var<workgroup> qChunk : array<vec4<f32>, ${queries * rowStride(D)}>;
      var<workgroup> doChunk : array<vec4<f32>, ${queries * rowStride(DV)}>;
      var<workgroup> pChunk : array<f32, ${tile * queries}>;
      var<workgroup> dsChunk : array<f32, ${tile * queries}>;
      var<workgroup> queryRow : array<i32, ${queries}>;
      var<workgroup> ownerRow : array<i32, ${tile}>;
      var<workgroup> queryWindow : array<i32, ${queries * 2 * rank}>;
      var<workgroup> queryLse : array<f32, ${queries}>;
      var<workgroup> queryDelta : array<f32, ${queries}>;`;
  }

  /** Loads the chunk's q and dO rows (zeros for padding) and each query's LSE and delta. */
  private loadChunk(): string {
    return `
          for (var idx = t; idx < BQC * D4; idx += WG) {
            let qq = idx / D4;
            var x = vec4<f32>(0.0);
            if (queryRow[qq] >= 0) { x = loadQ(queryRow[qq] * uniforms.heads + h, idx % D4); }
            qChunk[qq * QS + idx % D4] = x;
          }
          for (var idx = t; idx < BQC * DV4; idx += WG) {
            let qq = idx / DV4;
            var x = vec4<f32>(0.0);
            if (queryRow[qq] >= 0) { x = loadDO(queryRow[qq] * uniforms.heads + h, idx % DV4); }
            doChunk[qq * VS + idx % DV4] = x;
          }
          if (t < BQC) {
            let qrow = max(queryRow[t], 0) * uniforms.heads + h;
            queryLse[t] = lse[qrow];
            queryDelta[t] = delta[qrow];
          }`;
  }

  private probabilities(): string {
    const perThread = this.tiles.queries / TPR;
    return Array.from({ length: perThread }, (_, j) => {
      const qq = `(lane + ${TPR * j})`;
      return `
          {
            var s = 0.0;
            for (var c4 = 0; c4 < D4; c4++) { s += dot(kTile[row * QS + c4], qChunk[${qq} * QS + c4]); }
            var dp = 0.0;
            for (var c4 = 0; c4 < DV4; c4++) { dp += dot(vTile[row * VS + c4], doChunk[${qq} * VS + c4]); }
            let valid = realOwner && queryRow[${qq}] >= 0 && (dense || (${this.walk.fineMask(qq)}));
            let p = select(0.0, exp(s * uniforms.scale - queryLse[${qq}]), valid);
            pChunk[row * BQC + ${qq}] = p;
            dsChunk[row * BQC + ${qq}] = p * (dp - queryDelta[${qq}]);
          }`;
    }).join('\n');
  }

  getUserCode(): string {
    const { headDim: D, valueDim: DV } = this.problem;
    const w = this.walk;
    return `
      ${sharedPreamble(this.problem)}
      ${this.declarations()}
      fn main() {
        let t = i32(localIndex);
        let row = t / TPR;
        let lane = t % TPR;
        let tileIndex = i32(workgroupId.x);
        let bg = i32(workgroupId.y);
        let hk = i32(workgroupId.z);
        ${w.ownerLets('tileIndex', 'bg')}
        ${w.ownedRowLets('row')}
        ${loadOwnerTile(ownerTileLoad('kTile', 'QS', 'loadK', 'D4', 'uniforms.kvHeads', 'hk') +
          ownerTileLoad('vTile', 'VS', 'loadV', 'DV4', 'uniforms.kvHeads', 'hk'))}
        if (t == 0) { shared_i = ${w.totalSteps()}; }
        let totalSteps = workgroupUniformLoad(&shared_i);
        ${laneAccumulators('dk', D)}
        ${laneAccumulators('dv', DV)}
        // dK and dV sum over every query head of the KV head's group (GQA, spec §1.8).
        let groupHeads = uniforms.heads / uniforms.kvHeads;
        for (var iter = 0; iter < totalSteps * groupHeads; iter++) {
          let h = hk * groupHeads + iter / totalSteps;
          let step = iter % totalSteps;
          ${w.stepLets('step')}
          // Only per-thread masks depend on the class (no barrier does): an empty chunk, which
          // walks over overlapping windows never meet, would be masked like a partial one.
          let dense = ${w.stepClass()} == 2;
          // queryRow and queryWindow were last read before the previous step's last barrier.
          if (t < BQC) {
            ${w.queryInfo('t')}
          }
          // They are visible, and every thread is past the previous step's reads of the chunks.
          workgroupBarrier();
          ${this.loadChunk()}
          workgroupBarrier();
          ${this.probabilities()}
          workgroupBarrier();
          for (var qq = 0; qq < BQC; qq++) {
            let p = pChunk[row * BQC + qq];
            let ds = dsChunk[row * BQC + qq];
            ${laneAccumulate('dv', 'p', 'doChunk', 'qq * VS', DV)}
            ${laneAccumulate('dk', 'ds', 'qChunk', 'qq * QS', D)}
          }
        }
        if (realOwner) {
          let krow = ownerToken * uniforms.kvHeads + hk;
          ${laneStore('dk', `krow * ${D}`, D, 'uniforms.scale')}
          ${laneStore('dv', `uniforms.dvOffset + krow * ${DV}`, DV, '1.0')}
        }
      }`;
  }
}

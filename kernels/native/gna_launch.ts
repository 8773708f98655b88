/**
 * GNA on device buffers, shared by the `cuda` backend's kernels and the host-copy kernels of
 * other backends. The tensor-core path permutes Q (with the Q tiling) and K/V (with the KV
 * tiling) into copies of the operand type (bf16/fp16, or float32 for tf32) in one pass each
 * (the cast that float32 tensors need anyway, with the permutation fused in; the Hopper wgmma
 * kernel reads Q as it is and casts it itself), and runs the tiled kernel, which writes output
 * and LSE straight to the original layout; the float32 path runs on the original layout.
 */
import { GnaProblem } from '../../src/params';
import { BufferHandle, ElementType, NativeAddon, PermuteGeometryDesc, ShapeDesc } from './addon';
import { GnaPlan, PlanCache, TilePass, TileShapes } from './gna_plan';

/** Compute precision of the forward kernel; I/O stays float32 (tfjs has no half dtype). */
export type CudaPrecision = 'float32' | 'tf32' | 'float16' | 'bfloat16';
export const CUDA_PRECISIONS: CudaPrecision[] = ['float32', 'tf32', 'float16', 'bfloat16'];

export interface CudaGnaOptions {
  /** Default 'bfloat16': bf16 operands, float32 accumulation and softmax. */
  precision: CudaPrecision;
  /** Fixed tile shapes for the tensor-core path; chosen per problem when absent. */
  tileShapes?: TileShapes;
  /**
   * Query rows per warp of the mma.sync kernel with 128-token Q tiles: 32 (default; each K/V
   * fragment feeds two MMAs) or 16 (Q fragments held in registers).
   */
  rowsPerWarp?: 16 | 32;
  /**
   * Tensor-core kernel: 'auto' (default: the Hopper wgmma kernel where it applies, i.e. an sm_90
   * device, 'bfloat16', head dim 128 and 64- or 128-token Q tiles; mma.sync otherwise), 'mma'
   * (mma.sync always) or 'wgmma' (an error where it does not apply).
   */
  kernel?: TcKernel;
  /**
   * Schedule of the wgmma kernel's two consumer warpgroups with 128-token Q tiles (NATTEN's
   * `kernel_schedule`): 'cooperative' (default: each issues its matrix products as soon as its
   * operands are in) or 'pingpong' (they take turns, so one's softmax hides behind the other's
   * products). Measured within a few percent of each other, in either order depending on the
   * problem (docs/native-performance.md); cooperative needs no hand-over.
   */
  wgmmaSchedule?: WgmmaSchedule;
  /**
   * Whether the wgmma kernel runs persistent (as many CTAs as fit on the GPU at once, each
   * looping over (Q tile, head, batch) items with a static stride, NATTEN's
   * `run_persistent_kernel`) or, by default, one CTA per item (the hardware balances uneven
   * items; see docs/native-performance.md for the measured trade-off).
   */
  persistent?: boolean;
  /**
   * Whether the wgmma kernel with 128-token Q tiles casts float32 K/V to its permuted bf16 layout
   * itself: a spare producer warp of each CTA casts the next (batch, KV head) unit's K/V while the
   * current unit's work items run, so the cast overlaps the attention. true: wherever that kernel
   * runs; false: the separate permute-and-cast pass before the kernel; undefined (default): fused
   * where a unit's work items fill at least KV_CAST_MIN_WAVES waves of CTAs, so that the next
   * unit's cast has time to finish behind them.
   */
  fuseKvCast?: boolean;
}

export type TcKernel = 'auto' | 'mma' | 'wgmma';
export type WgmmaSchedule = 'pingpong' | 'cooperative';
/** The addon's schedule codes (WgmmaSchedule in native/src/gna_native.h). */
export const WGMMA_SCHEDULE_CODES: Record<WgmmaSchedule, number> = { pingpong: 0, cooperative: 1 };
/** The addon's kernel codes (TcKernel in native/src/gna_native.h). */
export const TC_KERNEL_CODES: Record<TcKernel, number> = { auto: 0, mma: 1, wgmma: 2 };

/** Options of every native GNA forward in this process (cuda and host-copy kernels). */
export const cudaGnaOptions: CudaGnaOptions = { precision: 'bfloat16' };

/**
 * Sets the forward compute precision and/or fixed tile shapes of the native GNA kernels.
 * `tileShapes: undefined` returns to choosing tiles per problem, `wgmmaSchedule: undefined` to
 * the default schedule.
 */
export function setCudaGnaOptions(options: Partial<CudaGnaOptions>) {
  if (options === null || typeof options !== 'object') {
    throw new Error('setCudaGnaOptions: options must be an object');
  }
  if (options.precision !== undefined) cudaGnaOptions.precision = checkPrecision(options.precision);
  if (options.rowsPerWarp !== undefined) {
    if (options.rowsPerWarp !== 16 && options.rowsPerWarp !== 32) {
      throw new Error(`setCudaGnaOptions: rowsPerWarp=${options.rowsPerWarp} must be 16 or 32`);
    }
    cudaGnaOptions.rowsPerWarp = options.rowsPerWarp;
  }
  if (options.kernel !== undefined) {
    if (!(options.kernel in TC_KERNEL_CODES)) {
      throw new Error(`setCudaGnaOptions: kernel=${String(options.kernel)} must be 'auto', ` +
        `'mma' or 'wgmma'`);
    }
    cudaGnaOptions.kernel = options.kernel;
  }
  if ('wgmmaSchedule' in options) {  // undefined: the default again
    const s = options.wgmmaSchedule;
    if (s !== undefined && !(s in WGMMA_SCHEDULE_CODES)) {
      throw new Error(`setCudaGnaOptions: wgmmaSchedule=${String(s)} must be ` +
        `'pingpong' or 'cooperative'`);
    }
    cudaGnaOptions.wgmmaSchedule = s;
  }
  if (options.persistent !== undefined) {
    if (typeof options.persistent !== 'boolean') {
      throw new Error(`setCudaGnaOptions: persistent=${String(options.persistent)} must be a boolean`);
    }
    cudaGnaOptions.persistent = options.persistent;
  }
  if ('fuseKvCast' in options) {  // undefined: the default again
    const f = options.fuseKvCast;
    if (f !== undefined && typeof f !== 'boolean') {
      throw new Error(`setCudaGnaOptions: fuseKvCast=${String(f)} must be a boolean or undefined`);
    }
    cudaGnaOptions.fuseKvCast = f;
  }
  if ('tileShapes' in options) {
    const t = options.tileShapes;
    if (t !== undefined && (!Array.isArray(t.qTile) || !Array.isArray(t.kvTile) ||
        t.qTile.length !== t.kvTile.length ||
        [...t.qTile, ...t.kvTile].some((x) => !Number.isInteger(x) || x < 1 || x > 1023))) {
      throw new Error('setCudaGnaOptions: tileShapes must be {qTile, kvTile}, integer arrays of ' +
        'one length with entries in [1, 1023]');
    }
    cudaGnaOptions.tileShapes = t === undefined ? undefined : { qTile: [...t.qTile], kvTile: [...t.kvTile] };
  }
}

export function checkPrecision(p: unknown): CudaPrecision {
  if (!CUDA_PRECISIONS.includes(p as CudaPrecision)) {
    throw new Error(`gna (cuda): precision=${String(p)} must be one of ` +
      `${CUDA_PRECISIONS.map((x) => `'${x}'`).join(', ')}`);
  }
  return p as CudaPrecision;
}

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

export function shapeDesc(problem: GnaProblem): ShapeDesc {
  const { batch, heads, kvHeads, headDim, valueDim, scale } = problem;
  return { batch, heads, kvHeads, headDim, valueDim, scale };
}

/** Temporary device buffers, freed together (back to the addon's pool). */
export class Scratch {
  private handles: BufferHandle[] = [];
  constructor(private readonly addon: NativeAddon) {}
  alloc(bytes: number): BufferHandle {
    const h = this.addon.alloc(bytes);
    this.handles.push(h);
    return h;
  }
  free() {
    for (const h of this.handles.splice(0)) this.addon.free(h);
  }
}

/** Operand type of the permuted copies per precision ('tf32' reads float32 and rounds). */
const TILED_ELEMENT: Record<CudaPrecision, ElementType | undefined> = {
  float32: undefined, tf32: 'float32', float16: 'float16', bfloat16: 'bfloat16',
};

export interface TiledForward {
  plan: GnaPlan;
  elem: ElementType;
  rowsPerWarp: 16 | 32;
  kernel: TcKernel;
  wgmmaSchedule: WgmmaSchedule;
  persistent: boolean;
  /** The wgmma kernel runs and reads Q in the original float32 layout (Q's cast fused in it). */
  qNatural: boolean;
  /** It also casts K/V from their original float32 layout itself (CudaGnaOptions.fuseKvCast). */
  kvNatural: boolean;
}

/**
 * Whether the tensor-core kernel serves this problem at this precision, and with which plan:
 * 'tf32', 'float16' and 'bfloat16', head dims 32/64/128 with valueDim == headDim.
 */
export function tiledForward(addon: NativeAddon, plans: PlanCache, problem: GnaProblem,
                             options: CudaGnaOptions,
                             pass: TilePass = 'forward'): TiledForward | undefined {
  const elem = TILED_ELEMENT[options.precision];
  if (elem === undefined) return undefined;
  // Head dims first: the kernel has instantiations for 32, 64 and 128 only.
  if (!addon.tensorCoreSupports(problem.headDim, problem.valueDim, 128, 128)) return undefined;
  const shapes = options.tileShapes ?? plans.tileShapes(problem, pass);
  if (shapes.qTile.length !== problem.spatialShape.length ||
      shapes.kvTile.length !== problem.spatialShape.length) {
    throw new Error(`gna (cuda): tileShapes have ${shapes.qTile.length} dims but the input has ` +
      `${problem.spatialShape.length} spatial dims`);
  }
  if (!addon.tensorCoreSupports(problem.headDim, problem.valueDim, product(shapes.qTile),
    product(shapes.kvTile))) {
    return undefined;
  }
  const plan = plans.get(problem, shapes);
  const kernel = options.kernel ?? 'auto';
  const qNatural = kernel !== 'mma' && addon.wgmmaApplies(elem, problem.headDim,
    product(shapes.qTile), product(shapes.kvTile));
  const kvNatural = qNatural && product(shapes.qTile) === 128 &&
    (options.fuseKvCast ?? kvCastWaves(addon, problem, shapes.qTile) >= KV_CAST_MIN_WAVES);
  return { plan, elem, rowsPerWarp: options.rowsPerWarp ?? 32, kernel,
    wgmmaSchedule: options.wgmmaSchedule ?? 'cooperative',
    persistent: options.persistent ?? false, qNatural, kvNatural };
}

/**
 * Waves of 128-row CTAs (one per multiprocessor) that one (batch, KV head) unit's work items fill.
 * Measured on the H100 (docs/native-performance.md): FLUX-1K's 0.24 waves per unit lose with the
 * fused cast (its cast warps cannot keep a unit ahead), the paper's large problems (3.3 to 6.8
 * waves) gain.
 */
export const KV_CAST_MIN_WAVES = 2;
const multiprocessors = new WeakMap<NativeAddon, number>();
function kvCastWaves(addon: NativeAddon, problem: GnaProblem, qTile: number[]): number {
  if (!multiprocessors.has(addon)) {
    multiprocessors.set(addon, addon.probe().multiProcessorCount ?? 1);
  }
  const qTiles = permutedLength(qTile, problem) / product(qTile);
  return qTiles * (problem.heads / problem.kvHeads) / multiprocessors.get(addon)!;
}

/**
 * Buffers of the permuted operands of one tiled forward (no Q where the kernel reads it as is),
 * and the scratch of the kernel's own K/V cast where it casts them (kvNatural).
 */
export interface PermutedOperands {
  q?: BufferHandle;
  k: BufferHandle;
  v: BufferHandle;
  castState?: BufferHandle;
}

export function allocPermuted(scratch: Scratch, problem: GnaProblem,
                              t: TiledForward): PermutedOperands {
  const { heads, kvHeads, headDim, valueDim } = problem;
  const { qRows, kvRows } = permutedRows(problem, t);
  const bytes = t.elem === 'float32' ? 4 : 2;
  return {
    q: t.qNatural ? undefined : scratch.alloc(qRows * heads * headDim * bytes),
    k: scratch.alloc(kvRows * kvHeads * headDim * bytes),
    v: scratch.alloc(kvRows * kvHeads * valueDim * bytes),
    // kvCastStateInts (native/src/gna_native.h): a claim counter and one count per unit.
    castState: t.kvNatural ?
      scratch.alloc(4 * (1 + problem.batch * product(problem.dilation) * kvHeads)) : undefined,
  };
}

function permutedLength(tile: number[], problem: GnaProblem): number {
  return product(tile.map((t, a) => Math.ceil(problem.spatialShape[a] /
    (t * problem.dilation[a])) * t));
}

/** Rows (tokens of every batch and dilation group) of the Q- and KV-tiled permuted layouts. */
export function permutedRows(problem: GnaProblem, t: TiledForward) {
  const lead = problem.batch * product(problem.dilation);
  return {
    qRows: lead * permutedLength(t.plan.qGeometry!.tileShape, problem),
    kvRows: lead * permutedLength(t.plan.kvGeometry!.tileShape, problem),
  };
}

export function permuteOperands(addon: NativeAddon, problem: GnaProblem, t: TiledForward,
                                q: BufferHandle, k: BufferHandle, v: BufferHandle,
                                p: PermutedOperands) {
  const { batch, heads, kvHeads, headDim, valueDim } = problem;
  if (p.q !== undefined) {
    addon.tokenPermute(t.plan.qGeometry!, batch, heads * headDim, q, p.q, t.elem);
  }
  addon.tokenPermute(t.plan.kvGeometry!, batch, kvHeads * headDim, k, p.k, t.elem);
  addon.tokenPermute(t.plan.kvGeometry!, batch, kvHeads * valueDim, v, p.v, t.elem);
}

/** Forward GNA: float32 q/k/v buffers in the original layout to output and LSE buffers. */
export function gnaForwardOnDevice(addon: NativeAddon, plans: PlanCache, problem: GnaProblem,
                                   options: CudaGnaOptions, q: BufferHandle, k: BufferHandle,
                                   v: BufferHandle, out: BufferHandle, lse: BufferHandle) {
  const tiled = tiledForward(addon, plans, problem, options);
  if (tiled === undefined) {
    addon.gnaForwardF32(plans.get(problem).id, shapeDesc(problem), q, k, v, out, lse);
    return;
  }
  const scratch = new Scratch(addon);
  try {
    const p = allocPermuted(scratch, problem, tiled);
    if (!tiled.kvNatural) permuteOperands(addon, problem, tiled, q, k, v, p);
    addon.gnaForwardTiled(tiled.plan.id, shapeDesc(problem), tiled.elem, p.q ?? q, p.k, p.v, out,
      lse, tiled.rowsPerWarp, TC_KERNEL_CODES[tiled.kernel],
      WGMMA_SCHEDULE_CODES[tiled.wgmmaSchedule], tiled.persistent, tiled.qNatural,
      ...(tiled.kvNatural ? [k, v, p.castState!] as const : []));
  } finally {
    scratch.free();
  }
}

export interface GradBuffers {
  q: BufferHandle; k: BufferHandle; v: BufferHandle; output: BufferHandle; lse: BufferHandle;
  dOutput: BufferHandle; dLse: BufferHandle; dq: BufferHandle; dk: BufferHandle;
  dv: BufferHandle;
}

/**
 * Backward GNA (spec §3.4). At 'float16' and 'bfloat16', where the tensor-core forward applies,
 * the tensor-core backward over the forward's plan: δ = rowsum(dO ∘ O) − dLse on the original
 * layout, Q/dO/LSE/δ permuted with the Q tiling and K/V with the KV tiling, the dQ and dK/dV
 * kernels, then the gradients unpermuted. Otherwise ('float32', 'tf32', other head dims) the
 * exact float32 kernels on the original layout.
 */
export function gnaBackwardOnDevice(addon: NativeAddon, plans: PlanCache, problem: GnaProblem,
                                    options: CudaGnaOptions, b: GradBuffers) {
  // The backward permutes its operands itself, so it runs on the tiling chosen for its kernels.
  const tiled = tiledForward(addon, plans, problem, options, 'backward');
  const scratch = new Scratch(addon);
  try {
    const rows = problem.batch * product(problem.spatialShape) * problem.heads;
    const delta = scratch.alloc(rows * 4);
    if (tiled === undefined || tiled.elem === 'float32') {
      addon.gnaBackwardF32(plans.get(problem).id, shapeDesc(problem), b.q, b.k, b.v, b.output,
        b.lse, b.dOutput, b.dLse, delta, b.dq, b.dk, b.dv);
      return;
    }
    addon.gnaBackwardDelta(rows, problem.valueDim, b.output, b.dOutput, b.dLse, delta);
    tiledBackward(addon, scratch, problem, tiled, b, delta);
  } finally {
    scratch.free();
  }
}

function tiledBackward(addon: NativeAddon, scratch: Scratch, problem: GnaProblem,
                       t: TiledForward, b: GradBuffers, delta: BufferHandle) {
  const { batch, heads, kvHeads, headDim, valueDim } = problem;
  const elem = t.elem as 'float16' | 'bfloat16';
  const qGeometry = t.plan.qGeometry!;
  const kvGeometry = t.plan.kvGeometry!;
  const { qRows, kvRows } = permutedRows(problem, t);
  const permuted = (g: PermuteGeometryDesc, rowCount: number, width: number, x: BufferHandle,
                    e: ElementType) => {
    const y = scratch.alloc(rowCount * width * (e === 'float32' ? 4 : 2));
    addon.tokenPermute(g, batch, width, x, y, e);
    return y;
  };
  const q = permuted(qGeometry, qRows, heads * headDim, b.q, elem);
  const dOut = permuted(qGeometry, qRows, heads * valueDim, b.dOutput, elem);
  const lse = permuted(qGeometry, qRows, heads, b.lse, 'float32');
  const deltaP = permuted(qGeometry, qRows, heads, delta, 'float32');
  const k = permuted(kvGeometry, kvRows, kvHeads * headDim, b.k, elem);
  const v = permuted(kvGeometry, kvRows, kvHeads * valueDim, b.v, elem);
  const dq = scratch.alloc(qRows * heads * headDim * 4);
  const dk = scratch.alloc(kvRows * kvHeads * headDim * 4);
  const dv = scratch.alloc(kvRows * kvHeads * valueDim * 4);
  addon.gnaBackwardTiled(t.plan.id, shapeDesc(problem), elem, q, k, v, dOut, lse, deltaP, dq, dk,
    dv);
  addon.tokenUnpermute(qGeometry, batch, heads * headDim, dq, b.dq);
  addon.tokenUnpermute(kvGeometry, batch, kvHeads * headDim, dk, b.dk);
  addon.tokenUnpermute(kvGeometry, batch, kvHeads * valueDim, dv, b.dv);
}

/**
 * Loads the CUDA addon (`native/build/Release/tfjs_gna_native.node`, built by
 * `npm run build:native`) and probes the GPU once. Never throws at import: when the addon is not
 * built, or there is no driver or GPU, `nativeAvailability()` says so with the reason and the
 * rest of the package works without it.
 */
import * as fs from 'fs';
import * as path from 'path';

export type ElementType = 'float32' | 'float16' | 'bfloat16';
/** An opaque handle of a device buffer owned by the addon's registry. */
export type BufferHandle = number;

export interface PermuteGeometryDesc {
  rank: number;
  spatialShape: number[];
  tileShape: number[];
  dilation: number[];
}

export interface PlanDesc {
  rank: number;
  spatialShape: number[];
  dilation: number[];
  /** Per-axis table length (covers real positions and tile padding). */
  extent: number[];
  /** int4 entries {windowStart, windowEnd, inverseStart, inverseEnd} per (axis, group, u). */
  windows: Int32Array;
  tiled?: {
    qTile: number[];
    kvTile: number[];
    tileRanges: Int32Array;
    entries: Int32Array;
    /** The same tile pairs per KV tile (the dK/dV kernel's walk). */
    inverseRanges: Int32Array;
    inverseEntries: Int32Array;
    qOffsets: Int32Array;
    kvOffsets: Int32Array;
  };
}

export interface ShapeDesc {
  batch: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  valueDim: number;
  scale: number;
}

export interface DeviceProbe {
  ok: boolean;
  reason?: string;
  name?: string;
  computeCapability?: string;
  multiProcessorCount?: number;
  totalMemory?: number;
  runtimeVersion: number;
  driverVersion: number;
}

/** The functions `native/src/addon.cc` exports. */
export interface NativeAddon {
  probe(): DeviceProbe;
  alloc(bytes: number): BufferHandle;
  free(handle: BufferHandle): void;
  upload(handle: BufferHandle, data: ArrayBufferView): void;
  download(handle: BufferHandle, into: ArrayBufferView): void;
  copy(dst: BufferHandle, src: BufferHandle, bytes: number): void;
  memoryInfo(): { free: number; total: number; live: number; pooled: number; buffers: number };
  releasePool(): void;
  synchronize(): void;
  timerStart(): number;
  timerStop(timer: number): number;
  tokenPermute(g: PermuteGeometryDesc, batch: number, width: number, x: BufferHandle,
               y: BufferHandle, outElem: ElementType): void;
  tokenUnpermute(g: PermuteGeometryDesc, batch: number, width: number, y: BufferHandle,
                 x: BufferHandle): void;
  createPlan(desc: PlanDesc): number;
  destroyPlan(plan: number): void;
  gnaForwardF32(plan: number, shape: ShapeDesc, q: BufferHandle, k: BufferHandle, v: BufferHandle,
                out: BufferHandle, lse: BufferHandle): void;
  gnaBackwardF32(plan: number, shape: ShapeDesc, q: BufferHandle, k: BufferHandle,
                 v: BufferHandle, out: BufferHandle, lse: BufferHandle, dOut: BufferHandle,
                 dLse: BufferHandle, delta: BufferHandle, dq: BufferHandle, dk: BufferHandle,
                 dv: BufferHandle): void;
  gnaForwardTiled(plan: number, shape: ShapeDesc, elem: ElementType, q: BufferHandle,
                  k: BufferHandle, v: BufferHandle, out: BufferHandle, lse: BufferHandle,
                  rowsPerWarp?: 16 | 32, kernel?: number, schedule?: number,
                  persistent?: boolean, qNatural?: boolean, kNatural?: BufferHandle,
                  vNatural?: BufferHandle, castState?: BufferHandle): void;
  gnaBackwardTiled(plan: number, shape: ShapeDesc, elem: 'float16' | 'bfloat16', q: BufferHandle,
                   k: BufferHandle, v: BufferHandle, dOut: BufferHandle, lse: BufferHandle,
                   delta: BufferHandle, dq: BufferHandle, dk: BufferHandle, dv: BufferHandle): void;
  gnaBackwardDelta(rows: number, valueDim: number, out: BufferHandle, dOut: BufferHandle,
                   dLse: BufferHandle, delta: BufferHandle): void;
  tensorCoreSupports(headDim: number, valueDim: number, qVolume: number,
                     kvVolume: number): boolean;
  /** Whether gnaForwardTiled runs the Hopper wgmma kernel here (and so accepts qNatural). */
  wgmmaApplies(elem: ElementType, headDim: number, qVolume: number, kvVolume: number): boolean;
  // Generic tensor kernels (native/src/ops_api.cc); op codes as in native/src/ops.h.
  binary(op: number, dtype: 'float32' | 'int32', outShape: number[], aStrides: number[],
         bStrides: number[], a: BufferHandle, b: BufferHandle, y: BufferHandle): void;
  unary(op: number, n: number, x: BufferHandle, y: BufferHandle): void;
  cast(from: string, to: string, n: number, x: BufferHandle, y: BufferHandle): void;
  fill(elemBytes: 1 | 4, n: number, bits: number, y: BufferHandle): void;
  stridedCopy(elemBytes: 1 | 4, shape: number[], srcOffset: number, srcStrides: number[],
              dstOffset: number, dstStrides: number[], x: BufferHandle, y: BufferHandle): void;
  reduceRows(op: number, dtype: 'float32', rows: number, cols: number, x: BufferHandle,
             y: BufferHandle): void;
  softmaxRows(rows: number, cols: number, x: BufferHandle, y: BufferHandle): void;
  gather(elemBytes: 1 | 4, outer: number, axisSize: number, inner: number, nIdx: number,
         x: BufferHandle, indices: BufferHandle, y: BufferHandle): void;
  gemm(desc: GemmDesc, a: BufferHandle, b: BufferHandle, bias: BufferHandle | null,
       c: BufferHandle): void;
}

/** One batched GEMM: op codes as in native/src/ops.h (GemmPrecision, Activation). */
export interface GemmDesc {
  m: number;
  n: number;
  k: number;
  transposeA: boolean;
  transposeB: boolean;
  batchShape: number[];
  aBatchStrides: number[];
  bBatchStrides: number[];
  precision: number;
  biasMode: 0 | 1 | 2;
  activation: number;
  alpha: number;
}

export type NativeAvailability =
  | { available: true; addon: NativeAddon; device: DeviceProbe; path: string }
  | { available: false; reason: string };

const ADDON_FILE = 'tfjs_gna_native.node';

/** The package root: the nearest ancestor holding both package.json and native/. */
function packageRoot(): string | undefined {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'native'))) {
      return dir;
    }
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

let cached: NativeAvailability | undefined;

function load(): NativeAvailability {
  const override = process.env.TFJS_GNA_NATIVE_ADDON;
  const root = packageRoot();
  const file = override ?? (root && path.join(root, 'native', 'build', 'Release', ADDON_FILE));
  if (file === undefined || !fs.existsSync(file)) {
    return { available: false,
      reason: `native addon not built (${file ?? ADDON_FILE} missing; run npm run build:native ` +
        'on a machine with the CUDA toolkit)' };
  }
  let addon: NativeAddon;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    addon = require(file) as NativeAddon;
  } catch (err) {
    return { available: false, reason: `native addon failed to load: ${(err as Error).message}` };
  }
  let device: DeviceProbe;
  try {
    device = addon.probe();
  } catch (err) {
    return { available: false, reason: `CUDA probe failed: ${(err as Error).message}` };
  }
  if (!device.ok) return { available: false, reason: device.reason ?? 'no usable CUDA device' };
  return { available: true, addon, device, path: file };
}

/** Loads and probes once; later calls return the same answer. */
export function nativeAvailability(): NativeAvailability {
  if (cached === undefined) cached = load();
  return cached;
}

/** The loaded addon, or an Error saying why there is none. */
export function requireAddon(what: string): NativeAddon {
  const a = nativeAvailability();
  if (!a.available) throw new Error(`${what}: the native CUDA path is unavailable: ${a.reason}`);
  return a.addon;
}

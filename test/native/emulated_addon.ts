/**
 * A host-memory model of the addon's generic op entry points (native/src/ops_api.cc), written
 * from the kernels' contracts in float64 math: it lets the TypeScript layer of the native ops
 * (shapes, strides, offsets, fallbacks, refcounts) run against the CPU backend on machines
 * without a GPU. The CUDA kernels themselves are checked by the same suite on the GPU machine.
 */
import type { GemmDesc, NativeAddon } from '../../kernels/native/addon';

type View = Float32Array | Int32Array | Uint8Array | Uint32Array;

const f32 = Math.fround;

function binaryOp(op: number, a: number, b: number, int: boolean): number {
  switch (op) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return int ? Math.imul(a, b) : a * b;
    case 3: return a / b;
    case 4: return Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b);
    case 5: return Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b);
    case 6: return Math.pow(a, b);
    default: return int ? Math.imul(a - b, a - b) : (a - b) * (a - b);
  }
}

function unaryOp(op: number, x: number): number {
  switch (op) {
    case 0: return Math.exp(x);
    case 1: return Math.log(x);
    case 2: return Math.sqrt(x);
    case 3: return 1 / Math.sqrt(x);
    case 4: return x * x;
    case 5: return Math.tanh(x);
    case 6: return erf(x);
    case 7: return 1 / (1 + Math.exp(-x));
    case 8: return -x;
    case 9: return x > 13.9423847 ? x : x < -13.9423847 ? Math.exp(x) : Math.log1p(Math.exp(x));
    case 10: return x < 0 ? 0 : x;
    case 11: return Math.abs(x);
    default: return 1 / x;
  }
}

/** erf to ~1e-12 by its Taylor series (small |x|) or continued fraction tail. */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax > 6) return Math.sign(x);
  let sum = 0, term = ax, n = 0;
  while (Math.abs(term) > 1e-17 * Math.abs(sum) || n < 3) {
    sum += term / (2 * n + 1);
    n++;
    term *= -ax * ax / n;
    if (n > 200) break;
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
}

/** Flat index -> offset through shape/strides (row-major over shape). */
function offsetOf(i: number, shape: number[], strides: number[]): number {
  let off = 0;
  for (let d = shape.length - 1; d >= 0; d--) {
    const r = i % shape[d];
    i = (i - r) / shape[d];
    off += r * strides[d];
  }
  return off;
}

export function emulatedAddon(): NativeAddon & { liveBuffers(): number } {
  const buffers = new Map<number, ArrayBuffer>();
  let next = 1;
  const buf = (h: number) => {
    const b = buffers.get(h);
    if (b === undefined) throw new Error('emulated addon: not a live device buffer');
    return b;
  };
  const f = (h: number) => new Float32Array(buf(h));
  const i32 = (h: number) => new Int32Array(buf(h));
  const u8 = (h: number) => new Uint8Array(buf(h));
  const byElem = (bytes: number, h: number): View => (bytes === 1 ? u8(h) : new Uint32Array(buf(h)));
  const viewOf = (dtype: string, h: number): View =>
    dtype === 'float32' ? f(h) : dtype === 'int32' ? i32(h) : u8(h);
  const unsupported = (name: string) => () => {
    throw new Error(`emulated addon: ${name} is not emulated`);
  };
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

  return {
    liveBuffers: () => buffers.size,
    probe: () => ({ ok: true, name: 'emulated', runtimeVersion: 0, driverVersion: 0 }),
    alloc: (bytes: number) => {
      buffers.set(next, new ArrayBuffer(Math.ceil(Math.max(bytes, 1) / 4) * 4));
      return next++;
    },
    free: (h: number) => {
      buf(h);
      buffers.delete(h);
    },
    upload: (h, data) => u8(h).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)),
    download: (h, into) => new Uint8Array(into.buffer, into.byteOffset, into.byteLength)
      .set(u8(h).subarray(0, into.byteLength)),
    copy: (dst, src, bytes) => u8(dst).set(u8(src).subarray(0, bytes)),
    memoryInfo: () => ({ free: 0, total: 0, live: 0, pooled: 0, buffers: buffers.size }),
    releasePool: () => undefined,
    synchronize: () => undefined,
    timerStart: () => 0,
    timerStop: () => 0,
    tokenPermute: unsupported('tokenPermute'),
    tokenUnpermute: unsupported('tokenUnpermute'),
    createPlan: unsupported('createPlan'),
    destroyPlan: () => undefined,
    gnaForwardF32: unsupported('gnaForwardF32'),
    gnaBackwardF32: unsupported('gnaBackwardF32'),
    gnaForwardTiled: unsupported('gnaForwardTiled'),
    gnaBackwardTiled: unsupported('gnaBackwardTiled'),
    gnaBackwardDelta: unsupported('gnaBackwardDelta'),
    tensorCoreSupports: () => false,
    wgmmaApplies: () => false,

    binary(op, dtype, outShape, aS, bS, a, b, y) {
      const int = dtype === 'int32';
      const [av, bv, yv] = [viewOf(dtype, a), viewOf(dtype, b), viewOf(dtype, y)];
      for (let i = 0; i < size(outShape); i++) {
        yv[i] = binaryOp(op, av[offsetOf(i, outShape, aS)], bv[offsetOf(i, outShape, bS)], int);
      }
    },
    unary(op, n, x, y) {
      const [xv, yv] = [f(x), f(y)];
      for (let i = 0; i < n; i++) yv[i] = unaryOp(op, xv[i]);
    },
    cast(from, to, n, x, y) {
      const [xv, yv] = [viewOf(from, x), viewOf(to, y)];
      for (let i = 0; i < n; i++) yv[i] = to === 'bool' ? (xv[i] !== 0 ? 1 : 0) : xv[i];
    },
    fill(bytes, n, bits, y) {
      byElem(bytes, y).fill(bits, 0, n);
    },
    stridedCopy(bytes, shape, so, ss, dof, ds, x, y) {
      const [xv, yv] = [byElem(bytes, x), byElem(bytes, y)];
      for (let i = 0; i < size(shape); i++) {
        yv[dof + offsetOf(i, shape, ds)] = xv[so + offsetOf(i, shape, ss)];
      }
    },
    reduceRows(op, _dtype, rows, cols, x, y) {
      const [xv, yv] = [f(x), f(y)];
      for (let r = 0; r < rows; r++) {
        let acc = op === 2 ? -Infinity : op === 3 ? Infinity : op === 4 ? 1 : 0;
        for (let c = 0; c < cols; c++) {
          const v = xv[r * cols + c];
          if (op === 2) acc = Number.isNaN(v) || v > acc ? v : acc;
          else if (op === 3) acc = Number.isNaN(v) || v < acc ? v : acc;
          else if (op === 4) acc *= v;
          else acc += v;
        }
        yv[r] = op === 1 ? acc / cols : acc;
      }
    },
    softmaxRows(rows, cols, x, y) {
      const [xv, yv] = [f(x), f(y)];
      for (let r = 0; r < rows; r++) {
        const row = xv.subarray(r * cols, (r + 1) * cols);
        const m = Math.max(...row);
        const e = Array.from(row, (v) => Math.exp(v - m));
        const s = e.reduce((a, b) => a + b, 0);
        e.forEach((v, c) => { yv[r * cols + c] = v / s; });
      }
    },
    gather(bytes, outer, axisSize, inner, nIdx, x, idx, y) {
      const [xv, iv, yv] = [byElem(bytes, x), i32(idx), byElem(bytes, y)];
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < nIdx; j++) {
          for (let k = 0; k < inner; k++) {
            yv[(o * nIdx + j) * inner + k] = xv[(o * axisSize + iv[j]) * inner + k];
          }
        }
      }
    },
    gemm(g: GemmDesc, a, b, bias, c) {
      const [av, bv, cv] = [f(a), f(b), f(c)];
      const biasV = bias === null ? undefined : f(bias);
      const batch = size(g.batchShape);
      for (let z = 0; z < batch; z++) {
        const ao = offsetOf(z, g.batchShape, g.aBatchStrides);
        const bo = offsetOf(z, g.batchShape, g.bBatchStrides);
        for (let i = 0; i < g.m; i++) {
          for (let j = 0; j < g.n; j++) {
            let s = 0;
            for (let k = 0; k < g.k; k++) {
              const x = av[ao + (g.transposeA ? k * g.m + i : i * g.k + k)];
              const w = bv[bo + (g.transposeB ? j * g.k + k : k * g.n + j)];
              s += x * w;
            }
            if (g.biasMode === 1) s += (biasV as Float32Array)[j];
            if (g.biasMode === 2) s += (biasV as Float32Array)[0];
            const act = [(v: number) => v, (v: number) => Math.max(v, 0),
              (v: number) => Math.min(Math.max(v, 0), 6), (v: number) => 1 / (1 + Math.exp(-v)),
              (v: number) => (v < 0 ? g.alpha * v : v), (v: number) => (v < 0 ? Math.exp(v) - 1 : v)];
            cv[(z * g.m + i) * g.n + j] = f32(act[g.activation](s));
          }
        }
      }
    },
  };
}

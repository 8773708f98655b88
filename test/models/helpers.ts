/** Test helpers of the model adapter suites: a safetensors writer and a float64 joint reference. */
import * as tf from '@tensorflow/tfjs';
import { refMask } from '../helpers/reference';

export interface FixtureTensor {
  name: string;
  dtype?: 'F32' | 'F16' | 'BF16';
  shape: number[];
  data: ArrayLike<number>;
}

function floatToHalf(x: number): number {
  const f = new Float32Array([x]);
  const bits = new Uint32Array(f.buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = (mant | 0x800000) >> (1 - e + 13);
    return sign | m;
  }
  return sign | (e << 10) | (mant >> 13);
}

/** Encodes tensors as a safetensors file (data in the given order, header padded to 8 bytes). */
export function writeSafetensors(tensors: FixtureTensor[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let at = 0;
  for (const t of tensors) {
    const dtype = t.dtype ?? 'F32';
    let bytes: Uint8Array;
    if (dtype === 'F32') {
      bytes = new Uint8Array(new Float32Array(Array.from(t.data)).buffer);
    } else {
      const u16 = new Uint16Array(t.data.length);
      for (let i = 0; i < t.data.length; i++) {
        u16[i] = dtype === 'F16' ? floatToHalf(t.data[i])
          : new Uint32Array(new Float32Array([t.data[i]]).buffer)[0] >>> 16;
      }
      bytes = new Uint8Array(u16.buffer);
    }
    header[t.name] = { dtype, shape: t.shape, data_offsets: [at, at + bytes.length] };
    chunks.push(bytes);
    at += bytes.length;
  }
  let json = JSON.stringify(header);
  while ((json.length + 8) % 8 !== 0) json += ' ';
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + at);
  new DataView(out.buffer).setUint32(0, head.length, true);
  out.set(head, 8);
  let pos = 8 + head.length;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

/** Builds a file from a raw header object and data bytes (for hostile files). */
export function rawSafetensors(header: unknown, data: Uint8Array, headerLength?: number): Uint8Array {
  const head = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + head.length + data.length);
  const view = new DataView(out.buffer);
  const n = headerLength ?? head.length;
  view.setUint32(0, n % 2 ** 32, true);
  view.setUint32(4, Math.floor(n / 2 ** 32), true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}

export interface JointRefLayout {
  grid: number[];
  textTokens: number;
  order: 'textFirst' | 'visualFirst';
  validText?: number[];
  /** GNA window of the visual queries; omitted = dense for everyone. */
  window?: { windowSize: number[]; stride: number[]; dilation?: number[] };
}

/**
 * Float64 brute force of the joint attention the adapters implement (models.md §5.2): a visual
 * query sees the visual keys of its GNA mask (refMask) plus the valid text; a text query sees
 * every visual key and the valid text. q/k/v `[B, L, H, D]` as flat arrays.
 */
export function jointReference(q: Float32Array, k: Float32Array, v: Float32Array, shape: number[],
                               layout: JointRefLayout, scale: number): Float64Array {
  const [B, L, H, D] = shape;
  const N = layout.grid.reduce((a, b) => a * b, 1);
  const T = layout.textTokens;
  const textFirst = layout.order === 'textFirst';
  const visIndex = (i: number) => (textFirst ? T + i : i);
  const txtIndex = (i: number) => (textFirst ? i : N + i);
  const mask = layout.window === undefined ? undefined : refMask({
    shape: layout.grid, windowSize: layout.window.windowSize, stride: layout.window.stride,
    dilation: layout.window.dilation ?? layout.grid.map(() => 1),
    isCausal: layout.grid.map(() => false), scale });
  const out = new Float64Array(B * L * H * D);
  for (let b = 0; b < B; b++) {
    const valid = layout.validText?.[b] ?? T;
    for (let qi = 0; qi < L; qi++) {
      const isText = textFirst ? qi < T : qi >= N;
      const visQ = textFirst ? qi - T : qi;
      const keys: number[] = [];
      for (let j = 0; j < N; j++) {
        if (isText || mask === undefined || mask[visQ * N + j]) keys.push(visIndex(j));
      }
      for (let j = 0; j < valid; j++) keys.push(txtIndex(j));
      for (let h = 0; h < H; h++) {
        const qo = ((b * L + qi) * H + h) * D;
        const scores = keys.map((kj) => {
          const ko = ((b * L + kj) * H + h) * D;
          let s = 0;
          for (let d = 0; d < D; d++) s += q[qo + d] * k[ko + d];
          return s * scale;
        });
        const m = Math.max(...scores);
        const w = scores.map((s) => Math.exp(s - m));
        const z = w.reduce((a, x) => a + x, 0);
        keys.forEach((kj, j) => {
          const vo = ((b * L + kj) * H + h) * D;
          for (let d = 0; d < D; d++) out[qo + d] += (w[j] / z) * v[vo + d];
        });
      }
    }
  }
  return out;
}

/** Float64 dense attention: q `[B, Nq, H, D]`, k/v `[B, S, H, D]`, flat arrays. */
export function denseReference(q: Float32Array, k: Float32Array, v: Float32Array, qShape: number[],
                               keys: number, scale: number): Float64Array {
  const [B, Nq, H, D] = qShape;
  const out = new Float64Array(B * Nq * H * D);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < Nq; i++) {
      for (let h = 0; h < H; h++) {
        const qo = ((b * Nq + i) * H + h) * D;
        const scores: number[] = [];
        for (let j = 0; j < keys; j++) {
          const ko = ((b * keys + j) * H + h) * D;
          let s = 0;
          for (let d = 0; d < D; d++) s += q[qo + d] * k[ko + d];
          scores.push(s * scale);
        }
        const m = Math.max(...scores);
        const w = scores.map((s) => Math.exp(s - m));
        const z = w.reduce((a, x) => a + x, 0);
        for (let j = 0; j < keys; j++) {
          const vo = ((b * keys + j) * H + h) * D;
          for (let d = 0; d < D; d++) out[qo + d] += (w[j] / z) * v[vo + d];
        }
      }
    }
  }
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Random float32 data (seeded through tfjs). */
export function randn(shape: number[], seed: number, std = 1): tf.Tensor {
  return tf.randomNormal(shape, 0, std, 'float32', seed);
}

/**
 * The page of the real-browser test, bundled by esbuild: tfjs with its WebGPU backend and this
 * package, as a web app would load them. `runGnaCheck` runs `gna` (forward, LSE and
 * gradients) on `webgpu` and on `cpu` in the page and returns the largest differences.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
// Bundlers load tfjs's ESM builds, whose namespace objects cannot gain `tf.gna`: web apps call
// the package's own export (the same function that `tf.gna` is in CommonJS).
import { gna } from '../../src';

export interface BrowserCheck {
  adapter: string | null;
  backend: string;
  errors: Record<string, number>;
}

interface Case {
  shape: number[];
  kvHeads: number;
  options: { windowSize: number[]; stride: number[]; dilation: number[]; isCausal: boolean[] };
}

const CASES: Case[] = [
  { shape: [1, 9, 11, 4, 16], kvHeads: 2,
    options: { windowSize: [3, 5], stride: [2, 2], dilation: [2, 1], isCausal: [false, true] } },
  { shape: [1, 6, 5, 7, 2, 8], kvHeads: 2,
    options: { windowSize: [3, 3, 4], stride: [1, 3, 2], dilation: [1, 1, 1], isCausal: [true, false, false] } },
];

/** Deterministic data in [-1, 1) (a linear congruential generator; no Math.random). */
function data(size: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: size }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

async function runCase(c: Case, backend: string, seed: number): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const kShape = [...c.shape.slice(0, -2), c.kvHeads, c.shape[c.shape.length - 1]];
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const q = tf.tensor(data(size(c.shape), seed), c.shape);
  const k = tf.tensor(data(size(kShape), seed + 1), kShape);
  const v = tf.tensor(data(size(kShape), seed + 2), kShape);
  const dOutput = tf.tensor(data(size(c.shape), seed + 3), c.shape);
  const run = (a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) =>
    gna(a, b, d, { ...c.options, returnLse: true });
  const { output, lse } = run(q, k, v);
  const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) => {
    const r = run(a, b, d);
    return tf.add(tf.sum(tf.mul(r.output, dOutput)), tf.sum(r.lse)) as tf.Scalar;
  })([q, k, v]);
  const results = [output, lse, ...grads];
  const values = await Promise.all(results.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose([...results, q, k, v, dOutput]);
  return values;
}

async function runGnaCheck(): Promise<BrowserCheck> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  const adapter = gpu === undefined ? null : await gpu.requestAdapter();
  if (adapter === null) return { adapter: null, backend: tf.getBackend(), errors: {} };
  const errors: Record<string, number> = {};
  const names = ['output', 'lse', 'dq', 'dk', 'dv'];
  for (let i = 0; i < CASES.length; i++) {
    const gpuValues = await runCase(CASES[i], 'webgpu', 7 * i + 1);
    const backend = tf.getBackend();
    const cpuValues = await runCase(CASES[i], 'cpu', 7 * i + 1);
    if (backend !== 'webgpu') return { adapter: 'yes', backend, errors };
    gpuValues.forEach((values, j) => {
      let error = 0;
      values.forEach((x, e) => { error = Math.max(error, Math.abs(x - cpuValues[j][e])); });
      if (Number.isNaN(values.reduce((a, b) => a + b, 0))) error = NaN;
      errors[`case${i}.${names[j]}`] = error;
    });
  }
  return { adapter: 'yes', backend: 'webgpu', errors };
}

(globalThis as unknown as { runGnaCheck: typeof runGnaCheck }).runGnaCheck = runGnaCheck;

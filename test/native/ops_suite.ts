/**
 * The native op kernels of the `cuda` backend against the CPU backend on random inputs:
 * broadcasting, size-1 and empty dims, rank 0 and rank 6, every transpose kind, and no CPU
 * fallback for the covered cases; tensors and device buffers are all released afterwards.
 * Shared by ops.test.ts (the GPU) and ops_emulated.test.ts (the host model of the addon).
 * Tolerances: data movement, casts and IEEE-exact arithmetic bit-exact; float32 math 1e-5
 * relative; matmul within a per-precision multiple of sum_k |a_ik b_kj|.
 */
import * as tf from '@tensorflow/tfjs';
import { cudaFallbackStats, resetCudaFallbackStats, setCudaMatMulOptions,
         CudaMatMulPrecision } from '../../kernels/native';
import { mulberry32, randomNormal, seedOf } from '../helpers/random';

interface Input {
  values: ArrayLike<number>;
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool';
}

type Tol = 'exact' | { rtol: number; atol?: number };

function rand(name: string, shape: number[], kind: 'normal' | 'positive' | 'int' | 'bool' = 'normal'): Input {
  const n = shape.reduce((a, b) => a * b, 1);
  const rng = mulberry32(seedOf(name + shape.join('x') + kind));
  if (kind === 'int') return { values: Int32Array.from({ length: n }, () => Math.floor(rng() * 41) - 20), shape, dtype: 'int32' };
  if (kind === 'bool') return { values: Uint8Array.from({ length: n }, () => (rng() < 0.5 ? 1 : 0)), shape, dtype: 'bool' };
  const v = randomNormal(rng, n);
  if (kind === 'positive') v.forEach((x, i) => { v[i] = Math.abs(x) + 0.05; });
  return { values: v, shape, dtype: 'float32' };
}

/** Runs fn on `backend` and on cpu; returns both results' data. */
async function runBoth(backend: string, fn: (xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
                       inputs: Input[]) {
  const results: Array<Array<{ shape: number[]; dtype: string; data: ArrayLike<number> }>> = [];
  for (const name of ['cpu', backend]) {
    await tf.setBackend(name);
    const tensors = tf.memory().numTensors;
    const xs = inputs.map((i) => tf.tensor(i.values as never, i.shape, i.dtype));
    if (name === backend) resetCudaFallbackStats();
    const out = fn(xs);
    const list = Array.isArray(out) ? out : [out];
    const got = [];
    for (const t of list) got.push({ shape: t.shape, dtype: t.dtype, data: await t.data() as ArrayLike<number> });
    tf.dispose([...xs, ...list]);
    expect(tf.memory().numTensors).toBe(tensors);
    results.push(got);
  }
  return { cpu: results[0], dev: results[1] };
}

function expectClose(dev: ArrayLike<number>, cpu: ArrayLike<number>, tol: Tol, bound?: ArrayLike<number>) {
  expect(dev.length).toBe(cpu.length);
  let worst = 0, at = -1;
  for (let i = 0; i < cpu.length; i++) {
    const [d, c] = [dev[i], cpu[i]];
    if (Number.isNaN(c) || Number.isNaN(d)) {
      if (!(Number.isNaN(c) && Number.isNaN(d))) { worst = Infinity; at = i; }
      continue;
    }
    if (tol === 'exact') {
      if (!Object.is(d, c) && !(d === 0 && c === 0)) { worst = Infinity; at = i; }
      continue;
    }
    const scale = bound !== undefined ? bound[i] : Math.abs(c);
    const excess = Math.abs(d - c) / (tol.rtol * scale + (tol.atol ?? 0) + 1e-30);
    if (excess > worst) { worst = excess; at = i; }
  }
  if (worst > 1) throw new Error(`mismatch at ${at}: device ${dev[at]} vs cpu ${cpu[at]} (${worst.toFixed(2)}x tolerance)`);
}

async function check(backend: string, fn: (xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
                     inputs: Input[], tol: Tol, allowFallback = false) {
  const { cpu, dev } = await runBoth(backend, fn, inputs);
  if (!allowFallback) expect(cudaFallbackStats().byKernel).toEqual({});
  expect(dev.length).toBe(cpu.length);
  dev.forEach((d, i) => {
    expect(d.shape).toEqual(cpu[i].shape);
    expect(d.dtype).toBe(cpu[i].dtype);
    expectClose(d.data, cpu[i].data, tol);
  });
}

const F32: Tol = { rtol: 1e-5 };

export function defineOpTests(backend: string) {
  const BROADCAST: Array<[number[], number[]]> = [
    [[2, 3, 4], [2, 3, 4]], [[2, 3, 4], [4]], [[2, 1, 4], [3, 1]], [[], [2, 3]], [[5], []],
    [[1, 5, 1, 3], [2, 1, 4, 1]], [[2, 1, 3, 1, 2, 2], [1, 2, 1, 2, 1, 2]], [[0, 3], [3]],
    [[33, 1], [1, 65]],
  ];
  const BINARY: Array<[string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, Tol, boolean]> = [
    ['add', tf.add, 'exact', true], ['sub', tf.sub, 'exact', true], ['mul', tf.mul, 'exact', true],
    ['div', tf.div, { rtol: 1e-6 }, false], ['maximum', tf.maximum, 'exact', true],
    ['minimum', tf.minimum, 'exact', true], ['squaredDifference', tf.squaredDifference, { rtol: 1e-6 }, true],
  ];
  describe.each(BINARY)('binary %s', (name, op, tol, intOk) => {
    test.each(BROADCAST)('float32 %j with %j', async (sa, sb) => {
      await check(backend, ([a, b]) => op(a, b), [rand(name + 'a', sa), rand(name + 'b', sb)], tol);
    });
    if (intOk) {
      test.each(BROADCAST.slice(0, 4))('int32 %j with %j', async (sa, sb) => {
        await check(backend, ([a, b]) => op(a, b), [rand(name, sa, 'int'), rand(name, sb, 'int')], 'exact');
      });
    }
  });

  test('pow with a positive base and a scalar or tensor exponent', async () => {
    await check(backend, ([a, b]) => tf.pow(a, b), [rand('pa', [3, 4], 'positive'), rand('pb', [4])], F32);
    await check(backend, ([a]) => tf.tidy(() => tf.pow(a, tf.scalar(3))), [rand('pc', [2, 5])], F32);
  });

  const UNARY: Array<[string, (x: tf.Tensor) => tf.Tensor, 'normal' | 'positive', Tol]> = [
    ['exp', tf.exp, 'normal', F32], ['log', tf.log, 'positive', F32], ['sqrt', tf.sqrt, 'positive', F32],
    ['rsqrt', tf.rsqrt, 'positive', F32], ['square', tf.square, 'normal', 'exact'],
    ['tanh', tf.tanh, 'normal', F32],
    // The CPU kernel's erf is the Abramowitz-Stegun approximation (absolute error 1.5e-7).
    ['erf', tf.erf, 'normal', { rtol: 1e-5, atol: 3e-7 }],
    ['sigmoid', tf.sigmoid, 'normal', F32], ['neg', tf.neg, 'normal', 'exact'],
    ['softplus', tf.softplus, 'normal', F32], ['relu', tf.relu, 'normal', 'exact'],
    ['abs', tf.abs, 'normal', 'exact'], ['reciprocal', tf.reciprocal, 'positive', F32],
  ];
  test.each(UNARY)('unary %s', async (name, op, kind, tol) => {
    for (const shape of [[], [7], [3, 1, 5], [0, 4], [2, 3, 4, 5]]) {
      await check(backend, ([x]) => op(x), [rand(name, shape, kind)], tol);
    }
  });

  test('softplus at its thresholds and large magnitudes', async () => {
    const v = Float32Array.from([-30, -14, -13.9, -1, 0, 1, 13.9, 14, 30]);
    await check(backend, ([x]) => tf.softplus(x), [{ values: v, shape: [9], dtype: 'float32' }], F32);
  });

  test('cast between float32, int32 and bool', async () => {
    const f = { values: Float32Array.from([-2.7, -0.5, 0, 0.4, 3.5, 1e3, -7, NaN]), shape: [8], dtype: 'float32' as const };
    const i = rand('cast', [2, 3], 'int');
    const b = rand('cast', [5], 'bool');
    for (const [x, to] of [[f, 'int32'], [f, 'bool'], [i, 'float32'], [i, 'bool'], [b, 'float32'],
      [b, 'int32'], [f, 'float32']] as Array<[Input, tf.DataType]>) {
      await check(backend, ([t]) => tf.cast(t, to), [x], 'exact');
    }
  });

  test('fill, zerosLike and onesLike in every device dtype', async () => {
    await check(backend, () => [tf.fill([2, 3], 1.5), tf.fill([4], 7, 'int32'), tf.fill([3], 1, 'bool'),
      tf.fill([0, 2], 2)], [], 'exact');
    await check(backend, ([x, y, z]) => [tf.zerosLike(x), tf.onesLike(x), tf.zerosLike(y), tf.onesLike(y),
      tf.onesLike(z)], [rand('f', [2, 2]), rand('f', [3], 'int'), rand('f', [4], 'bool')], 'exact');
  });

  const TRANSPOSES: Array<[number[], number[]]> = [
    [[5], [0]], [[3, 4], [1, 0]], [[2, 3, 4], [2, 0, 1]], [[1, 20, 2, 1, 8], [0, 2, 3, 1, 4]],
    [[2, 3, 1, 4], [0, 2, 1, 3]], [[2, 1, 3, 2, 2, 3], [5, 3, 1, 0, 4, 2]], [[0, 3], [1, 0]],
  ];
  test.each(TRANSPOSES)('transpose %j perm %j (float32, int32, bool)', async (shape, perm) => {
    for (const kind of ['normal', 'int', 'bool'] as const) {
      await check(backend, ([x]) => tf.transpose(x, perm), [rand('t', shape, kind)], 'exact');
    }
  });

  test('slice, including size -1, empty and int32/bool', async () => {
    await check(backend, ([x]) => [tf.slice(x, [0, 1], [-1, 3]), tf.slice(x, [1, 0, 2], [2, 3, 1]),
      tf.slice(x, [2], [0])], [rand('s', [3, 4, 5])], 'exact');
    await check(backend, ([x, y]) => [tf.slice(x, [1], [2]), tf.slice(y, [0, 1], [1, 1])],
      [rand('s', [4], 'int'), rand('s', [2, 2], 'bool')], 'exact');
  });

  test('strided slice: steps, negative strides, masks, shrink and new axes', async () => {
    await check(backend, ([x]) => [
      tf.stridedSlice(x, [0, 1, 0], [4, 5, 6], [2, 1, 3]),
      tf.stridedSlice(x, [3, 4, 5], [0, 0, 0], [-1, -2, -1]),
      tf.stridedSlice(x, [1, 0, 0], [2, 5, 6], [1, 1, 1], 0, 0, 0, 0, 1),
      tf.stridedSlice(x, [0, 2], [0, 4], [1, 1], 1, 1),
      tf.stridedSlice(x, [0, 0], [2, 2], [1, 1], 0, 0, 0, 1),
      tf.stridedSlice(x, [0, 0, 0], [4, 5, 6], [1, 1, 1]),
    ], [rand('ss', [4, 5, 6])], 'exact');
  });

  test('concat on every axis, with empty parts, and split', async () => {
    await check(backend, ([a, b, c]) => [tf.concat([a, b], 1), tf.concat([a, a], 0), tf.concat([a, b, a], -1),
      tf.concat([a, c], 1)], [rand('ca', [2, 3, 4]), rand('cb', [2, 3, 4]), rand('cc', [2, 0, 4])], 'exact');
    await check(backend, ([a, b]) => [tf.concat([a, b], 0), tf.concat([a], 0)],
      [rand('ci', [2, 3], 'int'), rand('cj', [1, 3], 'int')], 'exact');
    await check(backend, ([x]) => [...tf.split(x, 3, -1), ...tf.split(x, [1, 3], 1), ...tf.split(x, [2, -1], 0)],
      [rand('sp', [3, 4, 6])], 'exact');
  });

  test('gather along an axis with 2-D indices; out-of-range indices throw', async () => {
    const idx: Input = { values: Int32Array.from([2, 0, 2, 1]), shape: [2, 2], dtype: 'int32' };
    await check(backend, ([x, i]) => [tf.gather(x, i, 0), tf.gather(x, i, 1), tf.gather(x, i, -1)],
      [rand('g', [3, 3, 4]), idx], 'exact');
    await tf.setBackend(backend);
    const x = tf.ones([3, 2]);
    const bad = tf.tensor1d([0, 3], 'int32');
    expect(() => tf.gather(x, bad)).toThrow(/index value 3 is not in \[0, 2\]/);
    tf.dispose([x, bad]);
  });

  test('expandDims and reshape share device data', async () => {
    await check(backend, ([x]) => [tf.expandDims(x, 1), tf.expandDims(x, -1), tf.reshape(x, [6])], [rand('e', [2, 3])], 'exact');
    await tf.setBackend(backend);
    const x = tf.ones([2, 3]);
    const bytes = (tf.memory() as tf.MemoryInfo & { numBytesInGPU: number }).numBytesInGPU;
    const y = tf.expandDims(x, 0);
    expect((tf.memory() as tf.MemoryInfo & { numBytesInGPU: number }).numBytesInGPU).toBe(bytes);
    tf.dispose([x, y]);
  });

  const REDUCTIONS: Array<[string, (x: tf.Tensor, axis?: number | number[], keep?: boolean) => tf.Tensor]> = [
    ['sum', tf.sum], ['mean', tf.mean], ['max', tf.max], ['min', tf.min], ['prod', tf.prod],
  ];
  test.each(REDUCTIONS)('reduction %s over axes, with keepDims', async (name, op) => {
    const axesCases: Array<number | number[] | undefined> = [-1, 0, [0, 2], undefined, 1, [1, 2, 3]];
    for (const axis of axesCases) {
      for (const keep of [false, true]) {
        await check(backend, ([x]) => op(x, axis, keep), [rand(name, [3, 4, 5, 2])], F32);
      }
    }
    await check(backend, ([x]) => op(x), [rand(name, [])], F32);
    await check(backend, ([x]) => op(x, -1), [rand(name, [40, 3072])], { rtol: 1e-5, atol: 1e-6 });
  });

  test('softmax over the last axis', async () => {
    for (const shape of [[7], [3, 5], [2, 4, 300], [1, 1]]) {
      await check(backend, ([x]) => tf.softmax(x), [rand('sm', shape)], F32);
    }
  });

  const MATMULS: Array<[number[], number[], boolean, boolean]> = [
    [[5, 7], [7, 4], false, false], [[7, 5], [7, 4], true, false], [[5, 7], [4, 7], false, true],
    [[7, 5], [4, 7], true, true], [[33, 17], [17, 65], false, false], [[1, 256], [768, 256], false, true],
    [[130, 260], [70, 260], false, true], [[2, 3, 5, 8], [8, 4], false, false], [[1, 5, 8], [3, 8, 4], false, false],
    [[2, 16, 128], [2, 20, 128], false, true], [[2, 16, 20], [2, 20, 128], false, false],
    [[4, 0], [0, 3], false, false], [[3, 6, 9], [6, 5], true, false],
    [[2, 64, 132], [2, 64, 36], true, false], [[48, 200], [200, 136], false, false],
    [[200, 48], [136, 200], true, true],
  ];
  const PRECISIONS: Array<[CudaMatMulPrecision, number]> = [['float32', 1e-5], ['tf32', 2e-3], ['bfloat16', 1e-2]];
  describe.each(PRECISIONS)('matmul precision %s', (precision, rtol) => {
    beforeAll(() => setCudaMatMulOptions({ precision }));
    afterAll(() => setCudaMatMulOptions({ precision: 'float32' }));
    test.each(MATMULS)('%j x %j transposeA=%s transposeB=%s', async (sa, sb, ta, tb) => {
      const inputs = [rand('ma', sa), rand('mb', sb)];
      const { cpu, dev } = await runBoth(backend, ([a, b]) => tf.matMul(a, b, ta, tb), inputs);
      expect(cudaFallbackStats().byKernel).toEqual({});
      // Error bound per element: rtol * sum_k |a_ik||b_kj| (+ float32 accumulation).
      const { cpu: bound } = await runBoth('cpu', ([a, b]) => tf.tidy(() => tf.matMul(tf.abs(a), tf.abs(b), ta, tb)), inputs);
      expect(dev[0].shape).toEqual(cpu[0].shape);
      expectClose(dev[0].data, cpu[0].data, { rtol }, bound[0].data);
    });
    test('fused matmul with bias and activations', async () => {
      const inputs = [rand('fa', [6, 10]), rand('fb', [10, 9]), rand('fc', [9]), rand('fd', [])];
      const fused = (act: tf.fused.Activation, bias: 2 | 3, alpha?: number) => ([a, b, ...r]: tf.Tensor[]) =>
        tf.fused.matMul({ a, b, bias: r[bias - 2], activation: act, leakyreluAlpha: alpha });
      for (const [act, bias, alpha] of [['linear', 2], ['relu', 2], ['relu6', 3], ['sigmoid', 2],
        ['leakyrelu', 2, 0.1], ['elu', 3]] as Array<[tf.fused.Activation, 2 | 3, number?]>) {
        const { cpu, dev } = await runBoth(backend, fused(act, bias, alpha), inputs);
        expect(cudaFallbackStats().byKernel).toEqual({});
        expectClose(dev[0].data, cpu[0].data, { rtol, atol: rtol * 10 });
      }
    });
  });

  test('fused matmul with prelu falls back to the CPU kernel, counted', async () => {
    setCudaMatMulOptions({ precision: 'float32' });
    await check(backend, ([a, b, w]) => tf.fused.matMul({ a, b, activation: 'prelu', preluActivationWeights: w }),
      [rand('pa', [3, 4]), rand('pb', [4, 5]), rand('pw', [5])], F32, true);
    expect(cudaFallbackStats().byKernel._FusedMatMul).toBe(1);
  });
}

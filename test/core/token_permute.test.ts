/**
 * tokenPermute / tokenUnpermute (spec §4): the spec's index examples, an independent brute-force
 * transcription of the §4 formula (zero padding included) over NATTEN's token-permute cases
 * (spec §7), the exact round trip, and gradients (each op is the other's gradient).
 */
import * as tf from '@tensorflow/tfjs';
import { permuteGatherMap, permuteLayout, tokenPermute, tokenUnpermute } from '../../src';
import { isIdentityPermute } from '../../src/layout';
import { mulberry32, randomNormal, seedOf } from '../helpers/random';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

/** Row-major linear index of `c` in a grid of `shape`. */
function lin(c: number[], shape: number[]): number {
  return c.reduce((acc, x, i) => acc * shape[i] + x, 0);
}

/**
 * The §4 formula written out: each original token (b, x) goes to batch `b*G + lin(g; D)` and
 * sequence slot `lin(r; R) * prod(T) + lin(t; T)`; every other slot stays zero.
 */
function permuteBrute(x: Float32Array, batch: number, shape: number[], width: number,
                      tile: number[], dilation: number[]) {
  const extent = shape.map((L, i) => Math.ceil(L / (tile[i] * dilation[i])) * tile[i]);
  const tilesPerDim = extent.map((e, i) => e / tile[i]);
  const groups = product(dilation);
  const seq = product(extent);
  const tokens = product(shape);
  const out = new Float32Array(batch * groups * seq * width);
  for (let b = 0; b < batch; b++) {
    for (let token = 0; token < tokens; token++) {
      const c: number[] = [];
      for (let i = shape.length - 1, rest = token; i >= 0; i--) {
        c[i] = rest % shape[i];
        rest = Math.floor(rest / shape[i]);
      }
      const g = c.map((xi, i) => xi % dilation[i]);
      const u = c.map((xi, i) => Math.floor(xi / dilation[i]));
      const r = u.map((ui, i) => Math.floor(ui / tile[i]));
      const t = u.map((ui, i) => ui % tile[i]);
      const bOut = b * groups + lin(g, dilation);
      const sOut = lin(r, tilesPerDim) * product(tile) + lin(t, tile);
      const from = (b * tokens + token) * width;
      out.set(x.subarray(from, from + width), (bOut * seq + sOut) * width);
    }
  }
  return { out, shape: [batch * groups, seq] };
}

interface PermuteCase {
  shape: number[];
  tile: number[];
  dilation: number[];
  heads: number;
  dim: number;
  batch?: number;
}

/** NATTEN's test_token_permute cases (B=1, H=1) plus batch/heads variants; full sizes. */
const CASES: PermuteCase[] = [
  { shape: [7], tile: [3], dilation: [1], heads: 1, dim: 4 },
  { shape: [19], tile: [3], dilation: [7], heads: 1, dim: 32 },
  { shape: [80], tile: [8], dilation: [7], heads: 1, dim: 128 },
  { shape: [16], tile: [2], dilation: [3], heads: 1, dim: 1 },
  { shape: [80], tile: [40], dilation: [13], heads: 1, dim: 4 },
  { shape: [48, 80], tile: [8, 8], dilation: [2, 8], heads: 1, dim: 4 },
  { shape: [44, 8], tile: [22, 8], dilation: [4, 8], heads: 1, dim: 32 },
  { shape: [48, 80], tile: [4, 16], dilation: [11, 7], heads: 1, dim: 1 },
  { shape: [30, 48, 80], tile: [4, 8, 8], dilation: [2, 5, 4], heads: 1, dim: 1 },
  { shape: [16, 16, 16], tile: [4, 8, 2], dilation: [1, 9, 3], heads: 1, dim: 4 },
  { shape: [57, 20, 88], tile: [2, 8, 16], dilation: [2, 1, 1], heads: 1, dim: 1 },
  { shape: [9, 10], tile: [4, 3], dilation: [2, 1], heads: 3, dim: 5, batch: 2 },
  { shape: [5, 6, 7], tile: [2, 4, 3], dilation: [2, 1, 3], heads: 2, dim: 3, batch: 3 },
];

/** Bitwise equality of two float arrays, reporting the first differing index. */
function expectIdentical(actual: ArrayLike<number>, expected: ArrayLike<number>) {
  expect(actual.length).toBe(expected.length);
  let first = -1;
  for (let i = 0; i < actual.length && first < 0; i++) {
    if (!Object.is(actual[i], expected[i])) first = i;
  }
  expect(first < 0 ? 'identical' : `differ at ${first}: ${actual[first]} vs ${expected[first]}`)
    .toBe('identical');
}

const caseName = (c: PermuteCase) =>
  `shape (${c.shape}) tile (${c.tile}) dilation (${c.dilation}) B${c.batch ?? 1} H${c.heads} E${c.dim}`;

describe('spec §4 examples (value = token index + 1, padding = 0)', () => {
  /** Permutes `1..tokens` and returns it as `[batch', seq]` index lists, -1 for padding. */
  async function permutedIndices(shape: number[], tileShape: number[], dilation: number[]) {
    const tokens = product(shape);
    const y = tf.tidy(() => tokenPermute(
      tf.reshape(tf.range(1, tokens + 1, 1, 'float32'), [1, ...shape, 1, 1]), { tileShape, dilation }));
    const values = Array.from(await y.data()).map((v) => v - 1);
    const [groups, seq] = y.shape;
    y.dispose();
    return Array.from({ length: groups }, (_, g) => values.slice(g * seq, (g + 1) * seq));
  }

  test('1-D L=10 T=4', async () => {
    expect(await permutedIndices([10], [4], [1])).toEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -1]]);
  });

  test('1-D L=10 T=2 D=2', async () => {
    expect(await permutedIndices([10], [2], [2])).toEqual([[0, 2, 4, 6, 8, -1], [1, 3, 5, 7, 9, -1]]);
  });

  test('2-D (4,6) T=(2,3), row-major', async () => {
    expect(await permutedIndices([4, 6], [2, 3], [1, 1])).toEqual([[
      0, 1, 2, 6, 7, 8, 3, 4, 5, 9, 10, 11, 12, 13, 14, 18, 19, 20, 15, 16, 17, 21, 22, 23]]);
  });

  test('unpermute accepts scalar options and restores the shape', () => {
    const x = tf.reshape(tf.range(0, 10, 1, 'float32'), [1, 10, 1, 1]);
    const y = tokenPermute(x, { tileShape: 4 });
    const back = tokenUnpermute(y, { tileShape: 4, shape: [10] });
    expect(y.shape).toEqual([1, 12, 1, 1]);
    expect(back.shape).toEqual([1, 10, 1, 1]);
    tf.dispose([x, y, back]);
  });
});

describe.each(CASES.map((c) => [caseName(c), c] as const))('%s', (_name, c) => {
  const batch = c.batch ?? 1;
  const width = c.heads * c.dim;
  const xShape = [batch, ...c.shape, c.heads, c.dim];
  const options = { tileShape: c.tile, dilation: c.dilation };
  const unOptions = { ...options, shape: c.shape };
  const rng = mulberry32(seedOf(caseName(c)));
  const x = randomNormal(rng, batch * product(c.shape) * width);
  const expected = permuteBrute(x, batch, c.shape, width, c.tile, c.dilation);
  const yShape = [...expected.shape, c.heads, c.dim];

  test('permute equals the §4 formula, zero padded; unpermute inverts it exactly', async () => {
    const before = tf.memory().numTensors;
    const xt = tf.tensor(x, xShape);
    const y = tokenPermute(xt, options);
    expect(y.shape).toEqual(yShape);
    const yv = await y.data();
    expectIdentical(yv, expected.out);
    const back = tokenUnpermute(y, unOptions);
    expect(back.shape).toEqual(xShape);
    expectIdentical(await back.data(), x);
    tf.dispose([xt, y, back]);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('gradients: each op is the other one\'s gradient', async () => {
    const before = tf.memory().numTensors;
    const w = randomNormal(rng, expected.out.length);
    const { dx, dy, unpermW, permX } = tf.tidy(() => {
      const wt = tf.tensor(w, yShape);
      const xt = tf.tensor(x, xShape);
      return {
        // d/dx sum(permute(x) * w) gathers w back to the grid: unpermute(w).
        dx: tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tokenPermute(a, options), wt)))(xt),
        // d/dy sum(unpermute(y) * x) scatters x into the layout, zeros in padding: permute(x).
        dy: tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tokenUnpermute(a, unOptions), xt)))(wt),
        unpermW: tokenUnpermute(wt, unOptions),
        permX: tokenPermute(xt, options),
      };
    });
    // Manual gather of w through the brute-force map: the grid token's permuted slot.
    const gathered = new Float32Array(x.length);
    const marker = permuteBrute(Float32Array.from(x, (_, i) => i + 1), batch, c.shape, width,
      c.tile, c.dilation).out;
    marker.forEach((m, slot) => {
      if (m !== 0) gathered[m - 1] = w[slot];
    });
    expect(dx.shape).toEqual(xShape);
    expectIdentical(await dx.data(), gathered);
    expectIdentical(await unpermW.data(), gathered);
    expect(dy.shape).toEqual(yShape);
    expectIdentical(await dy.data(), expected.out);
    expectIdentical(await permX.data(), expected.out);
    tf.dispose([dx, dy, unpermW, permX]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('layout', () => {
  test('sizes follow §4; isIdentityPermute implies an identity gather map (exactly so in 1-D)', () => {
    for (const shape of [[6], [7], [12], [4, 6], [3, 5, 4]]) {
      for (const t of [1, 2, 3, 6]) {
        for (const d of [1, 2]) {
          const rank = shape.length;
          const layout = permuteLayout({
            spatialShape: shape, tileShape: new Array(rank).fill(t), dilation: new Array(rank).fill(d),
          });
          const extent = shape.map((L) => Math.ceil(L / (t * d)) * t);
          expect(layout.groupExtent).toEqual(extent);
          expect(layout.groups).toBe(d ** rank);
          expect(layout.sequenceLength).toBe(product(extent));
          expect(layout.tokens).toBe(product(shape));
          const map = permuteGatherMap(layout);
          expect(map.length).toBe(layout.groups * layout.sequenceLength);
          const identity = map.length === layout.tokens && map.every((src, i) => src === i);
          // A sufficient test (N-D identities such as tile 1 are left to the general path).
          const claimed = isIdentityPermute(layout);
          expect([shape, t, d, claimed && !identity, rank === 1 && claimed !== identity])
            .toEqual([shape, t, d, false, false]);
        }
      }
    }
  });
});

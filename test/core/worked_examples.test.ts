/**
 * The worked key sets of spec §1.9, hard-coded, checked three ways: through the `gna` op itself,
 * through the window math of src/window.ts, and through the test reference's `refAxisKeys` (so
 * the reference that every parity test trusts is pinned to the spec too).
 *
 * How the op reveals a key set: with q = 0 every score is 0, so attention is uniform over the
 * visible keys; with v the one-hot encoding of the key index, output[q][j] = 1/|keys(q)| for a
 * visible key j and exactly 0 otherwise.
 */
import * as tf from '@tensorflow/tfjs';
import { axisWindow, gna } from '../../src';
import { queryWindow } from '../../src/window';
import { refAxisKeys } from '../helpers/reference';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

interface AxisRow {
  K: number;
  s: number;
  d: number;
  causal: boolean;
  /** Spec notation: `q:a-b`, `q:a` or `q:{a,b,...}`, one entry per query 0..9. */
  keys: string;
}

const L = 10;

/** §1.9 rows, verbatim; rows the spec writes as "same as" or by pattern are spelled out. */
const TABLE_TEXT = `
d=1
K=3 s=1 N | 0:0-2 1:0-2 2:1-3 3:2-4 4:3-5 5:4-6 6:5-7 7:6-8 8:7-9 9:7-9
K=3 s=2 N | 0:0-2 1:0-2 2:2-4 3:2-4 4:4-6 5:4-6 6:6-8 7:6-8 8:7-9 9:7-9
K=3 s=3 N | 0:0-2 1:0-2 2:0-2 3:3-5 4:3-5 5:3-5 6:6-8 7:6-8 8:6-8 9:7-9
K=4 s=1 N | 0:0-3 1:0-3 2:0-3 3:1-4 4:2-5 5:3-6 6:4-7 7:5-8 8:6-9 9:6-9
K=4 s=2 N | 0:0-3 1:0-3 2:1-4 3:1-4 4:3-6 5:3-6 6:5-8 7:5-8 8:6-9 9:6-9
K=4 s=3 N | 0:0-3 1:0-3 2:0-3 3:2-5 4:2-5 5:2-5 6:5-8 7:5-8 8:5-8 9:6-9
K=5 s=1 N | 0:0-4 1:0-4 2:0-4 3:1-5 4:2-6 5:3-7 6:4-8 7:5-9 8:5-9 9:5-9
K=5 s=2 N | 0:0-4 1:0-4 2:1-5 3:1-5 4:3-7 5:3-7 6:5-9 7:5-9 8:5-9 9:5-9
K=5 s=3 N | 0:0-4 1:0-4 2:0-4 3:2-6 4:2-6 5:2-6 6:5-9 7:5-9 8:5-9 9:5-9
K=4 s=4 N | 0:0-3 1:0-3 2:0-3 3:0-3 4:4-7 5:4-7 6:4-7 7:4-7 8:6-9 9:6-9
K=5 s=5 N | 0:0-4 1:0-4 2:0-4 3:0-4 4:0-4 5:5-9 6:5-9 7:5-9 8:5-9 9:5-9
K=3 s=1 C | 0:0 1:0-1 2:0-2 3:1-3 4:2-4 5:3-5 6:4-6 7:5-7 8:6-8 9:7-9
K=3 s=2 C | 0:0 1:0-1 2:1-2 3:1-3 4:3-4 5:3-5 6:5-6 7:5-7 8:7-8 9:7-9
K=3 s=3 C | 0:0 1:0-1 2:0-2 3:3 4:3-4 5:3-5 6:6 7:6-7 8:6-8 9:7-9
K=4 s=1 C | 0:0 1:0-1 2:0-2 3:0-3 4:1-4 5:2-5 6:3-6 7:4-7 8:5-8 9:6-9
K=4 s=2 C | 0:0 1:0-1 2:0-2 3:0-3 4:2-4 5:2-5 6:4-6 7:4-7 8:6-8 9:6-9
K=4 s=3 C | 0:0 1:0-1 2:0-2 3:2-3 4:2-4 5:2-5 6:5-6 7:5-7 8:5-8 9:6-9
K=5 s=1 C | 0:0 1:0-1 2:0-2 3:0-3 4:0-4 5:1-5 6:2-6 7:3-7 8:4-8 9:5-9
K=5 s=2 C | 0:0 1:0-1 2:0-2 3:0-3 4:1-4 5:1-5 6:3-6 7:3-7 8:5-8 9:5-9
K=5 s=3 C | 0:0 1:0-1 2:0-2 3:1-3 4:1-4 5:1-5 6:4-6 7:4-7 8:4-8 9:5-9
K=4 s=4 C | 0:0 1:0-1 2:0-2 3:0-3 4:4 5:4-5 6:4-6 7:4-7 8:6-8 9:6-9
d=2
K=3 s=1 N | 0:{0,2,4} 1:{1,3,5} 2:{0,2,4} 3:{1,3,5} 4:{2,4,6} 5:{3,5,7} 6:{4,6,8} 7:{5,7,9} 8:{4,6,8} 9:{5,7,9}
K=3 s=1 C | 0:{0} 1:{1} 2:{0,2} 3:{1,3} 4:{0,2,4} 5:{1,3,5} 6:{2,4,6} 7:{3,5,7} 8:{4,6,8} 9:{5,7,9}
K=3 s=2 N | 0:{0,2,4} 1:{1,3,5} 2:{0,2,4} 3:{1,3,5} 4:{4,6,8} 5:{5,7,9} 6:{4,6,8} 7:{5,7,9} 8:{4,6,8} 9:{5,7,9}
K=3 s=2 C | 0:{0} 1:{1} 2:{0,2} 3:{1,3} 4:{2,4} 5:{3,5} 6:{2,4,6} 7:{3,5,7} 8:{4,6,8} 9:{5,7,9}
K=3 s=3 N | 0:{0,2,4} 1:{1,3,5} 2:{0,2,4} 3:{1,3,5} 4:{0,2,4} 5:{1,3,5} 6:{4,6,8} 7:{5,7,9} 8:{4,6,8} 9:{5,7,9}
K=3 s=3 C | 0:{0} 1:{1} 2:{0,2} 3:{1,3} 4:{0,2,4} 5:{1,3,5} 6:{4,6} 7:{5,7} 8:{4,6,8} 9:{5,7,9}
K=4 s=1 N | 0:{0,2,4,6} 1:{1,3,5,7} 2:{0,2,4,6} 3:{1,3,5,7} 4:{0,2,4,6} 5:{1,3,5,7} 6:{2,4,6,8} 7:{3,5,7,9} 8:{2,4,6,8} 9:{3,5,7,9}
K=4 s=1 C | 0:{0} 1:{1} 2:{0,2} 3:{1,3} 4:{0,2,4} 5:{1,3,5} 6:{0,2,4,6} 7:{1,3,5,7} 8:{2,4,6,8} 9:{3,5,7,9}
K=4 s=2 N | 0:{0,2,4,6} 1:{1,3,5,7} 2:{0,2,4,6} 3:{1,3,5,7} 4:{2,4,6,8} 5:{3,5,7,9} 6:{2,4,6,8} 7:{3,5,7,9} 8:{2,4,6,8} 9:{3,5,7,9}
K=4 s=2 C | 0:{0} 1:{1} 2:{0,2} 3:{1,3} 4:{0,2,4} 5:{1,3,5} 6:{0,2,4,6} 7:{1,3,5,7} 8:{2,4,6,8} 9:{3,5,7,9}
K=4 s=3 N | 0:{0,2,4,6} 1:{1,3,5,7} 2:{0,2,4,6} 3:{1,3,5,7} 4:{0,2,4,6} 5:{1,3,5,7} 6:{2,4,6,8} 7:{3,5,7,9} 8:{2,4,6,8} 9:{3,5,7,9}
K=4 s=3 C | 0:{0} 1:{1} 2:{0,2} 3:{1,3} 4:{0,2,4} 5:{1,3,5} 6:{2,4,6} 7:{3,5,7} 8:{2,4,6,8} 9:{3,5,7,9}
K=5 s=1 N | 0:{0,2,4,6,8} 1:{1,3,5,7,9} 2:{0,2,4,6,8} 3:{1,3,5,7,9} 4:{0,2,4,6,8} 5:{1,3,5,7,9} 6:{0,2,4,6,8} 7:{1,3,5,7,9} 8:{0,2,4,6,8} 9:{1,3,5,7,9}
K=5 s=2 N | 0:{0,2,4,6,8} 1:{1,3,5,7,9} 2:{0,2,4,6,8} 3:{1,3,5,7,9} 4:{0,2,4,6,8} 5:{1,3,5,7,9} 6:{0,2,4,6,8} 7:{1,3,5,7,9} 8:{0,2,4,6,8} 9:{1,3,5,7,9}
K=5 s=3 N | 0:{0,2,4,6,8} 1:{1,3,5,7,9} 2:{0,2,4,6,8} 3:{1,3,5,7,9} 4:{0,2,4,6,8} 5:{1,3,5,7,9} 6:{0,2,4,6,8} 7:{1,3,5,7,9} 8:{0,2,4,6,8} 9:{1,3,5,7,9}
K=5 s=1 C | 0:{0} 1:{1} 2:{0,2} 3:{1,3} 4:{0,2,4} 5:{1,3,5} 6:{0,2,4,6} 7:{1,3,5,7} 8:{0,2,4,6,8} 9:{1,3,5,7,9}
K=5 s=2 C | 0:{0} 1:{1} 2:{0,2} 3:{1,3} 4:{0,2,4} 5:{1,3,5} 6:{0,2,4,6} 7:{1,3,5,7} 8:{0,2,4,6,8} 9:{1,3,5,7,9}
d=3
K=3 s=1 N | 0:{0,3,6} 1:{1,4,7} 2:{2,5,8} 3:{0,3,6} 4:{1,4,7} 5:{2,5,8} 6:{3,6,9} 7:{1,4,7} 8:{2,5,8} 9:{3,6,9}
K=3 s=2 N | 0:{0,3,6} 1:{1,4,7} 2:{2,5,8} 3:{0,3,6} 4:{1,4,7} 5:{2,5,8} 6:{3,6,9} 7:{1,4,7} 8:{2,5,8} 9:{3,6,9}
K=3 s=3 N | 0:{0,3,6} 1:{1,4,7} 2:{2,5,8} 3:{0,3,6} 4:{1,4,7} 5:{2,5,8} 6:{0,3,6} 7:{1,4,7} 8:{2,5,8} 9:{3,6,9}
K=3 s=1 C | 0:{0} 1:{1} 2:{2} 3:{0,3} 4:{1,4} 5:{2,5} 6:{0,3,6} 7:{1,4,7} 8:{2,5,8} 9:{3,6,9}
K=3 s=2 C | 0:{0} 1:{1} 2:{2} 3:{0,3} 4:{1,4} 5:{2,5} 6:{3,6} 7:{1,4,7} 8:{2,5,8} 9:{3,6,9}
`;

function parseKeys(entry: string): number[] {
  const [, spec] = entry.split(':');
  if (spec.startsWith('{')) return spec.slice(1, -1).split(',').map(Number);
  const [a, b] = spec.split('-').map(Number);
  const keys: number[] = [];
  for (let j = a; j <= (b ?? a); j++) keys.push(j);
  return keys;
}

function parseTable(text: string): AxisRow[] {
  const rows: AxisRow[] = [];
  let d = 1;
  for (const line of text.trim().split('\n')) {
    const header = /^d=(\d+)$/.exec(line);
    if (header) {
      d = Number(header[1]);
      continue;
    }
    const m = /^K=(\d+) s=(\d+) ([NC]) \| (.*)$/.exec(line);
    if (!m) throw new Error(`bad table line: ${line}`);
    rows.push({ K: Number(m[1]), s: Number(m[2]), d, causal: m[3] === 'C', keys: m[4] });
  }
  // "K=10 s=any N | every q: 0-9 ;  K=10 s=any C | q: 0-q" (full and plain causal attention).
  for (let s = 1; s <= L; s++) {
    for (const causal of [false, true]) {
      const keys = Array.from({ length: L }, (_, q) => `${q}:${causal ? (q === 0 ? '0' : `0-${q}`) : '0-9'}`);
      rows.push({ K: L, s, d: 1, causal, keys: keys.join(' ') });
    }
  }
  return rows;
}

const ROWS = parseTable(TABLE_TEXT);

function rowName(r: AxisRow): string {
  return `d=${r.d} K=${r.K} s=${r.s} ${r.causal ? 'C' : 'N'}`;
}

function expectedKeys(r: AxisRow): number[][] {
  const entries = r.keys.trim().split(/\s+/);
  expect(entries.map((e) => Number(e.split(':')[0]))).toEqual(Array.from({ length: L }, (_, q) => q));
  return entries.map(parseKeys);
}

/**
 * Runs `gna` with q = 0 and one-hot values over a grid; returns, per query token, the row-major
 * indices of the keys it attends to (after checking the weights are exactly uniform).
 */
async function keysSeenByOp(shape: number[], options: {
  windowSize: number[]; stride: number[]; dilation: number[]; isCausal: boolean[];
}): Promise<number[][]> {
  const tokens = shape.reduce((a, b) => a * b, 1);
  const out = tf.tidy(() => {
    const q = tf.zeros([1, ...shape, 1, 4]);
    const k = tf.randomNormal([1, ...shape, 1, 4], 0, 1, 'float32', 7);
    const v = tf.reshape(tf.oneHot(tf.range(0, tokens, 1, 'int32'), tokens, 1, 0, 'float32'),
      [1, ...shape, 1, tokens]);
    return gna(q, k, v, options);
  });
  const values = await out.data();
  out.dispose();
  const seen: number[][] = [];
  for (let qi = 0; qi < tokens; qi++) {
    const row = Array.from(values.subarray(qi * tokens, (qi + 1) * tokens));
    const keys = row.flatMap((w, j) => (w !== 0 ? [j] : []));
    for (const j of keys) expect(Math.abs(row[j] - 1 / keys.length)).toBeLessThan(1e-6);
    seen.push(keys);
  }
  return seen;
}

describe('spec §1.9 worked key sets, 1-D L=10', () => {
  test('the table has every row of the spec', () => {
    // 21 (d=1) + 17 (d=2, "same as" and patterns spelled out) + 5 (d=3) + 20 (K=10, every s).
    expect(ROWS.length).toBe(63);
  });

  test.each(ROWS.map((r) => [rowName(r), r] as const))('op: %s', async (_name, r) => {
    const seen = await keysSeenByOp([L], {
      windowSize: [r.K], stride: [r.s], dilation: [r.d], isCausal: [r.causal],
    });
    expect(seen).toEqual(expectedKeys(r));
  });

  test.each(ROWS.map((r) => [rowName(r), r] as const))('reference refAxisKeys: %s', (_name, r) => {
    const want = expectedKeys(r);
    for (let q = 0; q < L; q++) expect(refAxisKeys(q, L, r.K, r.s, r.d, r.causal)).toEqual(want[q]);
  });

  test.each(ROWS.map((r) => [rowName(r), r] as const))('src/window.ts: %s', (_name, r) => {
    const want = expectedKeys(r);
    const attrs = { windowSize: [r.K], stride: [r.s], dilation: [r.d], isCausal: [r.causal], scale: 1 };
    for (let q = 0; q < L; q++) {
      const g = q % r.d;
      const w = queryWindow(Math.floor(q / r.d), axisWindow(attrs, [L], 0, g));
      const keys: number[] = [];
      for (let j = w.start; j < w.end; j++) keys.push(j * r.d + g);
      expect(keys).toEqual(want[q]);
    }
  });
});

/** Row-major token indices of rows × cols on a grid with `width` columns. */
function box(rows: number[], cols: number[], width: number): number[] {
  return rows.flatMap((r) => cols.map((c) => r * width + c)).sort((a, b) => a - b);
}

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('spec §1.9 worked key sets, 2-D', () => {
  test('(5,6) K=(3,4) s=(2,3) non-causal', async () => {
    const seen = await keysSeenByOp([5, 6], {
      windowSize: [3, 4], stride: [2, 3], dilation: [1, 1], isCausal: [false, false],
    });
    const at = (r: number, c: number) => seen[r * 6 + c];
    expect(at(0, 0)).toEqual(box(range(0, 2), range(0, 3), 6));
    expect(at(1, 2)).toEqual(box(range(0, 2), range(0, 3), 6));
    expect(at(2, 3)).toEqual(box(range(2, 4), range(2, 5), 6));
    expect(at(3, 1)).toEqual(box(range(2, 4), range(0, 3), 6));
    expect(at(4, 5)).toEqual(box(range(2, 4), range(2, 5), 6));
    for (const keys of seen) expect(keys.length).toBe(12);
  });

  test('(6,7) K=(3,2) s=(1,2) d=(2,3) causal=(F,T)', async () => {
    const seen = await keysSeenByOp([6, 7], {
      windowSize: [3, 2], stride: [1, 2], dilation: [2, 3], isCausal: [false, true],
    });
    const at = (r: number, c: number) => seen[r * 7 + c];
    expect(at(0, 0)).toEqual(box([0, 2, 4], [0], 7));
    expect(at(5, 6)).toEqual(box([1, 3, 5], [3, 6], 7));
    expect(at(3, 4)).toEqual(box([1, 3, 5], [1, 4], 7));
    expect(at(2, 5)).toEqual(box([0, 2, 4], [2, 5], 7));
  });
});

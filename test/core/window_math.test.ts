/**
 * The per-axis window math of src/window.ts against brute force over small axes: windows against
 * the test reference's `refAxisKeys` (itself pinned to spec §1.9), the inverse neighbourhood
 * against brute force and the closed form of spec §1.7, `windowRuns` partitions, and the exact
 * block-sparsity test against its definition (spec §5).
 */
import { axisWindow } from '../../src';
import {
  AxisWindow, classifyTilePair, dilationGroupLength, inverseNeighborhood, isAxisBlockSparse,
  queryWindow, windowRuns,
} from '../../src/window';
import { refAxisKeys } from '../helpers/reference';

// Local aliases: under jest's vm context every lookup of the global `Math` is slow, and these
// sweeps make millions of calls.
const { floor, min, ceil } = Math;

/** Every (n, K, s, causal) with 2 <= n < maxN, 2 <= K <= n, 1 <= s <= K. */
function* axes(maxN: number, causalModes = [false, true]): Generator<AxisWindow> {
  for (let n = 2; n < maxN; n++) {
    for (let K = 2; K <= n; K++) {
      for (let s = 1; s <= K; s++) {
        for (const isCausal of causalModes) yield { n, windowSize: K, stride: s, isCausal };
      }
    }
  }
}

const label = (a: AxisWindow) => `n=${a.n} K=${a.windowSize} s=${a.stride} ${a.isCausal ? 'C' : 'N'}`;

/** Windows of every query of an axis from the reference, as `[start, end)`. */
function refWindows(a: AxisWindow): Array<[number, number]> {
  return Array.from({ length: a.n }, (_, q) => {
    const keys = refAxisKeys(q, a.n, a.windowSize, a.stride, 1, a.isCausal);
    return [keys[0], keys[keys.length - 1] + 1];
  });
}

/** The sweep of every axis with n < 40, each with its reference windows, computed once. */
const SWEEP = [...axes(40)].map((a) => ({ a, windows: refWindows(a) }));

/** Spec §1.7: NATTEN's closed form of the queries that see key j. */
function closedFormInverse(j: number, a: AxisWindow): [number, number] {
  const { n, windowSize: K, stride: s } = a;
  if (a.isCausal) {
    return [j, min(s * (floor((j + K) / s) + (j + K >= n ? 1 : 0)), n)];
  }
  const left = floor(K / 2);
  const right = floor(K / 2) + (K % 2) - 1;
  const off = s - floor(s / 2) - 1;
  const qs = floor((j >= K ? j - right + off : 0) / s) * s;
  const qe = j >= n - K ? n : floor((j + left + off + 1) / s) * s;
  return [qs, qe];
}

/** Collects mismatches instead of asserting per item, so one failure reports many cases at once. */
function mismatches(check: (report: (m: string) => void) => void): string[] {
  const found: string[] = [];
  check((m) => {
    if (found.length < 10) found.push(m);
  });
  return found;
}

describe('windows', () => {
  test('queryWindow equals the reference for every n < 40, K, s, causal', () => {
    expect(mismatches((report) => {
      for (const { a, windows: want } of SWEEP) {
        for (let q = 0; q < a.n; q++) {
          const w = queryWindow(q, a);
          if (w.start !== want[q][0] || w.end !== want[q][1]) {
            report(`${label(a)} q=${q}: [${w.start}, ${w.end}) vs [${want[q]})`);
          }
          // Non-causal windows hold exactly K keys inside the axis; causal ones end at the query.
          const shape = a.isCausal ? w.end === q + 1 && w.start <= q && q - w.start < a.windowSize
            : w.end - w.start === a.windowSize && w.start >= 0 && w.end <= a.n;
          if (!shape) report(`${label(a)} q=${q}: [${w.start}, ${w.end}) breaks the window shape`);
        }
      }
    })).toEqual([]);
  });

  test('dilation group lengths: ceil((L-g)/d), NATTEN\'s expression and a count agree', () => {
    expect(mismatches((report) => {
      for (let L = 1; L < 70; L++) {
        for (let d = 1; d <= L; d++) {
          for (let g = 0; g < d; g++) {
            let count = 0;
            for (let x = g; x < L; x += d) count++;
            const natten = floor(L / d) + 1 - floor((g + d - (L % d)) / d);
            const ours = dilationGroupLength(L, d, g);
            if (ours !== count || natten !== count) report(`L=${L} d=${d} g=${g}: ${ours}, ${natten}, ${count}`);
          }
        }
      }
    })).toEqual([]);
  });
});

describe('inverse neighbourhood (spec §1.7)', () => {
  test('equals brute force and the closed form for every n < 40, K, s, causal', () => {
    expect(mismatches((report) => {
      for (const { a, windows } of SWEEP) {
        for (let j = 0; j < a.n; j++) {
          let first = -1;
          let last = -2;
          let count = 0;
          for (let q = 0; q < a.n; q++) {
            if (windows[q][0] <= j && j < windows[q][1]) {
              if (first < 0) first = q;
              last = q;
              count++;
            }
          }
          const brute = [first, last + 1];
          const inv = inverseNeighborhood(j, a);
          const closed = closedFormInverse(j, a);
          if (count === 0 || count !== last + 1 - first) report(`${label(a)} j=${j}: not an interval`);
          if (inv.start !== brute[0] || inv.end !== brute[1]) {
            report(`${label(a)} j=${j}: inverseNeighborhood [${inv.start}, ${inv.end}) vs [${brute}]`);
          }
          if (closed[0] !== brute[0] || closed[1] !== brute[1]) {
            report(`${label(a)} j=${j}: closed form [${closed}] vs [${brute}]`);
          }
        }
      }
    })).toEqual([]);
  });

  test('with dilation, through axisWindow, on global indices (L < 30, d in 2..4)', () => {
    expect(mismatches((report) => {
      for (let L = 2; L < 30; L++) {
        for (let d = 2; d <= 4; d++) {
          for (let K = 2; K * d <= L; K++) {
            for (let s = 1; s <= K; s++) {
              for (const causal of [false, true]) {
                const attrs = { windowSize: [K], stride: [s], dilation: [d], isCausal: [causal], scale: 1 };
                for (let x = 0; x < L; x++) {
                  const g = x % d;
                  const inv = inverseNeighborhood(floor(x / d), axisWindow(attrs, [L], 0, g));
                  const want: number[] = [];
                  for (let y = 0; y < L; y++) {
                    if (refAxisKeys(y, L, K, s, d, causal).includes(x)) want.push(y);
                  }
                  const got: number[] = [];
                  for (let u = inv.start; u < inv.end; u++) got.push(u * d + g);
                  if (got.join() !== want.join()) {
                    report(`L=${L} d=${d} K=${K} s=${s} ${causal ? 'C' : 'N'} key ${x}: ` +
                      `[${got}] vs [${want}]`);
                  }
                }
              }
            }
          }
        }
      }
    })).toEqual([]);
  });
});

describe('windowRuns', () => {
  test('partition [0, n) into maximal runs of identical windows (n < 40)', () => {
    expect(mismatches((report) => {
      for (const { a, windows } of SWEEP) {
        const runs = windowRuns(a);
        let next = 0;
        runs.forEach((run, r) => {
          if (run.queries.start !== next || run.queries.end <= run.queries.start) {
            report(`${label(a)} run ${r}: queries [${run.queries.start}, ${run.queries.end}) after ${next}`);
          }
          next = run.queries.end;
          for (let q = run.queries.start; q < run.queries.end; q++) {
            if (windows[q][0] !== run.keys.start || windows[q][1] !== run.keys.end) {
              report(`${label(a)} run ${r}: q=${q} window [${windows[q]}] vs run keys ` +
                `[${run.keys.start}, ${run.keys.end})`);
            }
          }
          const prev = runs[r - 1];
          if (prev !== undefined && prev.keys.start === run.keys.start && prev.keys.end === run.keys.end) {
            report(`${label(a)} runs ${r - 1} and ${r} share a window (not maximal)`);
          }
        });
        if (next !== a.n) report(`${label(a)}: runs end at ${next}, not ${a.n}`);
        // Non-causal queries of a stride group share their window, hence one run.
        if (!a.isCausal) {
          for (const run of runs) {
            if (run.queries.start % a.stride !== 0 && run.queries.start !== 0) {
              report(`${label(a)}: run starts inside a stride group at ${run.queries.start}`);
            }
          }
        }
      }
    })).toEqual([]);
  });
});

/**
 * Definition of "perfectly block-sparse" along an axis (spec §5): every query tile's visited KV
 * tiles (static tiling: the tile-aligned hull of its queries' windows, clipped to n) are exactly
 * the window of each of its real queries, so no fine mask is needed. Causal axes never qualify
 * (NATTEN's policy, spec §5 step 4).
 */
function bruteBlockSparse(a: AxisWindow, windows: Array<[number, number]>, qTile: number,
                          kvTile: number): boolean {
  if (a.isCausal) return false;
  for (let first = 0; first < a.n; first += qTile) {
    const last = min(first + qTile, a.n) - 1;
    const lo = floor(windows[first][0] / kvTile) * kvTile;
    const hi = min(ceil(windows[last][1] / kvTile) * kvTile, a.n);
    for (let q = first; q <= last; q++) {
      if (windows[q][0] !== lo || windows[q][1] !== hi) return false;
    }
  }
  return true;
}

describe('isAxisBlockSparse (spec §5)', () => {
  const ax = (n: number, K: number, s: number, isCausal = false): AxisWindow =>
    ({ n, windowSize: K, stride: s, isCausal });

  test('spec §5 examples: NATTEN closed-form false positives are negatives here', () => {
    expect(isAxisBlockSparse(1, 2, ax(5, 4, 1))).toBe(false);
    expect(isAxisBlockSparse(2, 3, ax(4, 3, 2))).toBe(false);
  });

  test('paper configurations (spec §1.9, §6)', () => {
    // FLUX 256², window 80, tiles (16,16)/(16,8): stride 16 is block-sparse, NA (stride 1) is not.
    expect(isAxisBlockSparse(16, 8, ax(256, 80, 16))).toBe(true);
    expect(isAxisBlockSparse(16, 16, ax(256, 80, 16))).toBe(true);
    expect(isAxisBlockSparse(16, 8, ax(256, 80, 1))).toBe(false);
    // Hunyuan 30x48x80, window 18x24x24, stride 16x8x8, tiles (4,8,8)/(2,8,8): every axis.
    expect(isAxisBlockSparse(4, 2, ax(30, 18, 16))).toBe(true);
    expect(isAxisBlockSparse(8, 8, ax(48, 24, 8))).toBe(true);
    expect(isAxisBlockSparse(8, 8, ax(80, 24, 8))).toBe(true);
    // Cosmos 16x44x80, window 16x32x48, stride 1x8x16, tiles (8,4,8)/(4,4,8).
    expect(isAxisBlockSparse(8, 4, ax(16, 16, 1))).toBe(true);
    expect(isAxisBlockSparse(4, 4, ax(44, 32, 8))).toBe(true);
    expect(isAxisBlockSparse(8, 8, ax(80, 48, 16))).toBe(true);
    // Causal never is, even for a full-window axis.
    expect(isAxisBlockSparse(8, 8, ax(16, 16, 1, true))).toBe(false);
  });

  test('equals its definition for every n < 40, K, s and tiles in {1,2,3,4,8}', () => {
    const tiles = [1, 2, 3, 4, 8];
    let positives = 0;
    expect(mismatches((report) => {
      for (const { a, windows } of SWEEP) {
        // Causal axes are never block-sparse; a few tile shapes suffice to check that.
        const qTiles = a.isCausal ? [1, 4] : tiles;
        for (const qt of qTiles) {
          for (const kt of qTiles) {
            const want = bruteBlockSparse(a, windows, qt, kt);
            if (want) positives++;
            if (isAxisBlockSparse(qt, kt, a) !== want) report(`${label(a)} Tq=${qt} Tkv=${kt}: ${!want}`);
          }
        }
      }
    })).toEqual([]);
    expect(positives).toBeGreaterThan(1000); // the sweep exercises both answers
  });
});

describe('classifyTilePair', () => {
  test('equals brute force over every (query range, key range) pair for n < 12', () => {
    expect(mismatches((report) => {
      for (const { a, windows } of SWEEP.filter((x) => x.a.n < 12)) {
        for (let q0 = 0; q0 < a.n; q0++) {
          for (let q1 = q0 + 1; q1 <= a.n + 2; q1++) {
            for (let k0 = 0; k0 < a.n; k0 += 2) {
              const k1 = k0 + 3;
              let any = false;
              let all = true;
              for (let q = q0; q < min(q1, a.n); q++) {
                for (let k = k0; k < min(k1, a.n); k++) {
                  const seen = windows[q][0] <= k && k < windows[q][1];
                  any ||= seen;
                  all &&= seen;
                }
              }
              const want = !any ? 'empty' : all ? 'dense' : 'partial';
              const got = classifyTilePair({ start: q0, end: q1 }, { start: k0, end: k1 }, a);
              if (got !== want) report(`${label(a)} q[${q0},${q1}) k[${k0},${k1}): ${got} vs ${want}`);
            }
          }
        }
      }
    })).toEqual([]);
  });
});

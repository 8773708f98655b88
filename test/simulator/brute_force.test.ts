/**
 * The simulator's counts against brute force over token pairs (`brute_force.ts`, built on the
 * independent `refMask`) on many small random layouts: 1-3 dims, causal dims, dilation with
 * uneven groups, and tiles that do not divide the axes (so tiles hold padding), under both
 * tilings. Also the O(1) per-axis dense rule against `classifyTilePair`, tile by tile.
 */
import { simulate } from '../../src/simulator';
import { computeAxisTileStats, axisPairClass } from '../../src/simulator/axis_tiles';
import { AxisWindow, kvTileRange } from '../../src/window';
import { mulberry32, seedOf } from '../helpers/random';
import { BruteConfig, bruteForceTiles } from './brute_force';

const randInt = (rng: () => number, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));

/** A random valid problem with at most ~`maxTokens` tokens. */
function randomConfig(rng: () => number, rank: number, tiling: 'multi' | '1d'): BruteConfig {
  const maxSide = [0, 60, 14, 6][rank];
  const shape = Array.from({ length: rank }, () => randInt(rng, 2, maxSide));
  const dilation = shape.map((L) => (rng() < 0.3 ? randInt(rng, 1, Math.floor(L / 2)) : 1));
  const windowSize = shape.map((L, i) => randInt(rng, 2, Math.floor(L / dilation[i])));
  const stride = windowSize.map((K) => randInt(rng, 1, K));
  const isCausal = shape.map(() => rng() < 0.25);
  const tile = () => (tiling === 'multi' ? shape.map(() => randInt(rng, 1, 5)) : [randInt(rng, 1, 12)]);
  return { shape, windowSize, stride, dilation, isCausal, qTile: tile(), kvTile: tile(), tiling };
}

function checkAgainstBruteForce(c: BruteConfig) {
  const r = simulate(c);
  const b = bruteForceTiles(c);
  const label = JSON.stringify(c);
  expect({ label, qTiles: r.qTiles, tilePairs: r.tilePairs }).toEqual({ label, qTiles: b.qTiles, tilePairs: b.tilePairs });
  expect({ label, visited: r.exact.visited, dense: r.exact.dense, partial: r.exact.partial })
    .toEqual({ label, visited: b.visited, dense: b.dense, partial: b.visited - b.dense });
  expect({ label, max: r.static.maxPerQTile, total: r.static.total })
    .toEqual({ label, max: b.staticMax, total: b.staticTotal });
  expect({ label, max: r.dynamic.maxPerQTile, total: r.dynamic.total })
    .toEqual({ label, max: b.dynamicMax, total: b.dynamicTotal });
  // Kernels always mask causal dims (spec §5.4); otherwise the flag is "no partial tile walked".
  const expected = !c.isCausal.some((x) => x) && b.staticWalkAllDense;
  expect({ label, blockSparse: r.perfectlyBlockSparse.overall }).toEqual({ label, blockSparse: expected });
}

describe.each([1, 2, 3])('random %i-D layouts against brute force', (rank) => {
  test.each(['multi', '1d'] as const)('%s tiling', (tiling) => {
    const rng = mulberry32(seedOf(`sim-brute-${rank}-${tiling}`));
    for (let i = 0; i < 60; i++) checkAgainstBruteForce(randomConfig(rng, rank, tiling));
  });
});

test('hand-picked layouts: padding in every dim, uneven dilation groups, mixed causal', () => {
  const cases: BruteConfig[] = [
    { shape: [10, 13], windowSize: [3, 4], stride: [2, 3], dilation: [3, 2], isCausal: [false, true],
      qTile: [2, 4], kvTile: [3, 2], tiling: 'multi' },
    { shape: [10, 13], windowSize: [3, 4], stride: [2, 3], dilation: [3, 2], isCausal: [false, true],
      qTile: [5], kvTile: [7], tiling: '1d' },
    { shape: [7, 5, 6], windowSize: [3, 5, 2], stride: [3, 2, 1], dilation: [2, 1, 3], isCausal: [true, false, false],
      qTile: [2, 2, 4], kvTile: [4, 3, 1], tiling: 'multi' },
    { shape: [7, 5, 6], windowSize: [3, 5, 2], stride: [3, 2, 1], dilation: [2, 1, 3], isCausal: [true, false, false],
      qTile: [9], kvTile: [4], tiling: '1d' },
    { shape: [16, 16], windowSize: [8, 8], stride: [4, 4], dilation: [1, 1], isCausal: [false, false],
      qTile: [4, 4], kvTile: [2, 2], tiling: 'multi' },
  ];
  cases.forEach(checkAgainstBruteForce);
});

test('1-D problems: both tilings give identical results', () => {
  const rng = mulberry32(seedOf('sim-1d-same'));
  for (let i = 0; i < 100; i++) {
    const c = randomConfig(rng, 1, 'multi');
    const { config: _m, ...multi } = simulate(c);
    const { config: _f, ...flat } = simulate({ ...c, tiling: '1d' });
    expect(flat).toEqual(multi);
  }
});

test('per-axis dense/visited counts equal classifyTilePair over every tile pair', () => {
  const mismatches: string[] = [];
  for (let n = 2; n <= 14; n++) {
    for (let K = 2; K <= n; K++) {
      for (let s = 1; s <= K; s++) {
        for (const isCausal of [false, true]) {
          const axis: AxisWindow = { n, windowSize: K, stride: s, isCausal };
          for (const [qTile, kvTile] of [[1, 1], [2, 3], [4, 4], [3, 5], [8, 2]]) {
            const stats = computeAxisTileStats(axis, qTile, kvTile);
            for (let t = 0; t < stats.qTiles; t++) {
              let visited = 0;
              let dense = 0;
              for (let u = 0; u < stats.kvTiles; u++) {
                const c = axisPairClass(axis, qTile, kvTile, t, u);
                if (c !== 'empty') visited++;
                if (c === 'dense') dense++;
              }
              const box = kvTileRange(t, qTile, kvTile, axis);
              if (stats.visited[t] !== visited || stats.dense[t] !== dense ||
                  stats.staticCount[t] !== box.end - box.start) {
                mismatches.push(`${JSON.stringify(axis)} tiles ${qTile}/${kvTile} Q tile ${t}`);
              }
            }
          }
        }
      }
    }
  }
  expect(mismatches).toEqual([]);
});

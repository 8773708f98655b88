/**
 * Per-Q-tile visit lists: the 1-D examples of spec §5, the whole tile-pair matrix against the
 * simulator's totals, input checks of the simulator, and the SVG pictures.
 */
import {
  PAIR_CODE, qTileVisits, renderQTileSvg, renderTilePairMatrixSvg, simulate, tilePairMatrix,
  normalizeSimulationConfig,
} from '../../src/simulator';

const listOf = (v: ReturnType<typeof qTileVisits>) => v.visits.map((x) => `${x.tile[0]}:${x.kvClass}`);

describe('spec §5 1-D examples (static tiling)', () => {
  test('n=10, K=4, s=2, T_q=2, T_kv=4', () => {
    const config = { shape: [10], windowSize: 4, stride: 2, qTile: 2, kvTile: 4 };
    const lists = [0, 1, 2, 3, 4].map((t) => listOf(qTileVisits(config, [t])));
    expect(lists).toEqual([
      ['0:dense'],
      ['0:partial', '1:partial'],
      ['0:partial', '1:partial'],
      ['1:partial', '2:partial'],
      // The spec lists tiles 1,2 for Q tile [8,10); tile 2 holds real keys 8 and 9 (10 and 11
      // are padding), which both queries' window [6,10) covers, so by the spec's own
      // definition ("every real query's window covers the tile's in-bounds range") it is dense.
      ['1:partial', '2:dense'],
    ]);
    expect(simulate(config).perfectlyBlockSparse.overall).toBe(false);
  });

  test('n=16, K=8, s=4, T_q=4: T_kv=4 needs masks, T_kv=2 is perfectly block-sparse', () => {
    const base = { shape: [16], windowSize: 8, stride: 4, qTile: 4 };
    const tilesOf = (kvTile: number) => [0, 1, 2, 3].map((t) =>
      qTileVisits({ ...base, kvTile }, [t]).visits.map((v) => v.tile[0]));
    expect(tilesOf(4)).toEqual([[0, 1], [0, 1, 2], [1, 2, 3], [2, 3]]);
    expect(simulate({ ...base, kvTile: 4 }).perfectlyBlockSparse.overall).toBe(false);
    // Windows [0,8), [2,10), [6,14), [8,16): all 2-aligned.
    expect(tilesOf(2)).toEqual([[0, 1, 2, 3], [1, 2, 3, 4], [3, 4, 5, 6], [4, 5, 6, 7]]);
    const aligned = simulate({ ...base, kvTile: 2 });
    expect(aligned.perfectlyBlockSparse).toEqual({ perAxis: [true], overall: true });
    expect(aligned.exact.partial).toBe(0);
  });
});

describe('qTileVisits', () => {
  test('defaults to the worst Q tile, whose static walk is the maximum', () => {
    const config = { shape: [256, 256], windowSize: 80, qTile: [16, 16], kvTile: [16, 8] };
    const v = qTileVisits(config);
    expect(v.qTile).toEqual(simulate(config).worstQTile.tile);
    expect(v.counts).toEqual({ visited: 84, dense: 24, partial: 60, static: 84, dynamic: 72 });
    expect(v.kvTileGrid).toEqual([16, 32]);
  });

  test('with a dilation group and no tile: the worst Q tile of that group', () => {
    for (const tiling of ['multi', '1d'] as const) {
      const config = { shape: [13, 10], windowSize: [3, 4], stride: [2, 1], dilation: [3, 2], qTile: tiling === 'multi' ? [2, 3] : 5,
        kvTile: tiling === 'multi' ? [2, 2] : 3, tiling };
      const worst = qTileVisits(config, undefined, [1, 1]);
      expect(worst.group).toEqual([1, 1]);
      let max = 0;
      const grid = worst.qTileGrid;
      for (let t = 0; t < grid.reduce((a, b) => a * b, 1); t++) {
        const tile = grid.length === 1 ? [t] : [Math.floor(t / grid[1]), t % grid[1]];
        max = Math.max(max, qTileVisits(config, tile, [1, 1]).counts.static);
      }
      expect(worst.counts.static).toBe(max);
    }
  });

  test('1-D tiling walks a contiguous range and reports the empty tiles in it', () => {
    // 2-D grid 8x8, window 3x3: a Q tile of 8 tokens (one row) sees 3 rows; 4-token KV tiles.
    const v = qTileVisits({ shape: [8, 8], windowSize: 3, qTile: 8, kvTile: 4, tiling: '1d' }, [3]);
    expect(v.visits.map((x) => x.tile[0])).toEqual([4, 5, 6, 7, 8, 9]);
    expect(v.counts.static).toBe(6);
    const wide = qTileVisits({ shape: [4, 16], windowSize: [2, 3], qTile: 2, kvTile: 2, tiling: '1d' }, [1]);
    // Queries (0,2),(0,3) see rows 0-1, cols 1-4: tiles 0-2 of row 0 and 8-10 of row 1; 3-7 are walked in vain.
    expect(wide.visits.map((x) => `${x.tile[0]}:${x.kvClass}`)).toEqual([
      '0:partial', '1:dense', '2:partial', '3:empty', '4:empty', '5:empty', '6:empty', '7:empty',
      '8:partial', '9:dense', '10:partial',
    ]);
    expect(wide.counts).toEqual({ visited: 6, dense: 2, partial: 4, static: 11, dynamic: 10 });
  });

  test('rejects a Q tile outside the grid and a bad dilation group', () => {
    const config = { shape: [10, 10], windowSize: 3, dilation: [2, 1], qTile: 2, kvTile: 2 };
    expect(() => qTileVisits(config, [3, 0])).toThrow(
      'qTileVisits: Q tile [3, 0] is outside the Q tile grid [3, 5]');
    expect(() => qTileVisits(config, [0, 0], [2, 0])).toThrow(/group=\[2, 0\] must give one dilation group per dim/);
  });
});

describe('tilePairMatrix', () => {
  test.each([
    { shape: [12, 10], windowSize: [5, 4], stride: [2, 3], qTile: [4, 3], kvTile: [2, 4], tiling: 'multi' as const },
    { shape: [12, 10], windowSize: [5, 4], stride: [2, 3], qTile: 6, kvTile: 5, tiling: '1d' as const },
    { shape: [6, 5, 7], windowSize: [3, 2, 4], isCausal: [false, true, false], qTile: [2, 2, 3], kvTile: [3, 2, 2],
      tiling: 'multi' as const },
  ])('matches the simulator totals: $shape $tiling', (config) => {
    const m = tilePairMatrix(config);
    const r = simulate(config);
    const count = (code: number) => m.classes.filter((c) => c === code).length;
    expect(m.qTiles * m.kvTiles).toBe(r.tilePairs);
    expect(count(PAIR_CODE.dense)).toBe(r.exact.dense);
    expect(count(PAIR_CODE.partial)).toBe(r.exact.partial);
    expect(count(PAIR_CODE.dense) + count(PAIR_CODE.partial) + count(PAIR_CODE.empty)).toBe(r.static.total);
  });

  test('refuses layouts too large to draw', () => {
    expect(() => tilePairMatrix({ shape: [256, 256], windowSize: 80, qTile: [8, 8], kvTile: [8, 8] }))
      .toThrow(/tilePairMatrix: 1024 x 1024 tile pairs exceed 262144/);
  });
});

describe('simulate input checks', () => {
  const ok = { shape: [16, 16], windowSize: 4, qTile: [4, 4], kvTile: [4, 4] };
  test.each([
    [{ ...ok, shape: [4, 4, 4, 4] }, 'simulate: shape=[4, 4, 4, 4] must list 1 to 3 spatial sizes'],
    [{ ...ok, shape: [16, 0] }, 'simulate: shape[1]=0 is invalid'],
    [{ ...ok, windowSize: 17 }, 'simulate: windowSize[0]=17 with dilation[0]=1 exceeds spatial size 16'],
    [{ ...ok, stride: 5 }, 'simulate: stride[0]=5 exceeds windowSize[0]=4'],
    [{ ...ok, windowSize: 1 }, 'simulate: windowSize[0]=1 is invalid (windowSize must be an integer >= 2)'],
    [{ ...ok, qTile: [4, 4, 4] }, "simulate: qTile=[4, 4, 4] has 3 entries; tiling 'multi' needs one extent per spatial dim (2)"],
    [{ ...ok, kvTile: [4, 0] }, 'simulate: kvTile[1]=0 is invalid (tile extents are positive integers)'],
    [{ ...ok, tiling: '1d' as const }, "simulate: qTile=[4, 4] has 2 entries; tiling '1d' needs one token count"],
    [{ ...ok, tiling: '2d' as unknown as '1d' }, "simulate: tiling=2d must be 'multi' or '1d'"],
    [{ ...ok, attentionShare: 1.5 }, 'simulate: attentionShare=1.5 must be a number in [0, 1]'],
    [{ ...ok, attentionShare: 0.5, sparseStepFraction: -1 }, 'simulate: sparseStepFraction=-1 must be a number in [0, 1]'],
  ])('%j', (config, message) => {
    expect(() => simulate(config)).toThrow(message);
  });

  test('a missing tile is named', () => {
    expect(() => simulate({ shape: [8], windowSize: 2 } as never)).toThrow('simulate: qTile is required');
  });
});

describe('SVG pictures', () => {
  const colourCount = (svg: string, colour: string) => svg.split(`fill="${colour}"`).length - 1;

  test('one Q tile: one coloured cell per visited KV tile (plus the legend swatch)', () => {
    const config = normalizeSimulationConfig({ shape: [256, 256], windowSize: 80, qTile: [16, 16], kvTile: [16, 8] });
    const svg = renderQTileSvg(config, qTileVisits(config));
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(colourCount(svg, '#2f9e44')).toBe(24 + 1);
    expect(colourCount(svg, '#f59f00')).toBe(60 + 1);
    expect(svg).toContain('static walk 84 KV tiles: 24 dense, 60 partial, 0 empty; dynamic walk 72');
  });

  test('3-D layouts draw one panel per KV tile of dim 0; 1-D tiling a wrapped strip', () => {
    const hunyuan = normalizeSimulationConfig({ shape: [30, 48, 80], windowSize: [18, 24, 24], stride: [16, 8, 8],
      qTile: [4, 8, 8], kvTile: [2, 8, 8] });
    const svg = renderQTileSvg(hunyuan, qTileVisits(hunyuan));
    expect(svg.split('dim 0 tile ').length - 1).toBe(15);
    expect(colourCount(svg, '#2f9e44')).toBe(81 + 1);
    const flat = normalizeSimulationConfig({ shape: [4, 16], windowSize: [2, 3], qTile: 2, kvTile: 2, tiling: '1d' });
    const strip = renderQTileSvg(flat, qTileVisits(flat, [1]));
    expect(colourCount(strip, '#adb5bd')).toBe(5 + 1);
  });

  test('matrix: one cell per walked tile pair', () => {
    const config = normalizeSimulationConfig({ shape: [12, 10], windowSize: [5, 4], qTile: [4, 3], kvTile: [2, 4] });
    const r = simulate(config);
    const svg = renderTilePairMatrixSvg(config, tilePairMatrix(config));
    expect(colourCount(svg, '#2f9e44') - 1).toBe(r.exact.dense);
    expect(colourCount(svg, '#f59f00') - 1).toBe(r.exact.partial);
  });
});

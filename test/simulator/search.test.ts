/** The configuration search and the shared tile-config table. */
import { TILE_CONFIGS, searchConfigs, simulate, tileConfigs } from '../../src/simulator';

describe('tile config table (spec §3.6)', () => {
  test('Blackwell forward: 256-token Q tiles, 128-token KV tiles; one default per rank', () => {
    const fwd = tileConfigs({ backend: 'blackwell-fna', pass: 'forward' });
    expect(fwd).toHaveLength(12);
    for (const c of fwd) {
      expect(c.qTile.reduce((a, b) => a * b, 1)).toBe(256);
      expect(c.kvTile.reduce((a, b) => a * b, 1)).toBe(128);
    }
    expect(fwd.filter((c) => c.isDefault).map((c) => [c.qTile, c.kvTile]))
      .toEqual([[[256], [128]], [[16, 16], [16, 8]], [[8, 4, 8], [4, 4, 8]]]);
  });

  test('Hopper forward lists depend on the head dim', () => {
    const shapes = (headDim: number) => tileConfigs({ backend: 'hopper-fna', rank: 3, headDim })
      .map((c) => `${c.qTile.join('x')}/${c.kvTile.join('x')}`);
    expect(shapes(128)).toEqual(['4x4x8/4x4x8', '2x8x8/2x8x8']);
    expect(shapes(64)).toEqual(['4x4x4/4x4x8', '4x4x4/2x8x8']);
    expect(shapes(256)).toEqual(['4x4x8/4x4x4', '2x8x8/4x4x4']);
    expect(tileConfigs({ backend: 'blackwell-fna', pass: 'backward', rank: 2 })).toHaveLength(4);
  });

  test('every entry has matching Q and KV ranks and positive extents', () => {
    for (const c of TILE_CONFIGS) {
      expect(c.qTile.length).toBe(c.kvTile.length);
      expect([...c.qTile, ...c.kvTile].every((x) => Number.isInteger(x) && x >= 1)).toBe(true);
    }
  });

  test('an unknown backend is an error', () => {
    expect(() => tileConfigs({ backend: 'volta' as never })).toThrow("tileConfigs: backend 'volta' is unknown");
  });
});

describe('searchConfigs', () => {
  test('FLUX on Blackwell: the paper strides rank as in its table', () => {
    const r = searchConfigs({ shape: [256, 256], windowSize: 80, backends: ['blackwell-fna'],
      strides: [[1, 1], [16, 1], [16, 16]] });
    expect(r.evaluated).toBe(3 * 4);
    const best = r.entries[0];
    expect(best.simulatedSpeedup).toBeCloseTo(10.24, 12);
    expect(best.perfectlyBlockSparse).toBe(true);
    expect(best.stride).toEqual([16, 16]);
    const at = (stride: number[]) => r.entries.find((e) => e.stride.join() === stride.join() &&
      e.qTile.join() === '16,16' && e.kvTile.join() === '16,8')!;
    expect([at([1, 1]).maxPerQTile, at([16, 1]).maxPerQTile, at([16, 16]).maxPerQTile]).toEqual([84, 60, 50]);
    for (let i = 1; i < r.entries.length; i++) {
      expect(r.entries[i - 1].simulatedSpeedup).toBeGreaterThanOrEqual(r.entries[i].simulatedSpeedup);
    }
  });

  test('every stride by default; ties go to block-sparse, then smaller strides', () => {
    const r = searchConfigs({ shape: [32, 32], windowSize: 8, tiles: [{ qTile: [4, 4], kvTile: [4, 4] }] });
    expect(r.evaluated).toBe(64);
    const best = r.entries[0];
    expect(best.perfectlyBlockSparse).toBe(true);
    expect(best.simulatedSpeedup).toBeCloseTo(best.flopSpeedup, 12);
    // Stride 4 starts windows at 0, 2, 6, ... (off the 4-token grid); stride 8 (blocked) is the
    // smallest with aligned starts, so it leads, and the best is exactly the block-sparse set.
    expect(best.stride).toEqual([8, 8]);
    const top = r.entries.filter((e) => e.simulatedSpeedup === best.simulatedSpeedup);
    expect(top.map((e) => e.stride)).toEqual([[8, 8]]);
    expect(simulate({ shape: [32, 32], windowSize: 8, stride: 4, qTile: 4, kvTile: 4 }).perfectlyBlockSparse.overall)
      .toBe(false);
    // Each entry is what simulate says for it.
    for (const e of r.entries.slice(0, 10)) {
      const s = simulate({ shape: [32, 32], windowSize: 8, stride: e.stride, qTile: e.qTile, kvTile: e.kvTile });
      expect([e.maxPerQTile, e.perfectlyBlockSparse]).toEqual([s.static.maxPerQTile, s.perfectlyBlockSparse.overall]);
    }
  });

  test('1-D, 32k tokens, w 2048: the smallest block-sparse stride at the best speedup is 256', () => {
    const r = searchConfigs({ shape: [32768], windowSize: 2048, backends: ['blackwell-fna'],
      strides: [[1], [64], [128], [192], [256], [512]] });
    const sparse = r.entries.filter((e) => e.perfectlyBlockSparse);
    expect(sparse[0].stride).toEqual([256]);
    expect(r.entries[0].stride).toEqual([256]);
    expect(r.entries[0].simulatedSpeedup).toBeCloseTo(16, 12);
  });

  test('shared tiles are listed once with every backend offering them; e2e when a share is given', () => {
    const r = searchConfigs({ shape: [30, 48, 80], windowSize: [18, 24, 24], strides: [[16, 8, 8]],
      backends: ['hopper-fna', 'tfjs-gna'], headDim: 128, attentionShare: 0.607, limit: 3 });
    expect(r.entries).toHaveLength(3);
    const shared = r.entries.find((e) => e.qTile.join() === '2,8,8' && e.kvTile.join() === '2,8,8')!;
    expect(shared.backends).toEqual(['hopper-fna', 'tfjs-gna']);
    expect(shared.e2eSpeedup).toBeCloseTo(2.23, 2);
  });

  test('bad input', () => {
    expect(() => searchConfigs({ shape: [16], windowSize: 4, limit: 0 })).toThrow('searchConfigs: limit=0 must be a positive integer');
    expect(() => searchConfigs({ shape: [16], windowSize: 4, strides: [[5]] })).toThrow('simulate: stride[0]=5 exceeds windowSize[0]=4');
    expect(() => searchConfigs({ shape: [16], windowSize: 4, backends: ['cutlass-fna'] }))
      .toThrow('searchConfigs: no 1-D forward tile shapes for backends [cutlass-fna]');
  });
});

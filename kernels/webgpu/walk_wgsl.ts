/**
 * WGSL fragments of a workgroup's walk over a `WalkPlan` (gna_plan.ts): where its owner tile is,
 * which chunk a flat step is, the step's class, and the coordinates and rows of the chunk's
 * tokens. `KeyWalk` (forward, dQ) owns a query tile and walks keys; `QueryWalk` (dK/dV) owns a
 * key tile and walks queries. Values of the window math are only looked up in the `walk` table.
 * Tiles and chunks are boxes of the token-permuted order (spec §4), but every token's data is
 * read and written at its row in the natural layout `[B, ...spatial, heads, dim]`: the permute
 * is a gather by coordinates inside the kernels, so no separate permute pass moves q, k, v or
 * the results.
 */
import { WalkPlan } from './gna_plan';
import {
  ProgramUniforms, allAxes, axisUniforms, decodeIndex, linearIndex, minOf, perAxis,
} from './wgsl';

/**
 * The plan's layout and table offsets as uniforms (so pipelines are shared across problems):
 * `groups`, `seq`, `tileVolume`, `tokens` and per axis `size`, `dil`, `tiles`, `tile`, `chunk`,
 * `extent`, and the
 * table sections `winStart`, `winEnd`, `len`, `rangeStart`, `rangeSteps`, `stepClass`, `maxSteps`.
 */
export function walkUniforms(plan: WalkPlan, values: ProgramUniforms): ProgramUniforms {
  const { layout, axes } = plan;
  return values
    .int('groups', layout.groups)
    .int('seq', layout.sequenceLength)
    .int('tileVolume', layout.tileVolume)
    .int('tokens', layout.tokens)
    .perAxis('size', layout.spatialShape)
    .perAxis('dil', layout.dilation)
    .perAxis('tiles', layout.tilesPerDim)
    .perAxis('tile', layout.tileShape)
    .perAxis('chunk', plan.chunkShape)
    .perAxis('extent', layout.groupExtent)
    .perAxis('winStart', axes.map((a) => a.windowStart))
    .perAxis('winEnd', axes.map((a) => a.windowEnd))
    .perAxis('len', axes.map((a) => a.length))
    .perAxis('rangeStart', axes.map((a) => a.rangeStart))
    .perAxis('rangeSteps', axes.map((a) => a.rangeSteps))
    .perAxis('stepClass', axes.map((a) => a.stepClass))
    .perAxis('maxSteps', axes.map((a) => a.maxSteps));
}

class Walk {
  constructor(protected rank: number) {}

  /**
   * Batch `b` and group coordinates `g<a>` of batch·group `bg`, owner tile `r<a>`, group lengths
   * `n<a>`, walk `start<a>`/`steps<a>`.
   */
  ownerLets(tileIndex: string, bg: string): string {
    const rank = this.rank;
    return [
      `let b = ${bg} / uniforms.groups;`,
      decodeIndex('g', `${bg} % uniforms.groups`, axisUniforms('dil', rank)),
      decodeIndex('r', tileIndex, axisUniforms('tiles', rank)),
      perAxis(rank, (a) => `let n${a} = walk[uniforms.len${a} + g${a}];`),
      perAxis(rank, (a) => {
        const at = `g${a} * uniforms.tiles${a} + r${a}`;
        return `let start${a} = walk[uniforms.rangeStart${a} + ${at}];\n` +
          `let steps${a} = walk[uniforms.rangeSteps${a} + ${at}];`;
      }),
    ].join('\n');
  }

  /**
   * The owned token of tile row `row`: in-group `u<a><sfx>`, `realOwner<sfx>` (not padding) and
   * `ownerToken<sfx>`, its natural token row (-1 for padding).
   */
  ownedRowLets(row: string, sfx = ''): string {
    const rank = this.rank;
    return [
      decodeIndex(`t${sfx}_`, row, axisUniforms('tile', rank)),
      perAxis(rank, (a) => `let u${a}${sfx} = r${a} * uniforms.tile${a} + t${sfx}_${a};`),
      `let realOwner${sfx} = ${allAxes(rank, (a) => `u${a}${sfx} < n${a}`)};`,
      `let ownerToken${sfx} = select(-1, ${this.naturalToken((a) => `u${a}${sfx}`)}, realOwner${sfx});`,
    ].join('\n');
  }

  totalSteps(): string {
    return Array.from({ length: this.rank }, (_, a) => `steps${a}`).join(' * ');
  }

  /** `it<a>`: the chunk coordinates of flat step `step`, row-major over `steps<a>`. */
  stepLets(step: string): string {
    return decodeIndex('it', step, Array.from({ length: this.rank }, (_, a) => `steps${a}`));
  }

  /** The step's class: the minimum over axes of the per-axis classes. */
  stepClass(): string {
    return minOf(Array.from({ length: this.rank }, (_, a) => `walk[uniforms.stepClass${a} + ` +
      `(g${a} * uniforms.tiles${a} + r${a}) * uniforms.maxSteps${a} + it${a}]`));
  }

  /** In-group coordinates `p<a>` of item `item` of the current chunk, and whether it is real. */
  protected chunkItem(item: string): string {
    return [
      decodeIndex('c', item, axisUniforms('chunk', this.rank)),
      perAxis(this.rank, (a) => `let p${a} = start${a} + it${a} * uniforms.chunk${a} + c${a};`),
      `let realItem = ${allAxes(this.rank, (a) => `p${a} < n${a}`)};`,
    ].join('\n');
  }

  /**
   * Natural token row `b * tokens + x` of in-group coordinates `coord(a)` of group `g<a>`: axis
   * index `x<a> = coord * dil + g` (spec §1.2), row-major over the spatial shape.
   */
  protected naturalToken(coord: (a: number) => string): string {
    const x = Array.from({ length: this.rank }, (_, a) => `${coord(a)} * uniforms.dil${a} + g${a}`);
    return `b * uniforms.tokens + ${linearIndex(x, axisUniforms('size', this.rank))}`;
  }

  /** Window of in-group position `pos` along axis `a` (group `g<a>`), from the table. */
  protected windowAt(which: 'winStart' | 'winEnd', a: number, pos: string): string {
    return `walk[uniforms.${which}${a} + g${a} * uniforms.extent${a} + ${pos}]`;
  }
}

/** Owner: a query tile; chunks: keys. Needs `keyRow : array<i32, BK>`, `keyPos : array<i32, BK*N>`. */
export class KeyWalk extends Walk {
  /** The window `ws<a><sfx>`, `we<a><sfx>` of owned query `u<a><sfx>` (after `ownedRowLets`). */
  queryWindowLets(sfx = ''): string {
    return perAxis(this.rank, (a) =>
      `let ws${a}${sfx} = ${this.windowAt('winStart', a, `u${a}${sfx}`)};\n` +
      `let we${a}${sfx} = ${this.windowAt('winEnd', a, `u${a}${sfx}`)};`);
  }

  /** Run by one thread per chunk key `kk`: its natural token row (-1 if padding) and coords. */
  keyInfo(kk: string): string {
    return [
      this.chunkItem(kk),
      perAxis(this.rank, (a) => `keyPos[${kk} * ${this.rank} + ${a}] = p${a};`),
      `keyRow[${kk}] = select(-1, ${this.naturalToken((a) => `p${a}`)}, realItem);`,
    ].join('\n');
  }

  /** Whether owned query `<sfx>` sees chunk key `c`: inside its window on every axis. */
  fineMask(c: string, sfx = ''): string {
    return allAxes(this.rank, (a) => {
      const p = `keyPos[(${c}) * ${this.rank} + ${a}]`;
      return `${p} >= ws${a}${sfx} && ${p} < we${a}${sfx}`;
    });
  }
}

/**
 * Owner: a key tile; chunks: queries. Needs `queryRow : array<i32, BQC>` and
 * `queryWindow : array<i32, BQC*2N>` (start, end per axis).
 */
export class QueryWalk extends Walk {
  /** Run by one thread per chunk query `qq`: its natural token row (-1 if padding), its window. */
  queryInfo(qq: string): string {
    const rank = this.rank;
    return [
      this.chunkItem(qq),
      `queryRow[${qq}] = select(-1, ${this.naturalToken((a) => `p${a}`)}, realItem);`,
      'if (realItem) {',
      perAxis(rank, (a) =>
        `  queryWindow[${qq} * ${2 * rank} + ${2 * a}] = ${this.windowAt('winStart', a, `p${a}`)};\n` +
        `  queryWindow[${qq} * ${2 * rank} + ${2 * a + 1}] = ${this.windowAt('winEnd', a, `p${a}`)};`),
      '}',
    ].join('\n');
  }

  /** Whether chunk query `c` sees this row's key `u<a>`. */
  fineMask(c: string): string {
    const rank = this.rank;
    return allAxes(rank, (a) =>
      `u${a} >= queryWindow[(${c}) * ${2 * rank} + ${2 * a}] && ` +
      `u${a} < queryWindow[(${c}) * ${2 * rank} + ${2 * a + 1}]`);
  }
}

/**
 * WGSL fragments of a workgroup's walk over a `WalkPlan` (gna_plan.ts): where its owner tile is,
 * which chunk a flat step is, the step's class, and the coordinates and rows of the chunk's
 * tokens. `KeyWalk` (forward, dQ) owns a query tile and walks keys; `QueryWalk` (dK/dV) owns a
 * key tile and walks queries. Values of the window math are only looked up in the `walk` table.
 */
import { WalkPlan } from './gna_plan';
import {
  ProgramUniforms, allAxes, axisUniforms, decodeIndex, minOf, perAxis, permutedPosition,
} from './wgsl';

/**
 * The plan's layout and table offsets as uniforms (so pipelines are shared across problems):
 * `groups`, `seq`, `tileVolume` and per axis `dil`, `tiles`, `tile`, `chunk`, `extent`, and the
 * table sections `winStart`, `winEnd`, `len`, `rangeStart`, `rangeSteps`, `stepClass`, `maxSteps`.
 */
export function walkUniforms(plan: WalkPlan, values: ProgramUniforms): ProgramUniforms {
  const { layout, axes } = plan;
  return values
    .int('groups', layout.groups)
    .int('seq', layout.sequenceLength)
    .int('tileVolume', layout.tileVolume)
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

  /** Group coordinates `g<a>`, owner tile `r<a>`, group lengths `n<a>`, walk `start<a>`/`steps<a>`. */
  ownerLets(tileIndex: string, groupIndex: string): string {
    const rank = this.rank;
    return [
      decodeIndex('g', groupIndex, axisUniforms('dil', rank)),
      decodeIndex('r', tileIndex, axisUniforms('tiles', rank)),
      perAxis(rank, (a) => `let n${a} = walk[uniforms.len${a} + g${a}];`),
      perAxis(rank, (a) => {
        const at = `g${a} * uniforms.tiles${a} + r${a}`;
        return `let start${a} = walk[uniforms.rangeStart${a} + ${at}];\n` +
          `let steps${a} = walk[uniforms.rangeSteps${a} + ${at}];`;
      }),
    ].join('\n');
  }

  /** The owned token of tile row `row`: in-group `u<a><sfx>`, and `realOwner<sfx>` (not padding). */
  ownedRowLets(row: string, sfx = ''): string {
    const rank = this.rank;
    return [
      decodeIndex(`t${sfx}_`, row, axisUniforms('tile', rank)),
      perAxis(rank, (a) => `let u${a}${sfx} = r${a} * uniforms.tile${a} + t${sfx}_${a};`),
      `let realOwner${sfx} = ${allAxes(rank, (a) => `u${a}${sfx} < n${a}`)};`,
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

  /** Row of token `p<a>` of group `bg` in the permuted `[B*G, seq]` layout. */
  protected itemSeqRow(bg: string): string {
    const p = Array.from({ length: this.rank }, (_, a) => `p${a}`);
    return `${bg} * uniforms.seq + ${permutedPosition(p, axisUniforms('tile', this.rank),
      axisUniforms('tiles', this.rank), 'uniforms.tileVolume')}`;
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

  /** Run by one thread per chunk key `kk`: its row in the permuted K/V (-1 if padding) and coords. */
  keyInfo(kk: string, bg: string): string {
    return [
      this.chunkItem(kk),
      perAxis(this.rank, (a) => `keyPos[${kk} * ${this.rank} + ${a}] = p${a};`),
      `keyRow[${kk}] = select(-1, ${this.itemSeqRow(bg)}, realItem);`,
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
  /** Run by one thread per chunk query `qq`: its row (-1 if padding) and its window. */
  queryInfo(qq: string, bg: string): string {
    const rank = this.rank;
    return [
      this.chunkItem(qq),
      `queryRow[${qq}] = select(-1, ${this.itemSeqRow(bg)}, realItem);`,
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

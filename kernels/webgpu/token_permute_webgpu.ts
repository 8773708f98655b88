/**
 * Token permute and unpermute as one gather pass each (spec §4): one invocation per (token,
 * group of `heads*dim` values), vectorised by vec4 when the row width allows, writing zeros in
 * padding slots. These serve the public `tokenPermute`/`tokenUnpermute` ops; the GNA programs
 * gather tokens by coordinates themselves and need neither. The layout comes in as uniforms: one
 * pipeline per (rank, vector width) serves every layout.
 */
import { PermuteLayout } from '../../src/layout';
import { FlatProgram } from './flat_program';
import { ProgramUniforms, axisUniforms, decodeIndex, linearIndex, permutedPosition } from './wgsl';

/** Vector width of a gather of rows of `width` floats. */
function gatherComponents(width: number): number {
  return width % 4 === 0 ? 4 : 1;
}

/** The layout's sizes as uniforms; `width` is in vectors of `components`. */
function layoutUniforms(layout: PermuteLayout, width: number, components: number): ProgramUniforms {
  return new ProgramUniforms()
    .int('width', width / components)
    .int('groups', layout.groups)
    .int('seq', layout.sequenceLength)
    .int('tileVolume', layout.tileVolume)
    .int('tokens', layout.tokens)
    .perAxis('size', layout.spatialShape)
    .perAxis('tile', layout.tileShape)
    .perAxis('tiles', layout.tilesPerDim)
    .perAxis('dil', layout.dilation);
}

abstract class TokenGatherProgram extends FlatProgram {
  protected rank: number;

  constructor(name: string, layout: PermuteLayout, width: number,
              outputShape: number[]) {
    const c = gatherComponents(width);
    const rank = layout.spatialShape.length;
    super(`${name}_r${rank}_c${c}`, outputShape, c, layoutUniforms(layout, width, c));
    this.rank = rank;
  }
}

/** `[B, ...spatial, H, E]` to `[B*G, seq, H*E]`, zero padded. */
export class TokenPermuteProgram extends TokenGatherProgram {
  constructor(layout: PermuteLayout, batch: number, width: number) {
    super('gnaTokenPermute', layout, width,
      [batch * layout.groups, layout.sequenceLength, width]);
  }

  getUserCode(): string {
    const rank = this.rank;
    const axes = Array.from({ length: rank }, (_, a) => a);
    const L = axisUniforms('size', rank);
    return `
      fn main(index : i32) {
        if (index >= uniforms.size) { return; }
        let c = index % uniforms.width;
        let token = index / uniforms.width;
        let seq = token % uniforms.seq;
        let bg = token / uniforms.seq;
        let b = bg / uniforms.groups;
        ${decodeIndex('g', 'bg % uniforms.groups', axisUniforms('dil', rank))}
        ${decodeIndex('r', 'seq / uniforms.tileVolume', axisUniforms('tiles', rank))}
        ${decodeIndex('t', 'seq % uniforms.tileVolume', axisUniforms('tile', rank))}
        ${axes.map((a) => `let x${a} = (r${a} * uniforms.tile${a} + t${a}) * uniforms.dil${a} + g${a};`).join('\n')}
        if (${axes.map((a) => `x${a} < uniforms.size${a}`).join(' && ')}) {
          let src = b * uniforms.tokens + ${linearIndex(axes.map((a) => `x${a}`), L)};
          result[index] = x[src * uniforms.width + c];
        } else {
          result[index] = ${this.outputComponent === 4 ? 'vec4<f32>(0.0)' : '0.0'};
        }
      }`;
  }
}

/** `[B*G, seq, H*E]` back to `[B, tokens, H*E]`. */
export class TokenUnpermuteProgram extends TokenGatherProgram {
  constructor(layout: PermuteLayout, batch: number, width: number) {
    super('gnaTokenUnpermute', layout, width, [batch, layout.tokens, width]);
  }

  getUserCode(): string {
    const rank = this.rank;
    const axes = Array.from({ length: rank }, (_, a) => a);
    const u = axes.map((a) => `u${a}`);
    return `
      fn main(index : i32) {
        if (index >= uniforms.size) { return; }
        let c = index % uniforms.width;
        let token = index / uniforms.width;
        let b = token / uniforms.tokens;
        ${decodeIndex('x', 'token % uniforms.tokens', axisUniforms('size', rank))}
        ${axes.map((a) => `let u${a} = x${a} / uniforms.dil${a};`).join('\n')}
        let group = ${linearIndex(axes.map((a) => `x${a} % uniforms.dil${a}`), axisUniforms('dil', rank))};
        let seq = ${permutedPosition(u, axisUniforms('tile', rank), axisUniforms('tiles', rank), 'uniforms.tileVolume')};
        let bg = b * uniforms.groups + group;
        result[index] = x[(bg * uniforms.seq + seq) * uniforms.width + c];
      }`;
  }
}

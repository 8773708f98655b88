/**
 * Small WGSL builders shared by the programs of this folder. Shapes are baked into the shader as
 * constants (and into its shader key), so per-axis code is unrolled here in TypeScript rather
 * than looped over in WGSL.
 */

/** A line in a program's code that asks for `enable subgroups;` (see subgroups.ts). */
export const SUBGROUPS_MARKER = '// gna: enable subgroups';

/** One `let` per axis: `let <prefix><a> = <expr(a)>;`. */
export function perAxis(rank: number, line: (a: number) => string): string {
  return Array.from({ length: rank }, (_, a) => line(a)).join('\n');
}

/**
 * Row-major coordinates of `index` in a box of `dims` (numbers or WGSL expressions), one `let`
 * per axis named `<prefix><a>`.
 */
export function decodeIndex(prefix: string, index: string, dims: Array<number | string>): string {
  const rank = dims.length;
  return perAxis(rank, (a) => {
    const inner = dims.slice(a + 1);
    const div = inner.length === 0 ? index : `(${index}) / (${inner.join(' * ')})`;
    return a === 0 ? `let ${prefix}${a} = ${div};` : `let ${prefix}${a} = (${div}) % (${dims[a]});`;
  });
}

/** Row-major linear index of coordinates `coords` (expressions) in a box of `dims`. */
export function linearIndex(coords: string[], dims: Array<number | string>): string {
  let expr = `(${coords[0]})`;
  for (let a = 1; a < coords.length; a++) expr = `(${expr} * ${dims[a]} + (${coords[a]}))`;
  return expr;
}

/**
 * Position in the token-permuted sequence (spec §4) of in-group coordinates `u<a>`: the tile
 * index `u / T` row-major over the tiles of a group, times the tile volume, plus the position
 * `u % T` row-major inside the tile.
 */
export function permutedPosition(u: string[], tileShape: Array<number | string>,
                                 tilesPerDim: Array<number | string>, tileVolume: number | string): string {
  const tile = linearIndex(u.map((x, a) => `${x} / ${tileShape[a]}`), tilesPerDim);
  const inTile = linearIndex(u.map((x, a) => `${x} % ${tileShape[a]}`), tileShape);
  return `(${tile} * ${tileVolume} + ${inTile})`;
}

/**
 * Problem sizes passed as uniforms rather than baked into the shader, so that one compiled
 * pipeline serves every problem with the same tile sizes and head dims: `uniforms.<name>`.
 */
export class ProgramUniforms {
  private fields: Array<{ name: string; type: 'int32' | 'float32'; value: number }> = [];

  int(name: string, value: number): this {
    this.fields.push({ name, type: 'int32', value });
    return this;
  }

  float(name: string, value: number): this {
    this.fields.push({ name, type: 'float32', value });
    return this;
  }

  /** One field per axis: `<name><a>`. */
  perAxis(name: string, values: number[]): this {
    values.forEach((v, a) => this.int(`${name}${a}`, v));
    return this;
  }

  /** The program's `uniforms` declaration (fields after tfjs's own). */
  declaration(): string {
    return this.fields.map((f) => `${f.name} : ${f.type === 'int32' ? 'i32' : 'f32'},`).join(' ');
  }

  /** The `programDefinedUniform` argument of `runWebGPUProgram`, in declaration order. */
  data(): Array<{ type: 'int32' | 'float32'; data: number[] }> {
    return this.fields.map((f) => ({ type: f.type, data: [f.value] }));
  }
}

/** `uniforms.<name><a>` for every axis. */
export function axisUniforms(name: string, rank: number): string[] {
  return Array.from({ length: rank }, (_, a) => `uniforms.${name}${a}`);
}

/** `cond(0) && cond(1) && ...` over the axes. */
export function allAxes(rank: number, cond: (a: number) => string): string {
  return Array.from({ length: rank }, (_, a) => cond(a)).join(' && ');
}

/** Minimum of per-axis expressions. */
export function minOf(exprs: string[]): string {
  return exprs.reduce((acc, e) => `min(${acc}, ${e})`);
}

/**
 * A `fn <name>(row: i32, c4: i32) -> vec4<f32>` reading the `c4`-th group of four of row `row`
 * of a `[rows, width]` input: one vec4 load when the input is bound as vec4 (width % 4 == 0),
 * otherwise up to four guarded scalar loads (zeros past `width`).
 */
export function vec4RowLoader(name: string, input: string, width: number): string {
  if (width % 4 === 0) {
    return `fn ${name}(row : i32, c4 : i32) -> vec4<f32> { return ${input}[row * ${width / 4} + c4]; }`;
  }
  const lanes = [0, 1, 2, 3].map((c) =>
    `  if (c4 * 4 + ${c} < ${width}) { r[${c}] = ${input}[row * ${width} + c4 * 4 + ${c}]; }`);
  return [`fn ${name}(row : i32, c4 : i32) -> vec4<f32> {`, '  var r = vec4<f32>(0.0);',
    ...lanes, '  return r;', '}'].join('\n');
}

/** Binding width of a `[rows, width]` input: vec4 when every row is whole vec4s. */
export function componentsOf(width: number): number {
  return width % 4 === 0 ? 4 : 1;
}

/** Writes the first `width - 4*c4` (at most 4) lanes of `value` to `result[base + 4*c4 + i]`. */
export function scalarRowStore(base: string, c4: string, value: string, width: number): string {
  return [0, 1, 2, 3].map((c) =>
    `if (${c4} * 4 + ${c} < ${width}) { result[${base} + ${c4} * 4 + ${c}] = ${value}[${c}]; }`)
    .join('\n');
}

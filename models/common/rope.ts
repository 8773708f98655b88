/**
 * Rotary position embedding over up to three axes (models.md §1, §2.5, §3.1, §4.1). Both styles
 * rotate feature pairs by `p·ω_j` with `ω_j = θ^(-2j/d_axis)`; they differ only in which
 * features form a pair:
 *  - `interleaved` (FLUX, HunyuanVideo): pairs `(x[2i], x[2i+1])`, axis segments side by side.
 *  - `halfSplit` (Cosmos, NeoX): pairs `(x[i], x[i+D/2])`; each half lists the axes' frequencies.
 * Either way the per-token list of D/2 angles is the axes' angle lists concatenated in axis order;
 * only its expansion to D entries differs (repeat each vs. repeat the list).
 */
import * as tf from '@tensorflow/tfjs-core';

export type RopeStyle = 'interleaved' | 'halfSplit';

export interface RopeConfig {
  /** Head features per axis (even numbers, summing to the head dim). FLUX `[16, 56, 56]`. */
  axesDim: number[];
  /** θ per axis (a scalar applies to every axis). */
  theta: number | number[];
  style: RopeStyle;
}

/** cos/sin tables `[tokens, 1, headDim]` (the 1 broadcasts over heads) in float32. */
export interface RopeTable {
  cos: tf.Tensor;
  sin: tf.Tensor;
  tokens: number;
}

function checkConfig(cfg: RopeConfig): number[] {
  const axes = cfg.axesDim.length;
  if (axes < 1) throw new Error('rope: axesDim must list at least one axis');
  cfg.axesDim.forEach((d, a) => {
    if (!Number.isInteger(d) || d < 2 || d % 2 !== 0) {
      throw new Error(`rope: axesDim[${a}]=${d} must be a positive even integer`);
    }
  });
  const theta = Array.isArray(cfg.theta) ? cfg.theta : cfg.axesDim.map(() => cfg.theta as number);
  if (theta.length !== axes || theta.some((t) => !(t > 0) || !Number.isFinite(t))) {
    throw new Error(`rope: theta=${JSON.stringify(cfg.theta)} must be a positive number or one ` +
      `per axis (${axes} axes)`);
  }
  if (cfg.style !== 'interleaved' && cfg.style !== 'halfSplit') {
    throw new Error(`rope: style=${String(cfg.style)} must be 'interleaved' or 'halfSplit'`);
  }
  return theta;
}

/** The head dim a config covers. */
export function ropeHeadDim(cfg: RopeConfig): number {
  return cfg.axesDim.reduce((a, b) => a + b, 0);
}

/** `ω_j = θ^(-2j/d)` for `j < d/2`, in float64 as diffusers computes them. */
export function ropeFrequencies(axisDim: number, theta: number): Float64Array {
  const f = new Float64Array(axisDim / 2);
  for (let j = 0; j < f.length; j++) f[j] = Math.pow(theta, -2 * j / axisDim);
  return f;
}

/**
 * Per-token positions, one row of `axes` numbers per token, for a visual grid. The grid's dims
 * map to the LAST `grid.length` axes (FLUX's 2-D image uses axes 1, 2; axis 0 stays 0); `scale`
 * multiplies an axis's integer coordinate (Cosmos's temporal `24 / fps`).
 */
export function gridPositions(grid: number[], axes: number, scale?: number[]): Float64Array {
  if (grid.length > axes) {
    throw new Error(`rope: grid [${grid}] has more dims than the ${axes} RoPE axes`);
  }
  const tokens = grid.reduce((a, b) => a * b, 1);
  const out = new Float64Array(tokens * axes);
  const first = axes - grid.length;
  for (let i = 0; i < tokens; i++) {
    let rest = i;
    for (let g = grid.length - 1; g >= 0; g--) {
      const c = rest % grid[g];
      rest = Math.floor(rest / grid[g]);
      out[i * axes + first + g] = c * (scale?.[g] ?? 1);
    }
  }
  return out;
}

/** Positions of `count` text tokens: all zero (FLUX `txt_ids`), so their rotation is identity. */
export function textPositions(count: number, axes: number): Float64Array {
  return new Float64Array(count * axes);
}

/** Concatenates position lists in token order (FLUX: text then image). */
export function concatPositions(...lists: Float64Array[]): Float64Array {
  const out = new Float64Array(lists.reduce((a, l) => a + l.length, 0));
  let at = 0;
  for (const l of lists) {
    out.set(l, at);
    at += l.length;
  }
  return out;
}

/** The cos/sin tables of `positions` (tokens × axes, row-major) under `cfg`. */
export function ropeTable(positions: Float64Array, cfg: RopeConfig): RopeTable {
  const theta = checkConfig(cfg);
  const axes = cfg.axesDim.length;
  if (positions.length % axes !== 0) {
    throw new Error(`rope: ${positions.length} position entries is not a multiple of ${axes} axes`);
  }
  const tokens = positions.length / axes;
  const freqs = cfg.axesDim.map((d, a) => ropeFrequencies(d, theta[a]));
  const half = ropeHeadDim(cfg) / 2;
  const dim = 2 * half;
  const cos = new Float32Array(tokens * dim);
  const sin = new Float32Array(tokens * dim);
  for (let t = 0; t < tokens; t++) {
    let j = 0;
    for (let a = 0; a < axes; a++) {
      const p = positions[t * axes + a];
      for (const w of freqs[a]) {
        const c = Math.cos(p * w);
        const s = Math.sin(p * w);
        const [i0, i1] = cfg.style === 'interleaved' ? [2 * j, 2 * j + 1] : [j, j + half];
        cos[t * dim + i0] = c; cos[t * dim + i1] = c;
        sin[t * dim + i0] = s; sin[t * dim + i1] = s;
        j++;
      }
    }
  }
  return {
    cos: tf.tensor3d(cos, [tokens, 1, dim]),
    sin: tf.tensor3d(sin, [tokens, 1, dim]),
    tokens,
  };
}

/** The feature-pair partner of every entry, signed so that `x·cos + partner·sin` rotates. */
function rotatePairs(x: tf.Tensor, style: RopeStyle): tf.Tensor {
  const dim = x.shape[x.rank - 1] as number;
  if (style === 'interleaved') {
    const pairs = tf.reshape(x, [...x.shape.slice(0, -1), dim / 2, 2]);
    const [even, odd] = tf.split(pairs, 2, -1);
    return tf.reshape(tf.concat([tf.neg(odd), even], -1), x.shape);
  }
  const [first, second] = tf.split(x, 2, -1);
  return tf.concat([tf.neg(second), first], -1);
}

/** Rotates `x` `[B, tokens, heads, headDim]` by the table (whose tokens must match). */
export function applyRope(x: tf.Tensor, table: RopeTable, style: RopeStyle): tf.Tensor {
  if (x.rank !== 4 || x.shape[1] !== table.tokens || x.shape[3] !== table.cos.shape[2]) {
    throw new Error(`rope: x shape [${x.shape}] must be [batch, ${table.tokens}, heads, ` +
      `${table.cos.shape[2]}] to match the RoPE table`);
  }
  return tf.tidy(() => tf.add(tf.mul(x, table.cos), tf.mul(rotatePairs(x, style), table.sin)));
}

/** Re-orders a table's tokens: row `i` of the result is row `order[i]` of `table`. */
export function gatherRopeTable(table: RopeTable, order: Int32Array): RopeTable {
  return tf.tidy(() => {
    const idx = tf.tensor1d(order, 'int32');
    return { cos: tf.gather(table.cos, idx), sin: tf.gather(table.sin, idx), tokens: order.length };
  });
}

export function disposeRopeTable(table: RopeTable) {
  tf.dispose([table.cos, table.sin]);
}

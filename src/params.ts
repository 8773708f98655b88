/**
 * Argument normalisation and validation for every op of the package, in one place (spec §2).
 * Ops call these once; kernels receive plain, already-checked numbers and never re-check rules.
 * Every error names the op, the argument, the offending value and the rule it breaks.
 */
import { AxisWindow, dilationGroupLength } from './window';

/** Kernel attributes of `GeneralizedNeighborhoodAttention`: one entry per spatial axis. */
export interface GnaAttrs {
  windowSize: number[];
  stride: number[];
  dilation: number[];
  isCausal: boolean[];
  scale: number;
}

/** A fully described GNA problem: the attributes plus the shapes they apply to. */
export interface GnaProblem extends GnaAttrs {
  batch: number;
  spatialShape: number[];
  heads: number;
  kvHeads: number;
  headDim: number;
  valueDim: number;
}

/** User-facing per-axis options: a scalar broadcasts to every spatial axis. */
export type PerAxis<T> = T | T[];

export interface GnaWindowOptions {
  windowSize: PerAxis<number>;
  stride?: PerAxis<number>;
  dilation?: PerAxis<number>;
  isCausal?: PerAxis<boolean>;
  scale?: number;
}

export interface TensorInfoLike {
  shape: number[];
  dtype: string;
}

function fail(op: string, message: string): never {
  throw new Error(`${op}: ${message}`);
}

function fmt(value: unknown): string {
  return Array.isArray(value) ? `[${value.join(', ')}]` : String(value);
}

/** Broadcasts a scalar or checks a per-axis array, then checks each entry with `isValid`. */
function perAxis<T>(op: string, name: string, value: PerAxis<T> | undefined, fallback: T,
                    rank: number, isValid: (v: T) => boolean, rule: string): T[] {
  const values = value === undefined ? new Array<T>(rank).fill(fallback)
    : Array.isArray(value) ? value : new Array<T>(rank).fill(value);
  if (values.length !== rank) {
    fail(op, `${name}=${fmt(value)} has ${values.length} entries but the input has ${rank} ` +
      `spatial dims (give one value per spatial dim, or a scalar)`);
  }
  values.forEach((v, i) => {
    if (!isValid(v)) fail(op, `${name}[${i}]=${fmt(v)} is invalid (${rule})`);
  });
  return values.slice();
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/**
 * Normalises window options for a grid of `spatialShape` and checks them against it:
 * windowSize >= 2, stride >= 1, dilation >= 1, windowSize*dilation <= size, stride <= windowSize.
 */
export function normalizeWindowOptions(op: string, options: GnaWindowOptions,
                                       spatialShape: number[], headDim: number): GnaAttrs {
  if (options === null || typeof options !== 'object') {
    fail(op, `options must be an object with at least windowSize, got ${fmt(options)}`);
  }
  if (options.windowSize === undefined) fail(op, 'options.windowSize is required');
  const rank = spatialShape.length;
  const windowSize = perAxis(op, 'windowSize', options.windowSize, 0, rank,
    (v) => isInt(v) && v >= 2, 'windowSize must be an integer >= 2');
  const stride = perAxis(op, 'stride', options.stride, 1, rank,
    (v) => isInt(v) && v >= 1, 'stride must be a positive integer');
  const dilation = perAxis(op, 'dilation', options.dilation, 1, rank,
    (v) => isInt(v) && v >= 1, 'dilation must be a positive integer');
  const isCausal = perAxis(op, 'isCausal', options.isCausal, false, rank,
    (v) => typeof v === 'boolean', 'isCausal must be a boolean');
  for (let i = 0; i < rank; i++) {
    if (windowSize[i] * dilation[i] > spatialShape[i]) {
      fail(op, `windowSize[${i}]=${windowSize[i]} with dilation[${i}]=${dilation[i]} exceeds ` +
        `spatial size ${spatialShape[i]} (windowSize*dilation <= size)`);
    }
    if (stride[i] > windowSize[i]) {
      fail(op, `stride[${i}]=${stride[i]} exceeds windowSize[${i}]=${windowSize[i]} ` +
        `(stride <= windowSize)`);
    }
  }
  let scale = 1 / Math.sqrt(headDim);
  if (options.scale !== undefined) {
    // NATTEN silently maps scale=0 to the default; we reject it rather than surprise anyone.
    if (typeof options.scale !== 'number' || !Number.isFinite(options.scale) || options.scale === 0) {
      fail(op, `scale=${fmt(options.scale)} must be a finite non-zero number ` +
        `(omit it for the default headDim^-0.5)`);
    }
    scale = options.scale;
  }
  return { windowSize, stride, dilation, isCausal, scale };
}

function checkFloat32(op: string, name: string, t: TensorInfoLike) {
  if (t.dtype !== 'float32') fail(op, `${name} has dtype ${t.dtype} (only float32 is supported)`);
}

/** Checks q `[B, ...L, H, D]`, k `[B, ...L, Hkv, D]`, v `[B, ...L, Hkv, Dv]` and the options. */
export function normalizeGnaProblem(q: TensorInfoLike, k: TensorInfoLike, v: TensorInfoLike,
                                    options: GnaWindowOptions, op = 'gna'): GnaProblem {
  checkFloat32(op, 'query', q);
  checkFloat32(op, 'key', k);
  checkFloat32(op, 'value', v);
  const rank = q.shape.length;
  if (rank < 4 || rank > 6) {
    fail(op, `query has rank ${rank} (shape ${fmt(q.shape)}); expected rank 4, 5 or 6: ` +
      `[batch, ...spatial (1 to 3 dims), heads, headDim]`);
  }
  for (const [name, t] of [['key', k], ['value', v]] as const) {
    if (t.shape.length !== rank) {
      fail(op, `${name} has rank ${t.shape.length} (shape ${fmt(t.shape)}) but query has rank ` +
        `${rank} (query, key and value must have the same rank)`);
    }
  }
  const spatialShape = q.shape.slice(1, rank - 2);
  const [batch, heads, headDim] = [q.shape[0], q.shape[rank - 2], q.shape[rank - 1]];
  const kvHeads = k.shape[rank - 2];
  const valueDim = v.shape[rank - 1];
  for (const [name, t] of [['key', k], ['value', v]] as const) {
    if (t.shape[0] !== batch) {
      fail(op, `${name} batch ${t.shape[0]} != query batch ${batch} (batch sizes must match)`);
    }
    const s = t.shape.slice(1, rank - 2);
    if (s.some((x, i) => x !== spatialShape[i])) {
      fail(op, `${name} spatial shape ${fmt(s)} != query spatial shape ${fmt(spatialShape)} ` +
        `(query, key and value must share one token grid)`);
    }
  }
  if (k.shape[rank - 1] !== headDim) {
    fail(op, `key headDim ${k.shape[rank - 1]} != query headDim ${headDim} (they must match)`);
  }
  if (v.shape[rank - 2] !== kvHeads) {
    fail(op, `value heads ${v.shape[rank - 2]} != key heads ${kvHeads} (they must match)`);
  }
  if (kvHeads < 1 || heads % kvHeads !== 0) {
    fail(op, `key/value heads ${kvHeads} do not evenly divide query heads ${heads} ` +
      `(heads % kvHeads == 0, as GQA requires)`);
  }
  if ([...q.shape, ...k.shape, ...v.shape].some((x) => x < 1)) {
    fail(op, `every dimension must be at least 1 (query ${fmt(q.shape)}, key ${fmt(k.shape)}, ` +
      `value ${fmt(v.shape)})`);
  }
  const attrs = normalizeWindowOptions(op, options, spatialShape, headDim);
  return { ...attrs, batch, spatialShape, heads, kvHeads, headDim, valueDim };
}

/** Checks additional keys/values `[B, S, Hkv, D|Dv]` against a validated problem (§2). */
export function checkAdditionalKv(problem: GnaProblem, keys: TensorInfoLike | undefined,
                                  values: TensorInfoLike | undefined, op = 'gna'): boolean {
  if (keys === undefined && values === undefined) return false;
  if (keys === undefined || values === undefined) {
    fail(op, 'additionalKeys and additionalValues must be given together (got only ' +
      `${keys === undefined ? 'additionalValues' : 'additionalKeys'})`);
  }
  checkFloat32(op, 'additionalKeys', keys);
  checkFloat32(op, 'additionalValues', values);
  const expect: Array<[string, TensorInfoLike, number]> =
    [['additionalKeys', keys, problem.headDim], ['additionalValues', values, problem.valueDim]];
  for (const [name, t, dim] of expect) {
    const s = t.shape;
    if (s.length !== 4) {
      fail(op, `${name} has rank ${s.length} (shape ${fmt(s)}); expected rank 4 [batch, tokens, ` +
        'kvHeads, dim]');
    }
    if (s[0] !== problem.batch || s[2] !== problem.kvHeads || s[3] !== dim || s[1] < 1) {
      fail(op, `${name} shape ${fmt(s)} must be [${problem.batch}, S >= 1, ${problem.kvHeads}, ` +
        `${dim}] (batch, kvHeads and dim of the key/value)`);
    }
  }
  if (keys.shape[1] !== values.shape[1]) {
    fail(op, `additionalKeys has ${keys.shape[1]} tokens but additionalValues has ` +
      `${values.shape[1]} (they must match)`);
  }
  return true;
}

/** The window rule of one spatial axis inside dilation group `group`. */
export function axisWindow(attrs: GnaAttrs, spatialShape: number[], axis: number,
                           group: number): AxisWindow {
  return {
    n: dilationGroupLength(spatialShape[axis], attrs.dilation[axis], group),
    windowSize: attrs.windowSize[axis],
    stride: attrs.stride[axis],
    isCausal: attrs.isCausal[axis],
  };
}

/** Options of the token permute and unpermute ops. */
export interface TokenPermuteOptions {
  tileShape: PerAxis<number>;
  dilation?: PerAxis<number>;
}

export interface TokenUnpermuteOptions extends TokenPermuteOptions {
  /** The original spatial shape, which the padded permuted layout no longer holds. */
  shape: number[];
}

export interface TokenPermuteAttrs {
  tileShape: number[];
  dilation: number[];
  spatialShape: number[];
}

/** Validates `x` `[B, ...spatial, H, E]` and the tile/dilation options of token permutation. */
export function normalizeTokenPermute(op: string, spatialShape: number[],
                                      options: TokenPermuteOptions): TokenPermuteAttrs {
  if (options === null || typeof options !== 'object' || options.tileShape === undefined) {
    fail(op, 'options.tileShape is required');
  }
  const rank = spatialShape.length;
  if (rank < 1 || rank > 3) fail(op, `expected 1 to 3 spatial dims, got ${rank}`);
  const tileShape = perAxis(op, 'tileShape', options.tileShape, 0, rank,
    (v) => isInt(v) && v >= 1, 'tileShape must be a positive integer');
  const dilation = perAxis(op, 'dilation', options.dilation, 1, rank,
    (v) => isInt(v) && v >= 1, 'dilation must be a positive integer');
  spatialShape.forEach((L, i) => {
    if (!isInt(L) || L < 1) fail(op, `spatial size ${i} is ${L} (must be a positive integer)`);
  });
  return { tileShape, dilation, spatialShape: spatialShape.slice() };
}

export function checkTensorRank(op: string, name: string, t: TensorInfoLike, min: number,
                                max: number, layout: string) {
  if (t.shape.length < min || t.shape.length > max) {
    const expected = min === max ? `${min}` : `${min} to ${max}`;
    fail(op, `${name} has rank ${t.shape.length} (shape ${fmt(t.shape)}); expected rank ` +
      `${expected}: ${layout}`);
  }
  checkFloat32(op, name, t);
}

/**
 * Inputs of the tile simulator and their validation. The window options go through the same
 * `normalizeWindowOptions` as the `gna` op (spec §2), so the simulator accepts exactly the
 * problems the kernels accept; tile shapes and the end-to-end inputs are checked here.
 */
import { GnaAttrs, PerAxis, normalizeWindowOptions } from '../params';

/**
 * How tokens are grouped into tiles. `multi`: tiles are boxes over the spatial dims, on tokens
 * permuted tile by tile (spec §4), as NATTEN's fused kernels do. `1d`: tiles of consecutive
 * tokens of the row-major flattened grid, as a plain 1-D kernel on unpermuted tokens would.
 * With dilation, either way tiles live inside one dilation group.
 */
export type Tiling = 'multi' | '1d';

export interface SimulationConfig {
  /** Spatial shape (1 to 3 dims). */
  shape: number[];
  windowSize: PerAxis<number>;
  stride?: PerAxis<number>;
  dilation?: PerAxis<number>;
  isCausal?: PerAxis<boolean>;
  /** Q tile: one extent per spatial dim under `multi`, one token count under `1d`. */
  qTile: PerAxis<number>;
  /** KV tile, like `qTile`. */
  kvTile: PerAxis<number>;
  /** Default `multi`. */
  tiling?: Tiling;
  /** Share of end-to-end time spent in the attention being replaced, in [0, 1] (paper Tab. 1). */
  attentionShare?: number;
  /** Fraction of the steps that use GNA rather than dense attention, in [0, 1]; default 1. */
  sparseStepFraction?: number;
}

/** A validated configuration: every per-axis option spelled out. */
export interface NormalizedSimulationConfig {
  shape: number[];
  windowSize: number[];
  stride: number[];
  dilation: number[];
  isCausal: boolean[];
  /** Per spatial dim under `multi`; a single entry under `1d`. */
  qTile: number[];
  kvTile: number[];
  tiling: Tiling;
  attentionShare?: number;
  sparseStepFraction: number;
}

const OP = 'simulate';

function fail(message: string): never {
  throw new Error(`${OP}: ${message}`);
}

const isPositiveInt = (v: unknown): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 1;

function fmt(value: unknown): string {
  return Array.isArray(value) ? `[${value.join(', ')}]` : String(value);
}

function tileShape(name: string, value: PerAxis<number> | undefined, rank: number,
                   tiling: Tiling): number[] {
  if (value === undefined) fail(`${name} is required`);
  const expected = tiling === '1d' ? 1 : rank;
  const values = Array.isArray(value) ? value : new Array<number>(expected).fill(value);
  if (values.length !== expected) {
    fail(`${name}=${fmt(value)} has ${values.length} entries; tiling '${tiling}' needs ` +
      (tiling === '1d' ? 'one token count' : `one extent per spatial dim (${rank})`));
  }
  values.forEach((v, i) => {
    if (!isPositiveInt(v)) fail(`${name}[${i}]=${fmt(v)} is invalid (tile extents are positive integers)`);
  });
  return values.slice();
}

function fraction(name: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    fail(`${name}=${fmt(value)} must be a number in [0, 1]`);
  }
  return value;
}

export function normalizeSimulationConfig(config: SimulationConfig): NormalizedSimulationConfig {
  if (config === null || typeof config !== 'object') fail(`config must be an object, got ${fmt(config)}`);
  const { shape } = config;
  if (!Array.isArray(shape) || shape.length < 1 || shape.length > 3) {
    fail(`shape=${fmt(shape)} must list 1 to 3 spatial sizes`);
  }
  shape.forEach((L, i) => {
    if (!isPositiveInt(L)) fail(`shape[${i}]=${fmt(L)} is invalid (sizes are positive integers)`);
  });
  const tiling = config.tiling ?? 'multi';
  if (tiling !== 'multi' && tiling !== '1d') fail(`tiling=${fmt(tiling)} must be 'multi' or '1d'`);
  const attrs: GnaAttrs = normalizeWindowOptions(OP, {
    windowSize: config.windowSize, stride: config.stride, dilation: config.dilation,
    isCausal: config.isCausal,
  }, shape, 1);
  return {
    shape: shape.slice(),
    windowSize: attrs.windowSize,
    stride: attrs.stride,
    dilation: attrs.dilation,
    isCausal: attrs.isCausal,
    qTile: tileShape('qTile', config.qTile, shape.length, tiling),
    kvTile: tileShape('kvTile', config.kvTile, shape.length, tiling),
    tiling,
    attentionShare: fraction('attentionShare', config.attentionShare),
    sparseStepFraction: fraction('sparseStepFraction', config.sparseStepFraction) ?? 1,
  };
}

/** The attributes of `gna` a normalised config stands for (scale is irrelevant here). */
export function attrsOf(config: NormalizedSimulationConfig): GnaAttrs {
  const { windowSize, stride, dilation, isCausal } = config;
  return { windowSize, stride, dilation, isCausal, scale: 1 };
}

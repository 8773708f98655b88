/**
 * Maps checkpoint tensors (original or diffusers names, models.md §2.7, §3.6, §4.5) to block
 * parameters. Each parameter says where it lives in each format: a whole tensor, or a row range
 * of a fused one (FLUX/Hunyuan `qkv` and single-block `linear1`, split as the diffusers
 * converters `chunk` them). Every tensor's presence and shape is checked before any is read.
 */
import * as tf from '@tensorflow/tfjs-core';
import { TensorSource } from './safetensors';

export type CheckpointFormat = 'original' | 'diffusers';

/** A tensor of a checkpoint, or rows `[start, end)` of its first dim. */
export interface TensorRef {
  name: string;
  /** The full shape the checkpoint must hold. */
  shape: number[];
  rows?: [number, number];
}

export interface ParamSpec {
  /** The block's parameter name (`imgQ.weight`). */
  param: string;
  original: TensorRef;
  diffusers: TensorRef;
}

export interface LoadOptions {
  /** Which naming the checkpoint uses; `auto` (default) looks for the first parameter's names. */
  format?: CheckpointFormat | 'auto';
  /** Prepended to every name (a converted pickle may keep `module.`, say). */
  prefix?: string;
}

export type BlockParams = Record<string, tf.Tensor>;

/** A whole checkpoint tensor. */
export function whole(name: string, shape: number[]): TensorRef {
  return { name, shape };
}

/** Rows `[start, end)` of a checkpoint tensor's first dim. */
export function rows(name: string, shape: number[], start: number, end: number): TensorRef {
  return { name, shape, rows: [start, end] };
}

function paramShape(ref: TensorRef): number[] {
  return ref.rows === undefined ? ref.shape : [ref.rows[1] - ref.rows[0], ...ref.shape.slice(1)];
}

function detectFormat(source: TensorSource, specs: ParamSpec[], prefix: string,
                      what: string): CheckpointFormat {
  const first = specs[0];
  if (source.entry(prefix + first.original.name) !== undefined) return 'original';
  if (source.entry(prefix + first.diffusers.name) !== undefined) return 'diffusers';
  throw new Error(`loadParams: ${what}: ${source.description} holds neither '${prefix}` +
    `${first.original.name}' (original names) nor '${prefix}${first.diffusers.name}' (diffusers ` +
    `names); is it the right checkpoint, block index and prefix?`);
}

/**
 * Loads `specs` from `source` as float32 tensors, keyed by parameter name. `what` names the
 * block in errors ("FLUX double-stream block 3").
 */
export function loadParams(source: TensorSource, specs: ParamSpec[], what: string,
                           options: LoadOptions = {}): BlockParams {
  const prefix = options.prefix ?? '';
  const format = options.format === undefined || options.format === 'auto'
    ? detectFormat(source, specs, prefix, what) : options.format;
  if (format !== 'original' && format !== 'diffusers') {
    throw new Error(`loadParams: format '${String(format)}' must be 'original', 'diffusers' or 'auto'`);
  }
  for (const spec of specs) {
    const ref = spec[format];
    const name = prefix + ref.name;
    const entry = source.entry(name);
    if (entry === undefined) {
      throw new Error(`loadParams: ${what}: missing tensor '${name}' (parameter ${spec.param}, ` +
        `${format} names) in ${source.description}`);
    }
    if (entry.shape.length !== ref.shape.length || entry.shape.some((d, i) => d !== ref.shape[i])) {
      throw new Error(`loadParams: ${what}: tensor '${name}' has shape [${entry.shape}] but ` +
        `parameter ${spec.param} needs [${ref.shape}]`);
    }
  }
  const cache = new Map<string, Float32Array>();
  const params: BlockParams = {};
  try {
    for (const spec of specs) {
      const ref = spec[format];
      const name = prefix + ref.name;
      let data = cache.get(name);
      if (data === undefined) {
        data = source.read(name);
        cache.set(name, data);
      }
      const rowSize = ref.shape.slice(1).reduce((a, b) => a * b, 1);
      // A row range is copied: backends may keep the array they are given, and a view would pin
      // the whole fused tensor (half of a modulation weight is never used).
      const slice = ref.rows === undefined ? data
        : data.slice(ref.rows[0] * rowSize, ref.rows[1] * rowSize);
      params[spec.param] = tf.tensor(slice, paramShape(ref), 'float32');
    }
  } catch (e) {
    tf.dispose(Object.values(params));
    throw e;
  }
  return params;
}

/** Checks a parameter record against specs (random or hand-made parameters, not loaded ones). */
export function checkParams(params: BlockParams, specs: ParamSpec[], what: string) {
  for (const spec of specs) {
    const t = params[spec.param];
    const shape = paramShape(spec.original);
    if (t === undefined) throw new Error(`${what}: missing parameter ${spec.param}`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`${what}: parameter ${spec.param} has shape [${t.shape}], needs [${shape}]`);
    }
  }
}

/**
 * Random parameters for specs (benchmarks and tests), N(0, std²) with norms near 1 so that
 * the activations stay in a realistic range.
 */
export function randomParams(specs: ParamSpec[], seed: number, std = 0.02): BlockParams {
  const params: BlockParams = {};
  specs.forEach((spec, i) => {
    const shape = paramShape(spec.original);
    params[spec.param] = shape.length === 1 && /norm/i.test(spec.param)
      ? tf.tidy(() => tf.add(tf.randomUniform(shape, -0.2, 0.2, 'float32', seed + i), 1))
      : tf.randomNormal(shape, 0, std, 'float32', seed + i);
  });
  return params;
}

/**
 * Builders of parameter specs for the checkpoint layouts the three models share (models.md §1):
 * fused `[3][heads][headDim]` QKV rows, linear layers with bias, the rows of a modulation the
 * attention uses, and per-head norm weights.
 */
import { ParamSpec, rows, whole } from './weights';

/** Q/K/V parameter specs from a fused `[3C, C]` tensor (`[3][heads][headDim]` rows) or three. */
export function qkvSpecs(param: string, fused: string, split: string[], c: number,
                         rowsTotal: number): ParamSpec[] {
  return ['Q', 'K', 'V'].flatMap((x, i) => [
    { param: `${param}${x}.weight`, original: rows(`${fused}.weight`, [rowsTotal, c], i * c, (i + 1) * c),
      diffusers: whole(`${split[i]}.weight`, [c, c]) },
    { param: `${param}${x}.bias`, original: rows(`${fused}.bias`, [rowsTotal], i * c, (i + 1) * c),
      diffusers: whole(`${split[i]}.bias`, [c]) },
  ]);
}

/** A linear layer (weight and bias) under two names. */
export function linearSpecs(param: string, original: string, diffusers: string, shape: number[]): ParamSpec[] {
  return [
    { param: `${param}.weight`, original: whole(`${original}.weight`, shape), diffusers: whole(`${diffusers}.weight`, shape) },
    { param: `${param}.bias`, original: whole(`${original}.bias`, [shape[0]]), diffusers: whole(`${diffusers}.bias`, [shape[0]]) },
  ];
}

/** The first (shift, scale, gate) of a `k`-triple modulation: the rows the attention uses. */
export function modulationSpecs(param: string, original: string, diffusers: string, c: number,
                                triples: number): ParamSpec[] {
  const total = 3 * triples * c;
  return [
    { param: `${param}.weight`, original: rows(`${original}.weight`, [total, c], 0, 3 * c),
      diffusers: rows(`${diffusers}.weight`, [total, c], 0, 3 * c) },
    { param: `${param}.bias`, original: rows(`${original}.bias`, [total], 0, 3 * c),
      diffusers: rows(`${diffusers}.bias`, [total], 0, 3 * c) },
  ];
}

export function normSpec(param: string, original: string, diffusers: string, d: number): ParamSpec {
  return { param, original: whole(original, [d]), diffusers: whole(diffusers, [d]) };
}

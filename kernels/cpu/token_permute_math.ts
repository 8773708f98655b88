/** Token permute/unpermute on typed arrays, through the gather map of `src/layout.ts`. */
import { PermuteLayout, permuteGatherMap } from '../../src/layout';

/** `x` `[B, tokens, H*E]` to `[B*G, seq, H*E]`, zeros in padding slots. */
export function permuteTokens(layout: PermuteLayout, x: Float32Array, batch: number,
                              width: number): Float32Array {
  const map = permuteGatherMap(layout);
  const out = new Float32Array(batch * map.length * width);
  for (let b = 0; b < batch; b++) {
    for (let slot = 0; slot < map.length; slot++) {
      const src = map[slot];
      if (src < 0) continue;
      const from = (b * layout.tokens + src) * width;
      out.set(x.subarray(from, from + width), (b * map.length + slot) * width);
    }
  }
  return out;
}

/** `y` `[B*G, seq, H*E]` back to `[B, tokens, H*E]`; padding slots are dropped. */
export function unpermuteTokens(layout: PermuteLayout, y: Float32Array, batch: number,
                                width: number): Float32Array {
  const map = permuteGatherMap(layout);
  const out = new Float32Array(batch * layout.tokens * width);
  for (let b = 0; b < batch; b++) {
    for (let slot = 0; slot < map.length; slot++) {
      const dst = map[slot];
      if (dst < 0) continue;
      const from = (b * map.length + slot) * width;
      out.set(y.subarray(from, from + width), (b * layout.tokens + dst) * width);
    }
  }
  return out;
}

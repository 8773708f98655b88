/**
 * Float64 brute-force reference of GNA for the tests. Deliberately independent of `src/`: the
 * window rule is re-derived here from the spec's plain definitions (§1.2-1.5), and attention is
 * computed over an explicit mask, one (query, key) pair at a time.
 */

export interface RefParams {
  /** Spatial shape `L`. */
  shape: number[];
  windowSize: number[];
  stride: number[];
  dilation: number[];
  isCausal: boolean[];
  scale: number;
}

/** Keys (global axis indices) that query `x` sees along one axis, straight from the spec. */
export function refAxisKeys(x: number, L: number, K: number, s: number, d: number,
                            causal: boolean): number[] {
  const g = x % d;
  const i = Math.floor(x / d);
  const n = Math.ceil((L - g) / d);
  let start: number;
  let end: number;
  if (causal) {
    const leader = Math.min(Math.floor(i / s) * s + s - 1, n - 1);
    start = Math.max(leader - K + 1, 0);
    end = Math.min(i + 1, n);
  } else {
    const left = Math.floor(K / 2);
    const right = K - 1 - left;
    const leader = Math.min(Math.floor(i / s) * s + Math.floor(s / 2), n - 1);
    const centre = Math.min(Math.max(leader, left), n - 1 - right);
    start = centre - left;
    end = start + K;
  }
  const keys: number[] = [];
  for (let j = start; j < end; j++) keys.push(j * d + g);
  return keys;
}

function coords(index: number, shape: number[]): number[] {
  const c = new Array<number>(shape.length);
  for (let i = shape.length - 1; i >= 0; i--) {
    c[i] = index % shape[i];
    index = Math.floor(index / shape[i]);
  }
  return c;
}

/** The dense mask `[tokens, tokens]` (row = query, column = key) of a problem. */
export function refMask(p: RefParams): Uint8Array {
  const tokens = p.shape.reduce((a, b) => a * b, 1);
  const mask = new Uint8Array(tokens * tokens);
  // sees[a][x * L + y] = 1 when query x sees key y along axis a.
  const sees = p.shape.map((L, a) => {
    const m = new Uint8Array(L * L);
    for (let x = 0; x < L; x++) {
      for (const y of refAxisKeys(x, L, p.windowSize[a], p.stride[a], p.dilation[a], p.isCausal[a])) {
        m[x * L + y] = 1;
      }
    }
    return m;
  });
  const tokenCoords = Array.from({ length: tokens }, (_, i) => coords(i, p.shape));
  for (let qi = 0; qi < tokens; qi++) {
    const qc = tokenCoords[qi];
    for (let ki = 0; ki < tokens; ki++) {
      const kc = tokenCoords[ki];
      if (qc.every((x, a) => sees[a][x * p.shape[a] + kc[a]] === 1)) mask[qi * tokens + ki] = 1;
    }
  }
  return mask;
}

export interface RefTensors {
  /** `[B, tokens, H, D]` */ q: ArrayLike<number>;
  /** `[B, tokens, Hkv, D]` */ k: ArrayLike<number>;
  /** `[B, tokens, Hkv, Dv]` */ v: ArrayLike<number>;
  batch: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  valueDim: number;
  /** `[B, S, Hkv, D]` and `[B, S, Hkv, Dv]`, attended by every query. */
  extraK?: ArrayLike<number>;
  extraV?: ArrayLike<number>;
  extraTokens?: number;
}

export interface RefResult {
  output: Float64Array;
  lse: Float64Array;
  dq?: Float64Array;
  dk?: Float64Array;
  dv?: Float64Array;
  dExtraK?: Float64Array;
  dExtraV?: Float64Array;
}

/**
 * Forward (and, given `dOutput` and optionally `dLse`, backward) of GNA in float64 over the
 * explicit mask. Keys are the grid keys of the mask plus every additional key.
 */
export function gnaReference(p: RefParams, t: RefTensors, dOutput?: ArrayLike<number>,
                             dLse?: ArrayLike<number>): RefResult {
  const tokens = p.shape.reduce((a, b) => a * b, 1);
  const mask = refMask(p);
  const { batch: B, heads: H, kvHeads: Hkv, headDim: D, valueDim: Dv } = t;
  const S = t.extraTokens ?? 0;
  const output = new Float64Array(B * tokens * H * Dv);
  const lse = new Float64Array(B * tokens * H);
  const grads = dOutput !== undefined;
  const dq = new Float64Array(B * tokens * H * D);
  const dk = new Float64Array(B * tokens * Hkv * D);
  const dv = new Float64Array(B * tokens * Hkv * Dv);
  const dExtraK = new Float64Array(B * S * Hkv * D);
  const dExtraV = new Float64Array(B * S * Hkv * Dv);
  const visible = Array.from({ length: tokens }, (_, qi) => {
    const keys: number[] = [];
    for (let ki = 0; ki < tokens; ki++) if (mask[qi * tokens + ki]) keys.push(ki);
    return keys;
  });
  // A key is (source, index): source 0 is the grid, 1 the additional tokens.
  const keyOffsets = (b: number, hk: number, qi: number) => {
    const list: Array<[number, number, number]> = [];
    for (const ki of visible[qi]) {
      list.push([0, ((b * tokens + ki) * Hkv + hk) * D, ((b * tokens + ki) * Hkv + hk) * Dv]);
    }
    for (let j = 0; j < S; j++) list.push([1, ((b * S + j) * Hkv + hk) * D, ((b * S + j) * Hkv + hk) * Dv]);
    return list;
  };
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const hk = Math.floor(h / (H / Hkv));
      for (let qi = 0; qi < tokens; qi++) {
        const row = (b * tokens + qi) * H + h;
        const keys = keyOffsets(b, hk, qi);
        const scores = keys.map(([src, ko]) => {
          const kArr = src === 0 ? t.k : (t.extraK as ArrayLike<number>);
          let s = 0;
          for (let d = 0; d < D; d++) s += t.q[row * D + d] * kArr[ko + d];
          return s * p.scale;
        });
        const m = Math.max(...scores);
        const sum = scores.reduce((a, s) => a + Math.exp(s - m), 0);
        const rowLse = m + Math.log(sum);
        lse[row] = rowLse;
        const probs = scores.map((s) => Math.exp(s - rowLse));
        keys.forEach(([src, , vo], j) => {
          const vArr = src === 0 ? t.v : (t.extraV as ArrayLike<number>);
          for (let e = 0; e < Dv; e++) output[row * Dv + e] += probs[j] * vArr[vo + e];
        });
        if (!grads) continue;
        const dO = (e: number) => (dOutput as ArrayLike<number>)[row * Dv + e];
        let delta = dLse === undefined ? 0 : -dLse[row];
        for (let e = 0; e < Dv; e++) delta += dO(e) * output[row * Dv + e];
        keys.forEach(([src, ko, vo], j) => {
          const kArr = src === 0 ? t.k : (t.extraK as ArrayLike<number>);
          const vArr = src === 0 ? t.v : (t.extraV as ArrayLike<number>);
          const dkArr = src === 0 ? dk : dExtraK;
          const dvArr = src === 0 ? dv : dExtraV;
          let dp = 0;
          for (let e = 0; e < Dv; e++) {
            dp += dO(e) * vArr[vo + e];
            dvArr[vo + e] += probs[j] * dO(e);
          }
          const ds = probs[j] * (dp - delta) * p.scale;
          for (let d = 0; d < D; d++) {
            dq[row * D + d] += ds * kArr[ko + d];
            dkArr[ko + d] += ds * t.q[row * D + d];
          }
        });
      }
    }
  }
  return grads ? { output, lse, dq, dk, dv, dExtraK, dExtraV } : { output, lse };
}

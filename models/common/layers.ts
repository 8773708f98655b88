/**
 * The small pieces every DiT block here is built from (models.md §1): PyTorch-layout linear
 * layers, the per-head QK RMSNorm, affine-free LayerNorm and adaptive-LayerNorm modulation.
 */
import * as tf from '@tensorflow/tfjs-core';

/** `y = x · Wᵀ + b` with `W` in PyTorch layout `[out, in]` (models.md §1). */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const inFeatures = x.shape[x.rank - 1] as number;
    const [outFeatures, weightIn] = weight.shape;
    if (weightIn !== inFeatures) {
      throw new Error(`linear: input has ${inFeatures} features but the weight is ` +
        `[${weight.shape}] ([out, in] with in = ${inFeatures} expected)`);
    }
    let y = tf.matMul(tf.reshape(x, [-1, inFeatures]), weight, false, true);
    if (bias !== undefined) y = tf.add(y, bias);
    return tf.reshape(y, [...x.shape.slice(0, -1), outFeatures]);
  });
}

/** `x · rsqrt(mean(x²) + eps) · weight` over the last dim (the head dim for QK-norm). */
export function rmsNorm(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  return tf.tidy(() => {
    const meanSquare = tf.mean(tf.square(x), -1, true);
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(meanSquare, eps))), weight);
  });
}

/** LayerNorm over the last dim without affine parameters (the modulation supplies them). */
export function layerNorm(x: tf.Tensor, eps: number): tf.Tensor {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
  });
}

/** One (shift, scale, gate) triple, each `[B, 1, hidden]` so it broadcasts over tokens. */
export interface Modulation {
  shift: tf.Tensor;
  scale: tf.Tensor;
  gate: tf.Tensor;
}

/**
 * `Linear(SiLU(vec))` split into `chunks` equal parts and grouped as (shift, scale, gate)
 * triples in checkpoint order (FLUX `img_mod.lin`, Hunyuan `img_mod.linear`, Cosmos adaLN).
 */
export function modulationTriples(modulation: tf.Tensor, triples: number): Modulation[] {
  return tf.tidy(() => {
    const parts = tf.split(tf.expandDims(modulation, 1), 3 * triples, -1);
    const out: Modulation[] = [];
    for (let i = 0; i < triples; i++) {
      out.push({ shift: parts[3 * i], scale: parts[3 * i + 1], gate: parts[3 * i + 2] });
    }
    return out as unknown as tf.TensorContainer;
  }) as unknown as Modulation[];
}

/** `LayerNorm(x) · (1 + scale) + shift` (models.md §2.3). */
export function modulate(x: tf.Tensor, m: Modulation, eps: number): tf.Tensor {
  return tf.tidy(() => tf.add(tf.mul(layerNorm(x, eps), tf.add(m.scale, 1)), m.shift));
}

/** `x + gate · y`: the gated residual after attention and MLP. */
export function gatedResidual(x: tf.Tensor, gate: tf.Tensor, y: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.add(x, tf.mul(gate, y)));
}

/** `GELU` with the tanh approximation (FLUX and Hunyuan MLPs). */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
  });
}

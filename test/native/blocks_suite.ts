/**
 * One small FLUX single-stream block and one HunyuanVideo dual-stream block forward on the
 * native backend against the CPU backend: dense and (where the backend has it natively) GNA
 * attention, no CPU fallback in the forward pass, every tensor released.
 */
import * as tf from '@tensorflow/tfjs';
import { cudaFallbackStats, resetCudaFallbackStats, setCudaGnaOptions,
         setCudaMatMulOptions, CudaMatMulPrecision } from '../../kernels/native';
import {
  BlockParams, DenseJointAttention, disposeRopeTable, FLUX_DEV, FluxDims, fluxRope, fluxSingleSpecs,
  fluxSingleStream, GnaJointAttention, HUNYUAN_VIDEO, hunyuanDoubleSpecs, hunyuanDoubleStream,
  hunyuanRope, presetOptions, randomParams,
} from '../../models';

const HEADS = 2;

function dims(base: FluxDims): FluxDims {
  const hidden = HEADS * base.headDim;
  return { ...base, heads: HEADS, hidden, mlpHidden: 4 * hidden };
}

type Attention = 'dense' | 'gna';

/** randomParams leaves its intermediate norm tensors behind: build inside a tidy. */
function params(make: () => BlockParams): BlockParams {
  return tf.tidy(() => make() as unknown as tf.NamedTensorMap) as unknown as BlockParams;
}

/** Builds the block on the current backend (same seeds everywhere), runs it, returns outputs. */
async function forward(model: 'flux' | 'hunyuan', attention: Attention, backend: string) {
  await tf.setBackend(backend);
  const tensors = tf.memory().numTensors;
  let outputs: tf.Tensor[];
  let inputs: tf.Tensor[];
  let cleanup: () => void;
  let run: () => tf.Tensor[];
  if (model === 'flux') {
    const d = dims(FLUX_DEV);
    const grid = [4, 6], text = 5;
    const block = fluxSingleStream(params(() => randomParams(fluxSingleSpecs(0, d), 11)), d);
    block.selfAttention = attention === 'dense' ? new DenseJointAttention()
      : new GnaJointAttention(presetOptions('flux4k', grid));
    const x = tf.randomNormal([1, text + 24, d.hidden], 0, 1, 'float32', 12);
    const vec = tf.randomNormal([1, d.hidden], 0, 1, 'float32', 13);
    const rope = fluxRope(grid, text, d);
    inputs = [x, vec];
    run = () => [block.apply(x, text, { vec, rope, grid })];
    cleanup = () => { disposeRopeTable(rope); block.dispose(); };
  } else {
    const d = dims(HUNYUAN_VIDEO);
    const grid = [2, 4, 4], text = 6;
    const block = hunyuanDoubleStream(params(() => randomParams(hunyuanDoubleSpecs(0, d), 14)), d);
    block.selfAttention = attention === 'dense' ? new DenseJointAttention()
      : new GnaJointAttention(presetOptions('hunyuanVideo', grid));
    const img = tf.randomNormal([1, 32, d.hidden], 0, 1, 'float32', 15);
    const txt = tf.randomNormal([1, text, d.hidden], 0, 1, 'float32', 16);
    const vec = tf.randomNormal([1, d.hidden], 0, 1, 'float32', 17);
    const rope = hunyuanRope(grid, d);
    inputs = [img, txt, vec];
    run = () => {
      const r = block.apply(img, txt, { vec, rope, grid, validText: [4] });
      return [r.img, r.txt];
    };
    cleanup = () => { disposeRopeTable(rope); block.dispose(); };
  }
  resetCudaFallbackStats();
  const during = tf.memory().numTensors;
  outputs = run();
  const fallbacks = cudaFallbackStats();
  const data = await Promise.all(outputs.map((t) => t.data() as Promise<Float32Array>));
  expect(tf.memory().numTensors).toBe(during + outputs.length);
  tf.dispose([...outputs, ...inputs]);
  cleanup();
  outputs = [];
  expect(tf.memory().numTensors).toBe(tensors);
  return { data, fallbacks };
}

function relativeMaxError(got: Float32Array, want: Float32Array): number {
  let err = 0, scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return err / scale;
}

/**
 * `nativeGna`: whether GNA itself is native on `backend` (not on the emulated addon, where it is
 * the one kernel allowed to fall back).
 */
export function defineBlockTests(backend: string, nativeGna: boolean) {
  const cases: Array<[string, 'flux' | 'hunyuan', Attention]> = [
    ['FLUX single-stream, dense', 'flux', 'dense'], ['FLUX single-stream, GNA', 'flux', 'gna'],
    ['HunyuanVideo dual-stream, dense', 'hunyuan', 'dense'],
    ['HunyuanVideo dual-stream, GNA', 'hunyuan', 'gna'],
  ];
  // float32 everywhere: tight; bf16 matmul and GNA: the bf16 operand rounding (2^-9 relative).
  const precisions: Array<[CudaMatMulPrecision, number]> = [['float32', 1e-4], ['bfloat16', 2e-2]];
  describe.each(precisions)('blocks with matmul/GNA precision %s', (precision, tol) => {
    beforeAll(() => {
      setCudaMatMulOptions({ precision });
      setCudaGnaOptions({ precision, tileShapes: undefined });
    });
    afterAll(() => {
      setCudaMatMulOptions({ precision: 'float32' });
      setCudaGnaOptions({ precision: 'bfloat16' });
    });
    test.each(cases)('%s: equal to cpu, no CPU fallback', async (_name, model, attention) => {
      const want = await forward(model, attention, 'cpu');
      const got = await forward(model, attention, backend);
      const allowed = nativeGna || attention === 'dense' ? {} : got.fallbacks.byKernel;
      expect(got.fallbacks.byKernel).toEqual(allowed);
      expect(Object.keys(allowed).every((k) => k.startsWith('GeneralizedNeighborhood'))).toBe(true);
      got.data.forEach((d, i) => expect(relativeMaxError(d, want.data[i])).toBeLessThan(tol));
    });
  });
}

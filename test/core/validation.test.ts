/**
 * Every validation rule of gna, mergeAttentions, tokenPermute and tokenUnpermute (spec §2), each
 * with its exact message: a bad argument is a clear Error naming the argument and the rule, never
 * a silent wrong result nor a crash deeper down.
 */
import * as tf from '@tensorflow/tfjs';
import { denseAttention, gna, mergeAttentions, tokenPermute, tokenUnpermute } from '../../src';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Asserts `fn` throws an Error whose message is exactly `message`. */
function expectError(fn: () => unknown, message: string) {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(Error);
  expect((thrown as Error).message).toBe(message);
}

// q [1, 16, 16, 2, 4], k/v [1, 16, 16, 1|2, 4]: a 2-D problem most rules are checked on.
let q: tf.Tensor;
let k: tf.Tensor;
let v: tf.Tensor;
let k1: tf.Tensor;
beforeAll(() => {
  q = tf.zeros([1, 16, 16, 2, 4]);
  k = tf.zeros([1, 16, 16, 2, 4]);
  v = tf.zeros([1, 16, 16, 2, 4]);
  k1 = tf.zeros([1, 16, 16, 1, 4]);
});
afterAll(() => tf.dispose([q, k, v, k1]));

const cast = <T>(x: unknown) => x as T;

describe('gna window options', () => {
  test('windowSize 1 is rejected, as in NATTEN', () => {
    expectError(() => gna(q, k, v, { windowSize: 1 }),
      'gna: windowSize[0]=1 is invalid (windowSize must be an integer >= 2)');
    expectError(() => gna(q, k, v, { windowSize: [3, 1] }),
      'gna: windowSize[1]=1 is invalid (windowSize must be an integer >= 2)');
  });

  test('windowSize must be an integer', () => {
    expectError(() => gna(q, k, v, { windowSize: [2.5, 3] }),
      'gna: windowSize[0]=2.5 is invalid (windowSize must be an integer >= 2)');
    expectError(() => gna(q, k, v, { windowSize: cast<number>('3') }),
      'gna: windowSize[0]=3 is invalid (windowSize must be an integer >= 2)');
    expectError(() => gna(q, k, v, { windowSize: [3, NaN] }),
      'gna: windowSize[1]=NaN is invalid (windowSize must be an integer >= 2)');
  });

  test('windowSize is required, options must be an object', () => {
    expectError(() => gna(q, k, v, cast({})), 'gna: options.windowSize is required');
    expectError(() => gna(q, k, v, cast(undefined)),
      'gna: options must be an object with at least windowSize, got undefined');
    expectError(() => gna(q, k, v, cast(null)),
      'gna: options must be an object with at least windowSize, got null');
  });

  test('per-axis options need one entry per spatial dim', () => {
    expectError(() => gna(q, k, v, { windowSize: [3, 3, 3] }),
      'gna: windowSize=[3, 3, 3] has 3 entries but the input has 2 spatial dims ' +
      '(give one value per spatial dim, or a scalar)');
    expectError(() => gna(q, k, v, { windowSize: 3, stride: [1] }),
      'gna: stride=[1] has 1 entries but the input has 2 spatial dims ' +
      '(give one value per spatial dim, or a scalar)');
    expectError(() => gna(q, k, v, { windowSize: 3, dilation: [1, 1, 1] }),
      'gna: dilation=[1, 1, 1] has 3 entries but the input has 2 spatial dims ' +
      '(give one value per spatial dim, or a scalar)');
    expectError(() => gna(q, k, v, { windowSize: 3, isCausal: [true] }),
      'gna: isCausal=[true] has 1 entries but the input has 2 spatial dims ' +
      '(give one value per spatial dim, or a scalar)');
  });

  test('stride must be a positive integer not above the window', () => {
    expectError(() => gna(q, k, v, { windowSize: 3, stride: [1, 4] }),
      'gna: stride[1]=4 exceeds windowSize[1]=3 (stride <= windowSize)');
    expectError(() => gna(q, k, v, { windowSize: 3, stride: 0 }),
      'gna: stride[0]=0 is invalid (stride must be a positive integer)');
    expectError(() => gna(q, k, v, { windowSize: 3, stride: [1, 1.5] }),
      'gna: stride[1]=1.5 is invalid (stride must be a positive integer)');
  });

  test('dilation must be a positive integer', () => {
    expectError(() => gna(q, k, v, { windowSize: 3, dilation: 0 }),
      'gna: dilation[0]=0 is invalid (dilation must be a positive integer)');
    expectError(() => gna(q, k, v, { windowSize: 3, dilation: [1, -2] }),
      'gna: dilation[1]=-2 is invalid (dilation must be a positive integer)');
  });

  test('windowSize * dilation must fit the spatial size', () => {
    expectError(() => gna(q, k, v, { windowSize: [3, 9], dilation: [1, 2] }),
      'gna: windowSize[1]=9 with dilation[1]=2 exceeds spatial size 16 ' +
      '(windowSize*dilation <= size)');
    expectError(() => gna(q, k, v, { windowSize: 17 }),
      'gna: windowSize[0]=17 with dilation[0]=1 exceeds spatial size 16 ' +
      '(windowSize*dilation <= size)');
    // The boundary itself is fine: K*d == L.
    const out = gna(q, k, v, { windowSize: [8, 16], dilation: [2, 1] });
    expect(out.shape).toEqual([1, 16, 16, 2, 4]);
    out.dispose();
  });

  test('isCausal must be boolean', () => {
    expectError(() => gna(q, k, v, { windowSize: 3, isCausal: cast<boolean[]>([true, 1]) }),
      'gna: isCausal[1]=1 is invalid (isCausal must be a boolean)');
    expectError(() => gna(q, k, v, { windowSize: 3, isCausal: cast<boolean>('true') }),
      'gna: isCausal[0]=true is invalid (isCausal must be a boolean)');
  });

  test('scale must be finite and non-zero', () => {
    const rule = 'must be a finite non-zero number (omit it for the default headDim^-0.5)';
    expectError(() => gna(q, k, v, { windowSize: 3, scale: 0 }), `gna: scale=0 ${rule}`);
    expectError(() => gna(q, k, v, { windowSize: 3, scale: NaN }), `gna: scale=NaN ${rule}`);
    expectError(() => gna(q, k, v, { windowSize: 3, scale: Infinity }),
      `gna: scale=Infinity ${rule}`);
    expectError(() => gna(q, k, v, { windowSize: 3, scale: cast<number>('0.5') }),
      `gna: scale=0.5 ${rule}`);
  });

  test('returnLse must be boolean', () => {
    expectError(() => gna(q, k, v, { windowSize: 3, returnLse: cast<boolean>('yes') }),
      'gna: returnLse=yes must be a boolean');
  });
});

describe('gna tensors', () => {
  test('inputs must be tensors', () => {
    expectError(() => gna(cast([1, 2]), k, v, { windowSize: 3 }),
      'gna: query must be a tf.Tensor, got object');
    expectError(() => gna(q, cast(null), v, { windowSize: 3 }),
      'gna: key must be a tf.Tensor, got null');
    expectError(() => gna(q, k, cast(undefined), { windowSize: 3 }),
      'gna: value must be a tf.Tensor, got undefined');
  });

  test('only float32', () => {
    const i = tf.zeros([1, 16, 16, 2, 4], 'int32');
    expectError(() => gna(i, k, v, { windowSize: 3 }),
      'gna: query has dtype int32 (only float32 is supported)');
    expectError(() => gna(q, i, v, { windowSize: 3 }),
      'gna: key has dtype int32 (only float32 is supported)');
    expectError(() => gna(q, k, i, { windowSize: 3 }),
      'gna: value has dtype int32 (only float32 is supported)');
    i.dispose();
  });

  test('rank 4 to 6 only', () => {
    const r3 = tf.zeros([1, 16, 4]);
    const r7 = tf.zeros([1, 2, 2, 2, 2, 1, 4]);
    const layout = 'expected rank 4, 5 or 6: [batch, ...spatial (1 to 3 dims), heads, headDim]';
    expectError(() => gna(r3, r3, r3, { windowSize: 3 }),
      `gna: query has rank 3 (shape [1, 16, 4]); ${layout}`);
    expectError(() => gna(r7, r7, r7, { windowSize: 2 }),
      `gna: query has rank 7 (shape [1, 2, 2, 2, 2, 1, 4]); ${layout}`);
    tf.dispose([r3, r7]);
  });

  test('same rank for query, key and value', () => {
    const k4 = tf.zeros([1, 16, 2, 4]);
    expectError(() => gna(q, k4, v, { windowSize: 3 }),
      'gna: key has rank 4 (shape [1, 16, 2, 4]) but query has rank 5 ' +
      '(query, key and value must have the same rank)');
    expectError(() => gna(q, k, k4, { windowSize: 3 }),
      'gna: value has rank 4 (shape [1, 16, 2, 4]) but query has rank 5 ' +
      '(query, key and value must have the same rank)');
    k4.dispose();
  });

  test('mismatched batch, spatial shape, heads, head dims', () => {
    const kb = tf.zeros([2, 16, 16, 2, 4]);
    const vs = tf.zeros([1, 16, 15, 2, 4]);
    const vh = tf.zeros([1, 16, 16, 1, 4]);
    const kd = tf.zeros([1, 16, 16, 2, 5]);
    expectError(() => gna(q, kb, v, { windowSize: 3 }),
      'gna: key batch 2 != query batch 1 (batch sizes must match)');
    expectError(() => gna(q, k, kb, { windowSize: 3 }),
      'gna: value batch 2 != query batch 1 (batch sizes must match)');
    expectError(() => gna(q, k, vs, { windowSize: 3 }),
      'gna: value spatial shape [16, 15] != query spatial shape [16, 16] ' +
      '(query, key and value must share one token grid)');
    expectError(() => gna(q, k, vh, { windowSize: 3 }),
      'gna: value heads 1 != key heads 2 (they must match)');
    expectError(() => gna(q, kd, v, { windowSize: 3 }),
      'gna: key headDim 5 != query headDim 4 (they must match)');
    tf.dispose([kb, vs, vh, kd]);
  });

  test('value head dim may differ from the key head dim', () => {
    const vd = tf.zeros([1, 16, 16, 2, 6]);
    const out = gna(q, k, vd, { windowSize: 3 });
    expect(out.shape).toEqual([1, 16, 16, 2, 6]);
    tf.dispose([vd, out]);
  });

  test('kv heads must divide query heads', () => {
    const q3 = tf.zeros([1, 16, 16, 3, 4]);
    expectError(() => gna(q3, k, v, { windowSize: 3 }),
      'gna: key/value heads 2 do not evenly divide query heads 3 ' +
      '(heads % kvHeads == 0, as GQA requires)');
    q3.dispose();
  });

  test('no empty dimension', () => {
    const e = tf.zeros([1, 0, 2, 4]);
    expectError(() => gna(e, e, e, { windowSize: 2 }),
      'gna: every dimension must be at least 1 (query [1, 0, 2, 4], key [1, 0, 2, 4], ' +
      'value [1, 0, 2, 4])');
    e.dispose();
  });
});

describe('gna additional keys/values', () => {
  let ak: tf.Tensor;
  let av: tf.Tensor;
  beforeAll(() => {
    ak = tf.zeros([1, 5, 2, 4]);
    av = tf.zeros([1, 5, 2, 4]);
  });
  afterAll(() => tf.dispose([ak, av]));

  test('both or neither', () => {
    expectError(() => gna(q, k, v, { windowSize: 3, additionalKeys: ak }),
      'gna: additionalKeys and additionalValues must be given together (got only additionalKeys)');
    expectError(() => gna(q, k, v, { windowSize: 3, additionalValues: av }),
      'gna: additionalKeys and additionalValues must be given together (got only additionalValues)');
  });

  test('must be tensors of float32', () => {
    expectError(() => gna(q, k, v, { windowSize: 3, additionalKeys: cast([0]), additionalValues: av }),
      'gna: additionalKeys must be a tf.Tensor, got object');
    const i = tf.zeros([1, 5, 2, 4], 'int32');
    expectError(() => gna(q, k, v, { windowSize: 3, additionalKeys: ak, additionalValues: i }),
      'gna: additionalValues has dtype int32 (only float32 is supported)');
    i.dispose();
  });

  test('shape [batch, S, kvHeads, dim]', () => {
    const r3 = tf.zeros([1, 5, 4]);
    const heads = tf.zeros([1, 5, 1, 4]);
    const batch = tf.zeros([2, 5, 2, 4]);
    const dim = tf.zeros([1, 5, 2, 3]);
    const tokens = tf.zeros([1, 6, 2, 4]);
    expectError(() => gna(q, k, v, { windowSize: 3, additionalKeys: r3, additionalValues: av }),
      'gna: additionalKeys has rank 3 (shape [1, 5, 4]); expected rank 4 [batch, tokens, kvHeads, dim]');
    expectError(() => gna(q, k, v, { windowSize: 3, additionalKeys: heads, additionalValues: av }),
      'gna: additionalKeys shape [1, 5, 1, 4] must be [1, S >= 1, 2, 4] ' +
      '(batch, kvHeads and dim of the key/value)');
    expectError(() => gna(q, k, v, { windowSize: 3, additionalKeys: batch, additionalValues: av }),
      'gna: additionalKeys shape [2, 5, 2, 4] must be [1, S >= 1, 2, 4] ' +
      '(batch, kvHeads and dim of the key/value)');
    expectError(() => gna(q, k, v, { windowSize: 3, additionalKeys: ak, additionalValues: dim }),
      'gna: additionalValues shape [1, 5, 2, 3] must be [1, S >= 1, 2, 4] ' +
      '(batch, kvHeads and dim of the key/value)');
    expectError(() => gna(q, k, v, { windowSize: 3, additionalKeys: ak, additionalValues: tokens }),
      'gna: additionalKeys has 5 tokens but additionalValues has 6 (they must match)');
    tf.dispose([r3, heads, batch, dim, tokens]);
  });
});

describe('mergeAttentions', () => {
  let o: tf.Tensor;
  let l: tf.Tensor;
  beforeAll(() => {
    o = tf.zeros([1, 4, 2, 4]);
    l = tf.zeros([1, 4, 2]);
  });
  afterAll(() => tf.dispose([o, l]));

  test('at least two parts, as many lses as outputs', () => {
    expectError(() => mergeAttentions([o], [l]),
      'mergeAttentions: needs the same number (at least 2) of outputs and lses, got 1 outputs and 1 lses');
    expectError(() => mergeAttentions([o, o], [l]),
      'mergeAttentions: needs the same number (at least 2) of outputs and lses, got 2 outputs and 1 lses');
    expectError(() => mergeAttentions(cast(o), cast(l)),
      'mergeAttentions: outputs and lses must be arrays of tensors');
  });

  test('every part a float32 tensor', () => {
    expectError(() => mergeAttentions([o, cast(5)], [l, l]),
      'mergeAttentions: outputs[1] must be a tf.Tensor, got number');
    expectError(() => mergeAttentions([o, o], [cast(null), l]),
      'mergeAttentions: lses[0] must be a tf.Tensor, got null');
    const i = tf.zeros([1, 4, 2, 4], 'int32');
    expectError(() => mergeAttentions([o, i], [l, l]),
      'mergeAttentions: outputs[1] has dtype int32 (only float32 is supported)');
    i.dispose();
  });

  test('shapes', () => {
    const o3 = tf.zeros([1, 4, 2, 3]);
    const r3 = tf.zeros([4, 2, 4]);
    const l2 = tf.zeros([1, 4]);
    expectError(() => mergeAttentions([o, o3], [l, l]),
      'mergeAttentions: outputs[1] has shape [1,4,2,3] but outputs[0] has [1,4,2,4] ' +
      '(every output must be [batch, tokens, heads, dim] of one shape)');
    expectError(() => mergeAttentions([r3, r3], [l, l]),
      'mergeAttentions: outputs[0] has rank 3 (shape [4,2,4]); expected rank 4 ' +
      '[batch, tokens, heads, dim]');
    expectError(() => mergeAttentions([o, o], [l, l2]),
      'mergeAttentions: lses[1] has shape [1,4]; expected [1,4,2] (the output shape without its last dim)');
    tf.dispose([o3, r3, l2]);
  });
});

describe('tokenPermute / tokenUnpermute options', () => {
  let x: tf.Tensor;
  beforeAll(() => {
    x = tf.zeros([1, 10, 1, 4]);
  });
  afterAll(() => x.dispose());

  test('x must be a float32 tensor of rank 4 to 6', () => {
    expectError(() => tokenPermute(cast([1]), { tileShape: 2 }),
      'tokenPermute: x must be a tf.Tensor, got object');
    const r3 = tf.zeros([1, 10, 4]);
    expectError(() => tokenPermute(r3, { tileShape: 2 }),
      'tokenPermute: x has rank 3 (shape [1, 10, 4]); expected rank 4 to 6: ' +
      '[batch, ...spatial (1 to 3 dims), heads, dim]');
    const i = tf.zeros([1, 10, 1, 4], 'int32');
    expectError(() => tokenPermute(i, { tileShape: 2 }),
      'tokenPermute: x has dtype int32 (only float32 is supported)');
    tf.dispose([r3, i]);
  });

  test('tileShape and dilation', () => {
    expectError(() => tokenPermute(x, cast({})), 'tokenPermute: options.tileShape is required');
    expectError(() => tokenPermute(x, cast(undefined)), 'tokenPermute: options.tileShape is required');
    expectError(() => tokenPermute(x, { tileShape: 0 }),
      'tokenPermute: tileShape[0]=0 is invalid (tileShape must be a positive integer)');
    expectError(() => tokenPermute(x, { tileShape: 1.5 }),
      'tokenPermute: tileShape[0]=1.5 is invalid (tileShape must be a positive integer)');
    expectError(() => tokenPermute(x, { tileShape: [2, 2] }),
      'tokenPermute: tileShape=[2, 2] has 2 entries but the input has 1 spatial dims ' +
      '(give one value per spatial dim, or a scalar)');
    expectError(() => tokenPermute(x, { tileShape: 2, dilation: 0 }),
      'tokenPermute: dilation[0]=0 is invalid (dilation must be a positive integer)');
  });

  test('unpermute needs the original shape, matching x', () => {
    const y = tf.zeros([1, 12, 1, 4]);
    expectError(() => tokenUnpermute(y, cast({ tileShape: 4 })),
      'tokenUnpermute: options.shape (the original spatial shape) is required');
    expectError(() => tokenUnpermute(x, { tileShape: 4, shape: [10] }),
      'tokenUnpermute: x shape [1,10,1,4] does not match the layout of shape [10], ' +
      'tileShape [4], dilation [1] (expected [batch*1, 12, heads, dim])');
    expectError(() => tokenUnpermute(y, { tileShape: 3, dilation: 2, shape: [10] }),
      'tokenUnpermute: x shape [1,12,1,4] does not match the layout of shape [10], ' +
      'tileShape [3], dilation [2] (expected [batch*2, 6, heads, dim])');
    expectError(() => tokenUnpermute(y, { tileShape: 2, shape: [2, 2, 2, 2] }),
      'tokenUnpermute: expected 1 to 3 spatial dims, got 4');
    expectError(() => tokenUnpermute(y, { tileShape: 2, shape: [0] }),
      'tokenUnpermute: spatial size 0 is 0 (must be a positive integer)');
    const r5 = tf.zeros([1, 3, 4, 1, 4]);
    expectError(() => tokenUnpermute(r5, { tileShape: 2, shape: [12] }),
      'tokenUnpermute: x has rank 5 (shape [1, 3, 4, 1, 4]); expected rank 4: ' +
      '[batch * dilationGroups, permutedTokens, heads, dim]');
    tf.dispose([y, r5]);
  });
});

describe('denseAttention', () => {
  test('bad inputs', () => {
    const q = tf.zeros([1, 4, 3, 2]);
    const k = tf.zeros([1, 5, 2, 2]);
    const k3 = tf.zeros([1, 5, 2, 3]);
    const v6 = tf.zeros([1, 6, 2, 2]);
    const kb = tf.zeros([2, 5, 2, 2]);
    const r3 = tf.zeros([4, 2, 2]);
    const i = tf.zeros([1, 4, 2, 2], 'int32');
    const q2 = tf.zeros([1, 4, 2, 2]);
    expectError(() => denseAttention(q, k, k, 1),
      'denseAttention: key/value heads 2 do not evenly divide query heads 3 ' +
      '(heads % kvHeads == 0, as GQA requires)');
    expectError(() => denseAttention(q2, k3, k, 1), 'denseAttention: key dim 3 != query dim 2 (they must match)');
    expectError(() => denseAttention(r3, k, k, 1),
      'denseAttention: query has rank 3 (shape [4,2,2]); expected rank 4 [batch, tokens, heads, dim]');
    expectError(() => denseAttention(q2, k, v6, 1),
      'denseAttention: value shape [1,6,2,2] must have the tokens and heads of key [1,5,2,2]');
    expectError(() => denseAttention(q2, kb, kb, 1),
      'denseAttention: batch sizes differ (query 1, key 2, value 2)');
    expectError(() => denseAttention(i, k, k, 1),
      'denseAttention: query has dtype int32 (only float32 is supported)');
    expectError(() => denseAttention(q2, k, cast(undefined), 1),
      'denseAttention: value must be a tf.Tensor, got undefined');
    expectError(() => denseAttention(q2, k, k, NaN),
      'denseAttention: scale=NaN must be a finite non-zero number');
    tf.dispose([q, k, k3, v6, kb, r3, i, q2]);
  });
});

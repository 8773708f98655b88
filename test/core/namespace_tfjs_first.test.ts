/**
 * tfjs loaded before the package (the usual order). The live module exports get the ops; the
 * copy that `import * as tf` makes under esModuleInterop was taken before, so it cannot.
 */
import * as tf from '@tensorflow/tfjs';
import { gna, tokenPermute, tokenUnpermute } from '../../src';

test('require() of tfjs-core and @tensorflow/tfjs has the ops', () => {
  for (const ns of [require('@tensorflow/tfjs-core'), require('@tensorflow/tfjs')]) {
    expect(ns.gna).toBe(gna);
    expect(ns.tokenPermute).toBe(tokenPermute);
    expect(ns.tokenUnpermute).toBe(tokenUnpermute);
  }
  expect(tf.getKernel('GeneralizedNeighborhoodAttention', 'cpu')).toBeDefined();
  expect(tf.getGradient('GeneralizedNeighborhoodAttention')).toBeDefined();
});

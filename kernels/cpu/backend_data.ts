/**
 * The two things our CPU kernels need from tfjs-backend-cpu's `MathBackendCPU`, typed
 * structurally so this package does not import the backend (it is an optional peer).
 */
import { BackendValues, DataId, DataType, TensorInfo } from '@tensorflow/tfjs-core';

export interface HostBackend {
  data: { get(dataId: DataId): { values: BackendValues } };
  makeTensorInfo(shape: number[], dtype: DataType, values?: BackendValues): TensorInfo;
}

export function hostBackend(backend: unknown): HostBackend {
  return backend as unknown as HostBackend;
}

export function readFloat32(backend: HostBackend, t: TensorInfo): Float32Array {
  return backend.data.get(t.dataId).values as Float32Array;
}

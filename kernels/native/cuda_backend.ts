/**
 * The `cuda` tfjs backend: tensors live in GPU memory (the addon's buffers) between ops. Kernels
 * with a native implementation run on the device; every other kernel registered for `cpu` runs
 * through the CPU backend's own kernel on an internal MathBackendCPU, with the inputs downloaded
 * and the outputs uploaded, so any tfjs model runs on `cuda`; `cudaFallbackStats()` counts those.
 * complex64 and string tensors stay host-resident in the internal CPU backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendValues, DataId, DataType, KernelBackend, KernelConfig, NamedAttrMap,
         NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { BufferHandle, NativeAddon, nativeAvailability, NativeAvailability } from './addon';
import { cudaKernelConfigs } from './cuda_kernels';
import { PlanCache } from './gna_plan';

export const CUDA_BACKEND = 'cuda';

interface DeviceData {
  kind: 'device';
  handle: BufferHandle;
  bytes: number;
  dtype: DataType;
  size: number;
  refCount: number;
}

interface HostData {
  kind: 'host';
  cpuDataId: DataId;
  refCount: number;
}

type CudaData = DeviceData | HostData;

/** The slice of tfjs-backend-cpu's MathBackendCPU the fallback uses. */
interface CpuBackend extends KernelBackend {
  write(values: BackendValues, shape: number[], dtype: DataType): DataId;
}

const fallbackCounts = new Map<string, number>();

/** How many kernels ran through the CPU fallback since the last reset, in total and by name. */
export function cudaFallbackStats(): { total: number; byKernel: Record<string, number> } {
  const byKernel: Record<string, number> = {};
  let total = 0;
  for (const [name, n] of fallbackCounts) {
    byKernel[name] = n;
    total += n;
  }
  return { total, byKernel };
}

export function resetCudaFallbackStats() {
  fallbackCounts.clear();
}

function elementBytes(dtype: DataType): number {
  return dtype === 'bool' ? 1 : 4;
}

function typedArrayFor(dtype: DataType, size: number): Float32Array | Int32Array | Uint8Array {
  if (dtype === 'float32') return new Float32Array(size);
  if (dtype === 'int32') return new Int32Array(size);
  return new Uint8Array(size);
}

export class CudaBackend extends KernelBackend {
  readonly addon: NativeAddon;
  readonly plans: PlanCache;
  private readonly data = new Map<DataId, CudaData>();
  private readonly cpu: CpuBackend;
  private deviceBytes = 0;

  constructor(addon: NativeAddon) {
    super();
    this.addon = addon;
    this.plans = new PlanCache(addon);
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { MathBackendCPU } = require('@tensorflow/tfjs-backend-cpu');
    this.cpu = new MathBackendCPU() as CpuBackend;
  }

  // ---- storage ---------------------------------------------------------------------------

  /** A fresh device buffer registered as a tensor's data; the caller fills it. */
  makeDeviceOutput(shape: number[], dtype: DataType): { info: TensorInfo; handle: BufferHandle } {
    const dataId = {};
    const handle = this.allocData(dataId, tf.util.sizeFromShape(shape), dtype);
    return { info: { dataId, shape, dtype }, handle };
  }

  /** The device buffer of a tensor (its dtype must be numeric). */
  handleOf(t: TensorInfo): BufferHandle {
    const d = this.data.get(t.dataId);
    if (d === undefined) throw new Error('cuda backend: tensor data not found (disposed?)');
    if (d.kind !== 'device') throw new Error(`cuda backend: ${t.dtype} tensors are host-resident`);
    return d.handle;
  }

  private allocData(dataId: DataId, size: number, dtype: DataType): BufferHandle {
    const bytes = size * elementBytes(dtype);
    const handle = this.addon.alloc(bytes);
    this.data.set(dataId, { kind: 'device', handle, bytes, dtype, size, refCount: 1 });
    this.deviceBytes += bytes;
    return handle;
  }

  private store(dataId: DataId, values: BackendValues | null, shape: number[], dtype: DataType,
                refCount: number) {
    if (dtype === 'string' || dtype === 'complex64') {
      const cpuDataId = this.cpu.write(values as BackendValues, shape, dtype);
      this.data.set(dataId, { kind: 'host', cpuDataId, refCount });
      return;
    }
    const size = tf.util.sizeFromShape(shape);
    const handle = this.allocData(dataId, size, dtype);
    (this.data.get(dataId) as DeviceData).refCount = refCount;
    if (values !== null && values !== undefined) {
      let typed = values as ArrayBufferView;
      const want = typedArrayFor(dtype, 0).constructor as
        Float32ArrayConstructor | Int32ArrayConstructor | Uint8ArrayConstructor;
      if (!(typed instanceof want)) typed = want.from(values as ArrayLike<number>);
      this.addon.upload(handle, typed);
    }
  }

  write(values: BackendValues, shape: number[], dtype: DataType): DataId {
    const dataId = {};
    this.store(dataId, values, shape, dtype, 1);
    return dataId;
  }

  move(dataId: DataId, values: BackendValues, shape: number[], dtype: DataType,
       refCount: number): void {
    this.store(dataId, values, shape, dtype, refCount);
  }

  readSync(dataId: DataId): BackendValues {
    const d = this.data.get(dataId);
    if (d === undefined) throw new Error('cuda backend: readSync of unknown data (disposed?)');
    if (d.kind === 'host') return this.cpu.readSync(d.cpuDataId);
    const out = typedArrayFor(d.dtype, d.size);
    this.addon.download(d.handle, out);
    return out;
  }

  async read(dataId: DataId): Promise<BackendValues> {
    return this.readSync(dataId);
  }

  refCount(dataId: DataId): number {
    return this.data.get(dataId)?.refCount ?? 0;
  }

  incRef(dataId: DataId): void {
    const d = this.data.get(dataId);
    if (d !== undefined) d.refCount++;
  }

  disposeData(dataId: DataId, force = false): boolean {
    const d = this.data.get(dataId);
    if (d === undefined) return true;
    d.refCount--;
    if (!force && d.refCount > 0) return false;
    this.data.delete(dataId);
    if (d.kind === 'host') {
      this.cpu.disposeData(d.cpuDataId, true);
    } else {
      this.addon.free(d.handle);
      this.deviceBytes -= d.bytes;
    }
    return true;
  }

  numDataIds(): number {
    return this.data.size;
  }

  memory() {
    const info = this.addon.memoryInfo();
    return {
      unreliable: false,
      numBytesInGPU: this.deviceBytes,
      numBytesInGPUAllocated: info.live + info.pooled,
      numBytesInGPUFree: info.pooled,
    } as { unreliable: boolean };
  }

  timerAvailable(): boolean {
    return true;
  }

  /** Times `f` with CUDA events around the work it enqueues (kernelMs) and a host clock. */
  async time(f: () => void): Promise<tf.TimingInfo> {
    const wallStart = tf.util.now();
    const timer = this.addon.timerStart();
    f();
    const kernelMs = this.addon.timerStop(timer);
    return { kernelMs, wallMs: tf.util.now() - wallStart } as tf.TimingInfo;
  }

  floatPrecision(): 32 {
    return 32;
  }

  epsilon(): number {
    return 1e-7;
  }

  dispose(): void {
    for (const dataId of [...this.data.keys()]) this.disposeData(dataId, true);
    this.plans.dispose();
    this.cpu.dispose();
    this.addon.releasePool();
  }

  // ---- CPU fallback ----------------------------------------------------------------------

  /** Runs a CPU kernel: inputs downloaded into the internal CPU backend, outputs uploaded. */
  runOnCpu(config: KernelConfig, inputs: NamedTensorInfoMap, attrs: NamedAttrMap | undefined) {
    fallbackCounts.set(config.kernelName, (fallbackCounts.get(config.kernelName) ?? 0) + 1);
    const created: DataId[] = [];
    // Concat and friends take an array of inputs: keep the container's kind.
    const cpuInputs = (Array.isArray(inputs) ? [] : {}) as NamedTensorInfoMap;
    try {
      for (const name of Object.keys(inputs)) {
        const t = inputs[name];
        if (t == null) {
          cpuInputs[name] = t;
          continue;
        }
        const d = this.data.get(t.dataId);
        let cpuDataId: DataId;
        if (d !== undefined && d.kind === 'host') {
          cpuDataId = d.cpuDataId;
        } else {
          cpuDataId = this.cpu.write(this.readSync(t.dataId), t.shape, t.dtype);
          created.push(cpuDataId);
        }
        cpuInputs[name] = { dataId: cpuDataId, shape: t.shape, dtype: t.dtype };
      }
      const out = config.kernelFunc({ inputs: cpuInputs, backend: this.cpu, attrs });
      const outs = Array.isArray(out) ? out : [out];
      const adopted = outs.map((o) => this.adoptCpuOutput(o));
      return Array.isArray(out) ? adopted : adopted[0];
    } finally {
      for (const id of created) this.cpu.disposeData(id);
    }
  }

  private adoptCpuOutput(o: TensorInfo): TensorInfo {
    const dataId = {};
    if (o.dtype === 'string' || o.dtype === 'complex64') {
      this.data.set(dataId, { kind: 'host', cpuDataId: o.dataId, refCount: 1 });
    } else {
      this.store(dataId, this.cpu.readSync(o.dataId), o.shape, o.dtype, 1);
      this.cpu.disposeData(o.dataId);
    }
    return { dataId, shape: o.shape, dtype: o.dtype };
  }
}

let registered: { ok: boolean; reason?: string } | undefined;

/**
 * Registers every kernel registered for `cpu` and not native on `cuda` as a CPU fallback. Called
 * by registerCudaBackend; call again after registering new CPU kernels.
 */
export function registerCudaFallbacks(): number {
  let count = 0;
  for (const config of tf.getKernelsForBackend('cpu')) {
    if (tf.getKernel(config.kernelName, CUDA_BACKEND) !== undefined) continue;
    tf.registerKernel({
      kernelName: config.kernelName,
      backendName: CUDA_BACKEND,
      kernelFunc: ({ inputs, backend, attrs }) =>
        (backend as CudaBackend).runOnCpu(config, inputs, attrs),
    });
    count++;
  }
  return count;
}

export interface CudaRegistration {
  /** Whether the `cuda` backend is registered (the addon loaded and found a GPU). */
  registered: boolean;
  /** Why not, when it is not. */
  reason?: string;
  availability: NativeAvailability;
}

/**
 * Registers the `cuda` backend (priority 3, above webgl/cpu) with its native kernels and CPU
 * fallbacks. Never throws: without a usable GPU it registers nothing and returns the reason.
 */
export function registerCudaBackend(priority = 3): CudaRegistration {
  const availability = nativeAvailability();
  if (!availability.available) {
    return { registered: false, reason: availability.reason, availability };
  }
  if (registered === undefined) {
    // The fallback needs the CPU kernels registered: importing the CPU backend does that.
    try {
      require('@tensorflow/tfjs-backend-cpu');
    } catch {
      return { registered: false, availability,
        reason: 'the cuda backend needs @tensorflow/tfjs-backend-cpu (its kernels are the fallback)' };
    }
    const addon = availability.addon;
    tf.registerBackend(CUDA_BACKEND, () => new CudaBackend(addon), priority);
    for (const config of cudaKernelConfigs) {
      if (tf.getKernel(config.kernelName, CUDA_BACKEND) === undefined) tf.registerKernel(config);
    }
    registerCudaFallbacks();
    registered = { ok: true };
  }
  return { registered: true, availability };
}

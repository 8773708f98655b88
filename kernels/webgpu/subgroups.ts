/**
 * Subgroup operations for the GNA programs where the adapter offers `subgroups`.
 *
 * tfjs-backend-webgpu assembles every shader as its own declarations followed by the program's
 * code, and WGSL wants `enable subgroups;` before any declaration, so no program can enable the
 * extension itself; the backend's default device does not request the feature either.
 * `registerWebGPUBackendWithSubgroups` therefore re-registers the `webgpu` backend on a device
 * requested with `subgroups` (and the limits tfjs's own factory asks for), whose
 * `createShaderModule` prepends the directive to shaders that carry `SUBGROUPS_MARKER` of wgsl.ts
 * (only ours do) and passes every other shader through unchanged.
 *
 * The forward program reduces over the `THREADS_PER_ROW` consecutive invocations of a query row
 * with `subgroupShuffleXor`, which is right only if those invocations are neighbouring lanes of
 * one subgroup. WGSL does not promise how local invocation indices map to subgroup lanes, so the
 * registration checks it once on the device (lane == local index mod subgroup size) and leaves
 * subgroups off if it does not hold or subgroups are narrower than a row's threads.
 */
import * as tf from '@tensorflow/tfjs-core';
import { THREADS_PER_ROW } from './gna_forward_webgpu';
import { SUBGROUPS_MARKER } from './wgsl';

/** Set on the wrapped device: the GNA programs may use subgroup operations on it. */
const SUBGROUPS_READY = Symbol('gnaSubgroupsReady');

let allowed = true;

/** Turns the subgroup variants off (or back on) on a device that supports them (benchmarks). */
export function setGnaWebGPUSubgroups(on: boolean) {
  allowed = on;
}

/** Whether the programs should use subgroup operations on `device`. */
export function subgroupsEnabled(device: object): boolean {
  return allowed && (device as Record<symbol, unknown>)[SUBGROUPS_READY] === true;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- raw WebGPU objects: the types are not a dependency */

/** The probe's workgroup: as large as the forward program's (64 query rows × 4 threads). */
const PROBE_WORKGROUP = 256;

/** Whether every invocation's subgroup lane is its local index modulo the subgroup size. */
async function lanesFollowLocalIndex(device: any): Promise<boolean> {
  const code = `enable subgroups;
    @group(0) @binding(0) var<storage, read_write> out : array<u32>;
    @compute @workgroup_size(${PROBE_WORKGROUP})
    fn main(@builtin(local_invocation_index) li : u32, @builtin(subgroup_invocation_id) lane : u32,
            @builtin(subgroup_size) size : u32) {
      if (lane != li % size || size < ${THREADS_PER_ROW}u) { out[0] = 1u; }
    }`;
  const usage = (globalThis as any).GPUBufferUsage;
  const storage = device.createBuffer({ size: 4, usage: usage.STORAGE | usage.COPY_SRC });
  const readback = device.createBuffer({ size: 4, usage: usage.MAP_READ | usage.COPY_DST });
  const pipeline = device.createComputePipeline({
    layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' },
  });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: storage } }],
  }));
  pass.dispatchWorkgroups(4);
  pass.end();
  encoder.copyBufferToBuffer(storage, 0, readback, 0, 4);
  device.queue.submit([encoder.finish()]);
  await readback.mapAsync((globalThis as any).GPUMapMode.READ);
  const ok = new Uint32Array(readback.getMappedRange())[0] === 0;
  readback.unmap();
  storage.destroy();
  readback.destroy();
  return ok;
}

/** `device` with `enable subgroups;` put in front of the shaders that carry the marker. */
function withSubgroupDirective(device: any, ready: boolean): any {
  return new Proxy(device, {
    get(target, prop) {
      if (prop === SUBGROUPS_READY) return ready;
      if (prop === 'createShaderModule') {
        return (descriptor: { code: string }) => target.createShaderModule(
          descriptor.code.includes(SUBGROUPS_MARKER)
            ? { ...descriptor, code: `enable subgroups;\n${descriptor.code}` } : descriptor);
      }
      const value = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/**
 * Replaces the `webgpu` backend's factory by one whose device has `subgroups` where the adapter
 * offers it; call before the backend is first used, passing tfjs-backend-webgpu's
 * `WebGPUBackend` class (it is an optional peer that this package never imports). Resolves to
 * whether the GNA programs will use subgroup operations. Everything else behaves as with tfjs's
 * own factory, which this one follows (same adapter options, features and limits).
 */
export async function registerWebGPUBackendWithSubgroups(
  WebGPUBackend: new (device: any, adapterInfo?: any) => tf.KernelBackend): Promise<boolean> {
  const gpu = (globalThis as any).navigator?.gpu;
  if (gpu === undefined) return false;
  const adapter = await gpu.requestAdapter({
    powerPreference: tf.env().get('WEBGPU_USE_LOW_POWER_GPU') ? 'low-power' : 'high-performance',
  });
  if (adapter == null) return false;
  const features = ['timestamp-query', 'bgra8unorm-storage', 'subgroups']
    .filter((f) => adapter.features.has(f));
  const limitNames = ['maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension',
    'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupSizeX',
    'maxComputeInvocationsPerWorkgroup'];
  const requiredLimits = Object.fromEntries(limitNames.map((n) => [n, adapter.limits[n]]));
  const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
  const ready = features.includes('subgroups') && await lanesFollowLocalIndex(device);
  const wrapped = withSubgroupDirective(device, ready);
  if (tf.findBackendFactory('webgpu') !== null) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new WebGPUBackend(wrapped, adapter.info), 3);
  return ready;
}

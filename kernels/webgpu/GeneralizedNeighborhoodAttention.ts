import { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { GNA, GnaInputs, GnaKernelAttrs, gnaProblemOf } from '../../src/kernel_names';
import { ForwardTiles, GnaForwardProgram, chooseForwardTiles } from './gna_forward_webgpu';
import { walkPlanFor } from './gna_plan';
import { subgroupsEnabled } from './subgroups';
import { deviceBudget, extractRegion } from './gna_webgpu_common';
import { disposeAll, webgpuBackend } from './webgpu_backend';

let preferredTiles: ForwardTiles | undefined;

/** Prefer these forward tiles when they fit the device (benchmarks sweep it); undefined resets. */
export function setGnaWebGPUForwardTiles(tiles: ForwardTiles | undefined) {
  preferredTiles = tiles;
}

/**
 * Runs the fused forward program on q, k, v as given (it gathers tokens of its tiles by
 * coordinates, so nothing is permuted beforehand) and splits its combined buffer into output
 * and LSE, both already in the natural layout.
 */
export const gnaWebGPU: KernelFunc = ({ inputs, backend, attrs }) => {
  const { q, k, v } = inputs as GnaInputs;
  const problem = gnaProblemOf(inputs as GnaInputs, attrs as unknown as GnaKernelAttrs);
  const gpu = webgpuBackend(backend);
  const { batch, heads, headDim, valueDim, spatialShape } = problem;
  const tiles = chooseForwardTiles(deviceBudget(gpu), headDim, valueDim, spatialShape.length,
    preferredTiles);
  const plan = walkPlanFor('keys', problem, tiles.queries, tiles.keys);
  const walk = gpu.makeTensorInfo([plan.table.length], 'int32', plan.table);
  const program = new GnaForwardProgram(problem, plan, tiles, subgroupsEnabled(gpu.device));
  const combined = gpu.runWebGPUProgram(program, [q, k, v, walk], 'float32',
    program.uniformData());
  const natural = [batch, ...spatialShape, heads];
  const output = extractRegion(gpu, combined, 0, [...natural, valueDim]);
  const lse = extractRegion(gpu, combined, natural.reduce((x, y) => x * y, 1) * valueDim, natural);
  disposeAll(gpu, [walk, combined]);
  return [output, lse];
};

export const gnaWebGPUConfig: KernelConfig = {
  kernelName: GNA, backendName: 'webgpu', kernelFunc: gnaWebGPU,
};

import { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { GNA, GnaInputs, GnaKernelAttrs, gnaProblemOf } from '../../src/kernel_names';
import { ForwardTiles, GnaForwardProgram, chooseForwardTiles } from './gna_forward_webgpu';
import { walkPlanFor } from './gna_plan';
import { deviceBudget, permuteInput, unpermuteRegion } from './gna_webgpu_common';
import { disposeAll, webgpuBackend } from './webgpu_backend';

let preferredTiles: ForwardTiles | undefined;

/** Prefer these forward tiles when they fit the device (benchmarks sweep it); undefined resets. */
export function setGnaWebGPUForwardTiles(tiles: ForwardTiles | undefined) {
  preferredTiles = tiles;
}

/**
 * Permutes q, k, v into the plan's tiles (spec §4), runs the fused forward program and
 * unpermutes its output and LSE, so that callers only ever see the natural layout.
 */
export const gnaWebGPU: KernelFunc = ({ inputs, backend, attrs }) => {
  const { q, k, v } = inputs as GnaInputs;
  const problem = gnaProblemOf(inputs as GnaInputs, attrs as unknown as GnaKernelAttrs);
  const gpu = webgpuBackend(backend);
  const { batch, heads, kvHeads, headDim, valueDim, spatialShape } = problem;
  const tiles = chooseForwardTiles(deviceBudget(gpu), headDim, valueDim, spatialShape.length,
    preferredTiles);
  const plan = walkPlanFor('keys', problem, tiles.queries, tiles.keys);
  const { layout } = plan;
  const permuted = [
    permuteInput(gpu, q, layout, batch, heads * headDim),
    permuteInput(gpu, k, layout, batch, kvHeads * headDim),
    permuteInput(gpu, v, layout, batch, kvHeads * valueDim),
  ];
  const walk = gpu.makeTensorInfo([plan.table.length], 'int32', plan.table);
  const program = new GnaForwardProgram(problem, plan, tiles);
  const combined = gpu.runWebGPUProgram(program, [...permuted, walk], 'float32',
    program.uniformData());
  const rows = batch * layout.groups * layout.sequenceLength * heads;
  const natural = [batch, ...spatialShape, heads];
  const output = unpermuteRegion(gpu, combined, layout, batch, heads * valueDim, 0,
    [...natural, valueDim]);
  const lse = unpermuteRegion(gpu, combined, layout, batch, heads, rows * valueDim, natural);
  const temporaries: TensorInfo[] = [walk, combined, ...permuted.filter((p, i) => p !== [q, k, v][i])];
  disposeAll(gpu, temporaries);
  return [output, lse];
};

export const gnaWebGPUConfig: KernelConfig = {
  kernelName: GNA, backendName: 'webgpu', kernelFunc: gnaWebGPU,
};

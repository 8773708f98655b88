import { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { GNA_GRAD, GnaGradInputs, GnaKernelAttrs, gnaProblemOf } from '../../src/kernel_names';
import {
  GnaDeltaProgram, GnaDkDvProgram, GnaDqProgram, chooseBackwardTiles,
} from './gna_backward_webgpu';
import { walkPlanFor } from './gna_plan';
import { deviceBudget, permuteInput, unpermuteRegion } from './gna_webgpu_common';
import { disposeAll, webgpuBackend } from './webgpu_backend';

/**
 * dQ, dK, dV from the saved output and LSE (spec §3.4). One permute layout serves both walks:
 * its tiles are the key tiles of the dK/dV program (chosen for the inverse-neighbourhood walk)
 * and the query tiles of the dQ program.
 */
export const gnaGradWebGPU: KernelFunc = ({ inputs, backend, attrs }) => {
  const x = inputs as GnaGradInputs;
  const problem = gnaProblemOf(x, attrs as unknown as GnaKernelAttrs);
  const gpu = webgpuBackend(backend);
  const { batch, heads, kvHeads, headDim: D, valueDim: DV, spatialShape } = problem;
  const tiles = chooseBackwardTiles(deviceBudget(gpu), D, DV, spatialShape.length);
  const kvPlan = walkPlanFor('queries', problem, tiles.tile, tiles.queries);
  const qPlan = walkPlanFor('keys', problem, tiles.tile, tiles.keys, kvPlan.layout.tileShape);
  const { layout } = kvPlan;
  const tokens = layout.tokens;
  const delta = gpu.runWebGPUProgram(new GnaDeltaProgram(batch * tokens * heads, DV),
    [x.dOutput, x.output, x.dLse], 'float32');
  const natural = [x.q, x.k, x.v, x.dOutput, x.lse, delta];
  const widths = [heads * D, kvHeads * D, kvHeads * DV, heads * DV, heads, heads];
  const permuted = natural.map((t, i) => permuteInput(gpu, t, layout, batch, widths[i]));
  const qWalk = gpu.makeTensorInfo([qPlan.table.length], 'int32', qPlan.table);
  const kvWalk = gpu.makeTensorInfo([kvPlan.table.length], 'int32', kvPlan.table);
  const dqProgram = new GnaDqProgram(problem, qPlan, tiles);
  const dqPermuted = gpu.runWebGPUProgram(dqProgram, [...permuted, qWalk], 'float32',
    dqProgram.uniformData());
  const dkdvProgram = new GnaDkDvProgram(problem, kvPlan, tiles);
  const dkdv = gpu.runWebGPUProgram(dkdvProgram, [...permuted, kvWalk], 'float32',
    dkdvProgram.uniformData());
  const kvRows = batch * layout.groups * layout.sequenceLength * kvHeads;
  const dq = unpermuteRegion(gpu, dqPermuted, layout, batch, heads * D, 0, x.q.shape);
  const dk = unpermuteRegion(gpu, dkdv, layout, batch, kvHeads * D, 0, x.k.shape);
  const dv = unpermuteRegion(gpu, dkdv, layout, batch, kvHeads * DV, kvRows * D, x.v.shape);
  const temporaries: TensorInfo[] = [delta, qWalk, kvWalk, dqPermuted, dkdv,
    ...permuted.filter((p, i) => p !== natural[i])];
  disposeAll(gpu, temporaries);
  return [dq, dk, dv];
};

export const gnaGradWebGPUConfig: KernelConfig = {
  kernelName: GNA_GRAD, backendName: 'webgpu', kernelFunc: gnaGradWebGPU,
};

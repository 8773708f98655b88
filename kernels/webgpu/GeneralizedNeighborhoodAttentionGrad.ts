import { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { GNA_GRAD, GnaGradInputs, GnaKernelAttrs, gnaProblemOf } from '../../src/kernel_names';
import {
  GnaDeltaProgram, GnaDkDvProgram, GnaDqProgram, chooseBackwardTiles,
} from './gna_backward_webgpu';
import { walkPlanFor } from './gna_plan';
import { deviceBudget, extractRegion } from './gna_webgpu_common';
import { disposeAll, webgpuBackend } from './webgpu_backend';

/**
 * dQ, dK, dV from the saved output and LSE (spec §3.4), every tensor in the natural layout (the
 * programs gather tokens by coordinates). One tiling serves both walks: its tiles are the key
 * tiles of the dK/dV program (chosen for the inverse-neighbourhood walk) and the query tiles of
 * the dQ program.
 */
export const gnaGradWebGPU: KernelFunc = ({ inputs, backend, attrs }) => {
  const x = inputs as GnaGradInputs;
  const problem = gnaProblemOf(x, attrs as unknown as GnaKernelAttrs);
  const gpu = webgpuBackend(backend);
  const { batch, heads, kvHeads, headDim: D, valueDim: DV, spatialShape } = problem;
  const tiles = chooseBackwardTiles(deviceBudget(gpu), D, DV, spatialShape.length);
  const kvPlan = walkPlanFor('queries', problem, tiles.tile, tiles.queries);
  const qPlan = walkPlanFor('keys', problem, tiles.tile, tiles.keys, kvPlan.layout.tileShape);
  const tokens = kvPlan.layout.tokens;
  const delta = gpu.runWebGPUProgram(new GnaDeltaProgram(batch * tokens * heads, DV),
    [x.dOutput, x.output, x.dLse], 'float32');
  const operands = [x.q, x.k, x.v, x.dOutput, x.lse, delta];
  const qWalk = gpu.makeTensorInfo([qPlan.table.length], 'int32', qPlan.table);
  const kvWalk = gpu.makeTensorInfo([kvPlan.table.length], 'int32', kvPlan.table);
  const dqProgram = new GnaDqProgram(problem, qPlan, tiles);
  const dqFlat = gpu.runWebGPUProgram(dqProgram, [...operands, qWalk], 'float32',
    dqProgram.uniformData());
  const dkdvProgram = new GnaDkDvProgram(problem, kvPlan, tiles);
  const dkdv = gpu.runWebGPUProgram(dkdvProgram, [...operands, kvWalk], 'float32',
    dkdvProgram.uniformData());
  const dq = { dataId: dqFlat.dataId, shape: x.q.shape, dtype: dqFlat.dtype };
  const dk = extractRegion(gpu, dkdv, 0, x.k.shape);
  const dv = extractRegion(gpu, dkdv, batch * tokens * kvHeads * D, x.v.shape);
  disposeAll(gpu, [delta, qWalk, kvWalk, dkdv]);
  return [dq, dk, dv];
};

export const gnaGradWebGPUConfig: KernelConfig = {
  kernelName: GNA_GRAD, backendName: 'webgpu', kernelFunc: gnaGradWebGPU,
};

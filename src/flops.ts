/**
 * FLOP counts of attention: 2·D multiply-adds per score plus 2·Dv per value accumulation, per
 * attended (query, key) pair and head. The GNA count sums the exact window sizes (causal windows
 * shrink near the start), so dense / GNA is the FLOP-wise speedup bound.
 */
import { GnaProblem, axisWindow } from './params';
import { dilationGroupLength, windowEnd, windowStart } from './window';

/** Attended (query, key) pairs of a GNA problem, per batch and head. */
export function attendedPairs(problem: GnaProblem): number {
  // The mask is a product over axes, so the pair count is a product of per-axis sums.
  return problem.spatialShape.reduce((total, L, axis) => {
    let pairs = 0;
    for (let g = 0; g < problem.dilation[axis]; g++) {
      const w = axisWindow(problem, problem.spatialShape, axis, g);
      for (let i = 0; i < dilationGroupLength(L, problem.dilation[axis], g); i++) {
        pairs += windowEnd(i, w) - windowStart(i, w);
      }
    }
    return total * pairs;
  }, 1);
}

export function gnaFlops(problem: GnaProblem): number {
  return problem.batch * problem.heads * attendedPairs(problem) *
    2 * (problem.headDim + problem.valueDim);
}

export function denseFlops(problem: GnaProblem): number {
  const tokens = problem.spatialShape.reduce((a, b) => a * b, 1);
  return problem.batch * problem.heads * tokens * tokens * 2 * (problem.headDim + problem.valueDim);
}

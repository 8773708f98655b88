/**
 * Walks a GNA problem as blocks of queries that share one window (from `windowRuns` of the shared
 * window math, per axis and dilation group), handing each block's query and key token indices to
 * a callback. Both CPU kernels use it, so each window is computed once per block, not per query.
 */
import { GnaProblem, axisWindow } from '../../src/params';
import { rowMajorStrides } from '../../src/layout';
import { WindowRun, windowRuns } from '../../src/window';

export interface WindowBlock {
  /** Row-major token indices (within one batch) of the block's queries, `queries[0..queryCount)`. */
  queries: Int32Array;
  queryCount: number;
  /** Row-major token indices of the keys every query of the block attends to. */
  keys: Int32Array;
  keyCount: number;
}

const product = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

/** Token indices of the box `prod_i [ranges_i)` of in-group positions, mapped to the grid. */
function fillBox(out: Int32Array, starts: number[], ends: number[], dilation: number[],
                 group: number[], strides: number[]): number {
  const rank = starts.length;
  for (let i = 0; i < rank; i++) if (starts[i] >= ends[i]) return 0;
  const pos = starts.slice();
  let count = 0;
  for (;;) {
    let index = 0;
    for (let i = 0; i < rank; i++) index += (pos[i] * dilation[i] + group[i]) * strides[i];
    out[count++] = index;
    let axis = rank - 1;
    while (axis >= 0 && ++pos[axis] === ends[axis]) {
      pos[axis] = starts[axis];
      axis--;
    }
    if (axis < 0) return count;
  }
}

/** Calls `visit` once per (dilation group, block of queries with one shared window). */
export function forEachWindowBlock(problem: GnaProblem, visit: (block: WindowBlock) => void) {
  const { spatialShape, dilation } = problem;
  const rank = spatialShape.length;
  const strides = rowMajorStrides(spatialShape);
  // runs[axis][group] lists the runs of queries sharing a window along that axis.
  const runs: WindowRun[][][] = spatialShape.map((_, axis) =>
    Array.from({ length: dilation[axis] }, (_g, g) => windowRuns(axisWindow(problem, spatialShape,
      axis, g))));
  // A reduce, not Math.max(...runs): a long axis has one run per query (causal, or stride 1),
  // and spreading 10^5 arguments overflows the call stack.
  const maxRun = runs.map((perGroup) => perGroup.flat().reduce(
    (m, r) => Math.max(m, r.queries.end - r.queries.start), 0));
  const block: WindowBlock = {
    queries: new Int32Array(product(maxRun)), queryCount: 0,
    keys: new Int32Array(product(problem.windowSize)), keyCount: 0,
  };
  const group = new Array<number>(rank).fill(0);
  const runIndex = new Array<number>(rank).fill(0);
  const qStarts = new Array<number>(rank);
  const qEnds = new Array<number>(rank);
  const kStarts = new Array<number>(rank);
  const kEnds = new Array<number>(rank);
  for (;;) {
    runIndex.fill(0);
    for (;;) {
      for (let axis = 0; axis < rank; axis++) {
        const run = runs[axis][group[axis]][runIndex[axis]];
        qStarts[axis] = run.queries.start;
        qEnds[axis] = run.queries.end;
        kStarts[axis] = run.keys.start;
        kEnds[axis] = run.keys.end;
      }
      block.queryCount = fillBox(block.queries, qStarts, qEnds, dilation, group, strides);
      block.keyCount = fillBox(block.keys, kStarts, kEnds, dilation, group, strides);
      visit(block);
      let axis = rank - 1;
      while (axis >= 0 && ++runIndex[axis] === runs[axis][group[axis]].length) runIndex[axis--] = 0;
      if (axis < 0) break;
    }
    let axis = rank - 1;
    while (axis >= 0 && ++group[axis] === dilation[axis]) group[axis--] = 0;
    if (axis < 0) return;
  }
}

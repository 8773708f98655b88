/**
 * Dilation groups of a grid, grouped by shape. Tiles never cross groups (spec §4: groups are
 * folded into the batch), and a group's tile statistics depend only on its per-axis lengths, of
 * which each axis has at most two (spec §1.2). So `prod(dilation)` groups collapse to at most
 * `2^rank` classes, each simulated once and weighted by how many groups share it.
 */
import { dilationGroupLength } from '../window';

export interface GroupClass {
  /** In-group length of every axis. */
  lengths: number[];
  /** Number of dilation groups with these lengths. */
  count: number;
  /** The first such group, as a group index per axis. */
  group: number[];
}

interface AxisClass {
  length: number;
  count: number;
  group: number;
}

function axisClasses(L: number, d: number): AxisClass[] {
  const classes: AxisClass[] = [];
  for (let g = 0; g < d; g++) {
    const length = dilationGroupLength(L, d, g);
    const found = classes.find((c) => c.length === length);
    if (found) found.count++;
    else classes.push({ length, count: 1, group: g });
  }
  return classes;
}

export function dilationGroupClasses(shape: number[], dilation: number[]): GroupClass[] {
  let classes: GroupClass[] = [{ lengths: [], count: 1, group: [] }];
  shape.forEach((L, axis) => {
    const next: GroupClass[] = [];
    for (const c of classes) {
      for (const a of axisClasses(L, dilation[axis])) {
        next.push({
          lengths: [...c.lengths, a.length], count: c.count * a.count, group: [...c.group, a.group],
        });
      }
    }
    classes = next;
  });
  return classes;
}

/** The in-group lengths of one dilation group. */
export function groupLengths(shape: number[], dilation: number[], group: number[]): number[] {
  return shape.map((L, i) => dilationGroupLength(L, dilation[i], group[i]));
}

/**
 * Copies one region of a buffer into a tensor of its own. tfjs-backend-webgpu's program runner
 * gives a program one output binding, so the GNA programs write several results (output and LSE,
 * or dK and dV) into one buffer, already in the natural layout; this flat pass splits them.
 */
import { FlatProgram } from './flat_program';
import { ProgramUniforms } from './wgsl';

/** `result[i] = x[offset + i]` for `i < size`, by vec4 when offset and size allow. */
export class RegionCopyProgram extends FlatProgram {
  constructor(size: number, offset: number) {
    const c = size % 4 === 0 && offset % 4 === 0 ? 4 : 1;
    super(`gnaRegionCopy_c${c}`, [size], c, new ProgramUniforms().int('inOffset', offset / c));
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.size) { result[index] = x[uniforms.inOffset + index]; }
      }`;
  }
}

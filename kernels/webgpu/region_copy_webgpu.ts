/**
 * Copies one region of a buffer into a tensor of its own. tfjs-backend-webgpu's program runner
 * gives a program one output binding, so the GNA programs write several results (output and LSE,
 * or dK and dV) into one buffer, already in the natural layout; this flat pass splits them.
 */
import { ProgramUniform, WebGPUProgram } from './webgpu_backend';
import { ProgramUniforms } from './wgsl';

const WORKGROUP = 64;

/** `result[i] = x[offset + i]` for `i < size`, by vec4 when offset and size allow. */
export class RegionCopyProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  variableNames = ['x'];
  variableComponents: number[];
  outputComponent: number;
  workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  uniforms: string;
  size = true;
  private values: ProgramUniforms;

  constructor(size: number, offset: number) {
    const c = size % 4 === 0 && offset % 4 === 0 ? 4 : 1;
    this.outputShape = [size];
    this.outputComponent = c;
    this.variableComponents = [c];
    this.dispatch = [Math.ceil(size / c / WORKGROUP), 1, 1];
    this.values = new ProgramUniforms().int('inOffset', offset / c);
    this.uniforms = this.values.declaration();
    this.shaderKey = `gnaRegionCopy_c${c}`;
  }

  uniformData(): ProgramUniform {
    return this.values.data();
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.size) { result[index] = x[uniforms.inOffset + index]; }
      }`;
  }
}

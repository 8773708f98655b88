/**
 * The shape of the package's flat WebGPU passes (token permute/unpermute, region copies): one
 * invocation per output vector of `components` floats over a 1-D dispatch, one input `x`, and
 * their parameters as uniforms. Subclasses give the shader body.
 */
import { ProgramUniform, WebGPUProgram } from './webgpu_backend';
import { ProgramUniforms } from './wgsl';

const WORKGROUP = 64;

export abstract class FlatProgram implements WebGPUProgram {
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

  constructor(shaderKey: string, outputShape: number[], components: number,
              values: ProgramUniforms) {
    this.shaderKey = shaderKey;
    this.outputShape = outputShape;
    this.outputComponent = components;
    this.variableComponents = [components];
    const size = outputShape.reduce((a, b) => a * b, 1);
    this.dispatch = [Math.ceil(size / components / WORKGROUP), 1, 1];
    this.values = values;
    this.uniforms = values.declaration();
  }

  uniformData(): ProgramUniform {
    return this.values.data();
  }

  abstract getUserCode(): string;
}

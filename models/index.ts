/**
 * Model adapters: the attention blocks of FLUX.1-dev, HunyuanVideo and Cosmos-1.0-7B in tfjs,
 * checkpoint loading, and the swap to GNA with the paper's presets. Importing this registers
 * the GNA kernels (through `src`). The Node file reader is in `./common/safetensors_node`.
 */
import '../src';

export * from './common';
export * from './flux';
export * from './hunyuan';
export * from './cosmos';
export * from './presets';

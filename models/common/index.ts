/** Shared pieces of the model adapters. */
export * from './adapter';
export * from './attention';
export * from './layers';
export * from './mmdit';
export * from './rope';
export * from './safetensors';
export * from './specs';
export * from './tiled_tokens';
export * from './weights';

/**
 * The paper's problems as the native benchmarks run them (bench.ts, profile.ts), and their random
 * device operands.
 */
import { NativeAddon } from '../../kernels/native/addon';
import { Scratch } from '../../kernels/native/gna_launch';
import { TileShapes } from '../../kernels/native/gna_plan';

export interface Case {
  name: string;
  shape: number[];
  window: number[];
  stride: number[];
  heads: number;
  /** Fixed tile shapes {qTile, kvTile}; the chooser's when absent. */
  tiles?: number[][];
}

export const DIM = 128;
export const CASES: Case[] = [
  { name: 'flux4k_gna', shape: [256, 256], window: [80, 80], stride: [16, 16], heads: 24 },
  { name: 'flux4k_na', shape: [256, 256], window: [80, 80], stride: [1, 1], heads: 24 },
  // NA on other tilings than the chooser's 8x16/16x8: 64/64 (its choice before session 8),
  // 128-token Q tiles over KV tiles of 128 and 64 tokens.
  { name: 'flux4k_na_t64', shape: [256, 256], window: [80, 80], stride: [1, 1], heads: 24,
    tiles: [[8, 8], [8, 8]] },
  { name: 'flux4k_na_t128', shape: [256, 256], window: [80, 80], stride: [1, 1], heads: 24,
    tiles: [[8, 16], [8, 16]] },
  { name: 'flux4k_na_q128', shape: [256, 256], window: [80, 80], stride: [1, 1], heads: 24,
    tiles: [[8, 16], [8, 8]] },
  // FLUX-4K GNA with NA's 64/64 tiles: every visit dense, so against flux4k_na it separates
  // the fine mask's cost from the 64-token tiles'.
  { name: 'flux4k_gna_t64', shape: [256, 256], window: [80, 80], stride: [16, 16], heads: 24,
    tiles: [[8, 8], [8, 8]] },
  { name: 'hunyuan_gna', shape: [30, 48, 80], window: [18, 24, 24], stride: [16, 8, 8], heads: 24 },
  { name: 'hunyuan_na', shape: [30, 48, 80], window: [18, 24, 24], stride: [1, 1, 1], heads: 24 },
  // HunyuanVideo NA on 64/64 tiles (the chooser's before session 8; now 8x4x4/2x8x4).
  { name: 'hunyuan_na_t64', shape: [30, 48, 80], window: [18, 24, 24], stride: [1, 1, 1],
    heads: 24, tiles: [[4, 4, 4], [2, 8, 4]] },
  { name: 'cosmos_gna', shape: [16, 44, 80], window: [16, 32, 48], stride: [1, 8, 16], heads: 32 },
  { name: 'flux1k_gna', shape: [64, 64], window: [32, 32], stride: [8, 8], heads: 24 },
];

/** A case's fixed tile shapes as the native options take them (undefined: the chooser's). */
export function tileShapesOf(c: Case): TileShapes | undefined {
  return c.tiles && { qTile: c.tiles[0], kvTile: c.tiles[1] };
}

/** A device buffer of `count` float32 values: a random block repeated (not zeros, not periodic
 * on any power of two). */
export function randomBuffer(scratch: Scratch, addon: NativeAddon, count: number): number {
  const block = new Float32Array(1000003);
  for (let i = 0; i < block.length; i++) block[i] = (Math.random() + Math.random() - 1) * 1.7;
  const host = new Float32Array(count);
  for (let at = 0; at < count; at += block.length) {
    host.set(block.subarray(0, Math.min(block.length, count - at)), at);
  }
  const h = scratch.alloc(count * 4);
  addon.upload(h, host);
  return h;
}

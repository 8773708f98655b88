/**
 * The safetensors reader on valid files (f32/f16/bf16 to float32, in memory and from disk) and
 * on malformed and hostile ones: each gives a clear Error, never a crash or a huge allocation.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CombinedSource, SafetensorsBuffer } from '../../models/common/safetensors';
import { openSafetensors, SafetensorsFile } from '../../models/common/safetensors_node';
import { rawSafetensors, writeSafetensors } from './helpers';

const VALUES = [1.5, -2, 0, 65504, 2 ** -24, -0.375, 1 / 3, Infinity];

function valid(): Uint8Array {
  return writeSafetensors([
    { name: 'a', shape: [2, 4], data: VALUES },
    { name: 'h', dtype: 'F16', shape: [8], data: VALUES },
    { name: 'b', dtype: 'BF16', shape: [4, 2], data: VALUES },
    { name: 'empty', shape: [0, 3], data: [] },
  ], { format: 'pt' });
}

describe('safetensors reader', () => {
  it('decodes F32, F16 and BF16 to float32', () => {
    const f = new SafetensorsBuffer(valid());
    expect(f.names().sort()).toEqual(['a', 'b', 'empty', 'h']);
    expect(f.header.metadata).toEqual({ format: 'pt' });
    expect(Array.from(f.read('a'))).toEqual(Array.from(new Float32Array(VALUES)));
    // f16: exact for these, 1/3 rounds to the nearest half 0.333251953125.
    expect(Array.from(f.read('h'))).toEqual([1.5, -2, 0, 65504, 2 ** -24, -0.375, 0.333251953125, Infinity]);
    // bf16 truncates the float32 bits: 65504 -> 65280, 2^-24 exact, 1/3 -> 0.33203125.
    expect(Array.from(f.read('b'))).toEqual([1.5, -2, 0, 65280, 2 ** -24, -0.375, 0.33203125, Infinity]);
    expect(f.entry('b')).toMatchObject({ dtype: 'BF16', shape: [4, 2] });
    expect(f.read('empty').length).toBe(0);
    expect(() => f.read('nope')).toThrow(/no tensor 'nope'/);
  });

  it('reads files from disk tensor by tensor, and sharded checkpoints through the index', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-'));
    try {
      fs.writeFileSync(path.join(dir, 'm-1.safetensors'), writeSafetensors([{ name: 'x', shape: [2], data: [1, 2] }]));
      fs.writeFileSync(path.join(dir, 'm-2.safetensors'), writeSafetensors([{ name: 'y', shape: [1], data: [3] }]));
      fs.writeFileSync(path.join(dir, 'm.safetensors.index.json'),
        JSON.stringify({ weight_map: { x: 'm-1.safetensors', y: 'm-2.safetensors' } }));
      const src = openSafetensors(path.join(dir, 'm.safetensors.index.json'));
      expect(src.names().sort()).toEqual(['x', 'y']);
      expect(Array.from(src.read('y'))).toEqual([3]);
      src.close();
      const bytes = valid();
      fs.writeFileSync(path.join(dir, 'cut.safetensors'), bytes.subarray(0, bytes.length - 3));
      expect(() => new SafetensorsFile(path.join(dir, 'cut.safetensors'))).toThrow(
        /tensor 'b': data_offsets \[48, 64\] out of range of the 61-byte data section/);
      fs.writeFileSync(path.join(dir, 'tiny.safetensors'), bytes.subarray(0, 5));
      expect(() => new SafetensorsFile(path.join(dir, 'tiny.safetensors'))).toThrow(
        /file is 5 bytes; a safetensors file starts with an 8-byte header length/);
      fs.writeFileSync(path.join(dir, 'bad.index.json'), JSON.stringify({ weight_map: { x: '../m-1.safetensors' } }));
      expect(() => openSafetensors(path.join(dir, 'bad.index.json'))).toThrow(/must be file names in its folder/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects a name present in two shards', () => {
    const one = new SafetensorsBuffer(writeSafetensors([{ name: 'x', shape: [1], data: [1] }]), 'one');
    const two = new SafetensorsBuffer(writeSafetensors([{ name: 'x', shape: [1], data: [2] }]), 'two');
    expect(() => new CombinedSource([one, two])).toThrow(/tensor 'x' is in both one and two/);
  });

  const data8 = new Uint8Array(8);
  const hostile: Array<[string, () => Uint8Array, RegExp]> = [
    ['truncated data', () => valid().subarray(0, valid().length - 1), /tensor 'b': data_offsets \[48, 64\] out of range of the 63-byte data section/],
    ['truncated header', () => valid().subarray(0, 20), /header length \d+ runs past the end/],
    ['header length past the end', () => rawSafetensors({}, data8, 1000), /header length 1000 runs past the end of the 18-byte file/],
    ['header length near 2^64', () => rawSafetensors({}, data8, 2 ** 53), /runs past the end/],
    ['header not JSON', () => rawSafetensors('{"a": [', new Uint8Array(0)), /header is not valid UTF-8 JSON/],
    ['header not UTF-8', () => { const f = rawSafetensors('{"a":1}', new Uint8Array(0)); f[10] = 0xff; return f; }, /not valid UTF-8 JSON/],
    ['header an array', () => rawSafetensors('[1, 2]', new Uint8Array(0)), /header must be a JSON object/],
    ['entry not an object', () => rawSafetensors({ a: 3 }, new Uint8Array(0)), /tensor 'a': entry must be an object/],
    ['unknown dtype', () => rawSafetensors({ a: { dtype: 'F33', shape: [2], data_offsets: [0, 8] } }, data8), /dtype 'F33' is not a safetensors dtype/],
    ['unsupported dtype', () => rawSafetensors({ a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, data8), /dtype 'I64' is not supported \(only F32, F16 and BF16 are\)/],
    ['negative dim', () => rawSafetensors({ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, data8), /shape must be an array of at most 8 non-negative integers/],
    ['fractional dim', () => rawSafetensors({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 8] } }, data8), /shape must be/],
    ['absurd shape', () => rawSafetensors({ a: { dtype: 'F32', shape: [1e15, 1e15, 1e15], data_offsets: [0, 8] } }, data8), /shape \[1000000000000000, .*\] of F32 does not match its 8-byte data_offsets range/],
    ['shape vs bytes mismatch', () => rawSafetensors({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, data8), /shape \[3\] of F32 does not match its 8-byte/],
    ['offsets out of range', () => rawSafetensors({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, data8), /data_offsets \[0, 16\] out of range of the 8-byte data section/],
    ['offsets reversed', () => rawSafetensors({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, data8), /data_offsets \[8, 0\] out of range/],
    ['offsets huge', () => rawSafetensors({ a: { dtype: 'F32', shape: [1], data_offsets: [2 ** 60, 2 ** 60 + 4] } }, data8), /data_offsets must be \[begin, end\], non-negative integers|out of range/],
    ['offsets missing', () => rawSafetensors({ a: { dtype: 'F32', shape: [1] } }, data8), /data_offsets must be \[begin, end\]/],
    ['overlapping tensors', () => rawSafetensors({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, data8), /tensor 'b' \[4, 8\) overlaps tensor 'a'/],
    ['gap between tensors', () => rawSafetensors({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, data8), /bytes \[0, 4\) of the data belong to no tensor/],
    ['trailing bytes', () => rawSafetensors({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, data8), /data section is 8 bytes but the tensors cover 4/],
    ['metadata not strings', () => rawSafetensors({ __metadata__: { a: 1 } }, new Uint8Array(0)), /__metadata__ must be an object of strings/],
  ];
  for (const [title, make, message] of hostile) {
    it(`rejects ${title}`, () => {
      expect(() => new SafetensorsBuffer(make())).toThrow(message);
    });
  }

  it('survives 3000 random mutations of a valid file: each parses consistently or throws a clear Error', () => {
    const base = valid();
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    let parsed = 0;
    let rejected = 0;
    for (let iter = 0; iter < 3000; iter++) {
      let f = base.slice();
      const kind = iter % 4;
      const mutations = 1 + Math.floor(rand() * 4);
      for (let m = 0; m < mutations; m++) {
        if (kind === 0) f[Math.floor(rand() * f.length)] = Math.floor(rand() * 256);
        else if (kind === 1) f[8 + Math.floor(rand() * (f.length - 8))] ^= 1 << Math.floor(rand() * 8);
        else if (kind === 2) f = f.subarray(0, Math.floor(rand() * f.length));
        else f[Math.floor(rand() * 8)] = Math.floor(rand() * 256);
      }
      try {
        const st = new SafetensorsBuffer(f);
        for (const n of st.names()) {
          const e = st.entry(n)!;
          const out = st.read(n);
          expect(out.length).toBe(e.shape.reduce((a, b) => a * b, 1));
          expect(e.end).toBeLessThanOrEqual(f.length);
        }
        parsed++;
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
        expect((e as Error).message).toMatch(/^safetensors \(buffer\): /);
        rejected++;
      }
    }
    expect(parsed + rejected).toBe(3000);
    expect(rejected).toBeGreaterThan(1000);
  });
});

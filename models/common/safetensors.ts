/**
 * A safetensors reader that trusts nothing in the file. Layout: an 8-byte little-endian header
 * length N, N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}`,
 * then the data, offsets relative to its start. Before anything is allocated, the header length,
 * every dtype, shape and offset range is checked against the file size, and the tensors must
 * tile the data exactly (no overlap, no gap, no trailing bytes), as the reference Rust
 * implementation requires. Nothing is ever allocated beyond what the file holds: the header
 * buffer is at most the file size (and `MAX_HEADER_BYTES`), a tensor buffer at most its
 * validated byte range.
 */

/** The dtypes this reader converts to float32. */
export type SupportedDtype = 'F32' | 'F16' | 'BF16';

const ITEM_BYTES: Record<SupportedDtype, number> = { F32: 4, F16: 2, BF16: 2 };

/** Valid safetensors dtypes that a float32 model cannot use; named in the error. */
const OTHER_DTYPES = new Set(['F64', 'I64', 'U64', 'I32', 'U32', 'I16', 'U16', 'I8', 'U8', 'BOOL',
  'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64']);

/** The Rust implementation's bound; no real checkpoint header comes near it. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorEntry {
  name: string;
  dtype: SupportedDtype;
  shape: number[];
  /** Byte range inside the data section (after the header). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
  /** Byte offset of the data section in the file: `8 + N`. */
  dataOffset: number;
}

/** Anything that serves named float32 tensors: one file, several shards, a test fixture. */
export interface TensorSource {
  /** Where the tensors come from, for error messages. */
  readonly description: string;
  names(): string[];
  entry(name: string): TensorEntry | undefined;
  read(name: string): Float32Array;
}

function fail(where: string, message: string): never {
  throw new Error(`safetensors (${where}): ${message}`);
}

/** Reads and checks N from the first 8 bytes, against the file size. */
export function readHeaderLength(first8: Uint8Array, fileSize: number, where: string): number {
  if (fileSize < 8 || first8.length < 8) {
    fail(where, `file is ${fileSize} bytes; a safetensors file starts with an 8-byte header length`);
  }
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  const length = high * 2 ** 32 + low;
  if (high >= 2 ** 21 || length > fileSize - 8) {
    fail(where, `header length ${length} runs past the end of the ${fileSize}-byte file`);
  }
  if (length > MAX_HEADER_BYTES) {
    fail(where, `header length ${length} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  if (length < 2) fail(where, `header length ${length} is too short for a JSON object`);
  return length;
}

const isCount = (x: unknown): x is number =>
  typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

function checkEntry(name: string, raw: unknown, dataLength: number, where: string): TensorEntry {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    fail(where, `tensor '${name}': entry must be an object {dtype, shape, data_offsets}`);
  }
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== 'string') fail(where, `tensor '${name}': dtype is missing or not a string`);
  if (!(dtype in ITEM_BYTES)) {
    const what = OTHER_DTYPES.has(dtype) ? 'is not supported (only F32, F16 and BF16 are)'
      : 'is not a safetensors dtype';
    fail(where, `tensor '${name}': dtype '${dtype.slice(0, 32)}' ${what}`);
  }
  if (!Array.isArray(shape) || shape.length > 8 || !shape.every(isCount)) {
    fail(where, `tensor '${name}': shape must be an array of at most 8 non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    fail(where, `tensor '${name}': data_offsets must be [begin, end], non-negative integers`);
  }
  const [begin, end] = offsets as number[];
  if (begin > end || end > dataLength) {
    fail(where, `tensor '${name}': data_offsets [${begin}, ${end}] out of range of the ` +
      `${dataLength}-byte data section`);
  }
  const item = ITEM_BYTES[dtype as SupportedDtype];
  // The element count is bounded by the byte span before it can overflow.
  let elements = 1;
  for (const d of shape as number[]) {
    elements *= d;
    if (elements * item > end - begin && d !== 0) break;
  }
  if ((shape as number[]).includes(0)) elements = 0;
  if (elements * item !== end - begin) {
    fail(where, `tensor '${name}': shape [${(shape as number[]).join(', ')}] of ${dtype} does ` +
      `not match its ${end - begin}-byte data_offsets range`);
  }
  return { name, dtype: dtype as SupportedDtype, shape: (shape as number[]).slice(), begin, end };
}

/** The tensors must tile the data section exactly, in some order. */
function checkTiling(entries: TensorEntry[], dataLength: number, where: string) {
  const sorted = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let previous = '';
  for (const e of sorted) {
    if (e.begin < at) {
      fail(where, `tensor '${e.name}' [${e.begin}, ${e.end}) overlaps tensor '${previous}' ` +
        `(which ends at ${at})`);
    }
    if (e.begin > at) fail(where, `bytes [${at}, ${e.begin}) of the data belong to no tensor`);
    at = e.end;
    previous = e.name;
  }
  if (at !== dataLength) {
    fail(where, `the data section is ${dataLength} bytes but the tensors cover ${at}`);
  }
}

/** Parses and validates the JSON header (`headerBytes` = the N bytes after the length). */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, where: string): SafetensorsHeader {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    fail(where, `header is not valid UTF-8 JSON (${(e as Error).message.slice(0, 120)})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    fail(where, 'header must be a JSON object');
  }
  const dataOffset = 8 + headerBytes.length;
  const dataLength = fileSize - dataOffset;
  const tensors = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw) ||
          Object.values(raw as object).some((v) => typeof v !== 'string')) {
        fail(where, '__metadata__ must be an object of strings');
      }
      metadata = { ...(raw as Record<string, string>) };
      continue;
    }
    tensors.set(name, checkEntry(name, raw, dataLength, where));
  }
  checkTiling([...tensors.values()], dataLength, where);
  return { tensors, metadata, dataOffset };
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** IEEE half to float. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

let halfTable: Float32Array | undefined;

/** Converts one tensor's raw little-endian bytes to float32. */
export function decodeTensor(bytes: Uint8Array, dtype: SupportedDtype): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = bytes.byteLength / ITEM_BYTES[dtype];
  const out = new Float32Array(count);
  if (dtype === 'F32') {
    if (HOST_IS_LITTLE_ENDIAN) {
      new Uint8Array(out.buffer).set(bytes);
    } else {
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
    }
  } else if (dtype === 'BF16') {
    // bf16 is the top half of a float32.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true) << 16;
  } else {
    if (halfTable === undefined) {
      halfTable = new Float32Array(65536);
      for (let h = 0; h < 65536; h++) halfTable[h] = halfToFloat(h);
    }
    for (let i = 0; i < count; i++) out[i] = halfTable[view.getUint16(2 * i, true)];
  }
  return out;
}

/** A whole safetensors file held in memory (fetched in a browser, or a test fixture). */
export class SafetensorsBuffer implements TensorSource {
  readonly header: SafetensorsHeader;

  constructor(private readonly bytes: Uint8Array, readonly description = 'buffer') {
    if (!(bytes instanceof Uint8Array)) {
      throw new Error('safetensors: expected the file contents as a Uint8Array');
    }
    const length = readHeaderLength(bytes.subarray(0, 8), bytes.length, description);
    this.header = parseHeader(bytes.subarray(8, 8 + length), bytes.length, description);
  }

  names(): string[] {
    return [...this.header.tensors.keys()];
  }

  entry(name: string): TensorEntry | undefined {
    return this.header.tensors.get(name);
  }

  read(name: string): Float32Array {
    const e = this.entry(name);
    if (e === undefined) throw new Error(`safetensors (${this.description}): no tensor '${name}'`);
    const at = this.header.dataOffset;
    return decodeTensor(this.bytes.subarray(at + e.begin, at + e.end), e.dtype);
  }
}

/** Several sources as one (sharded checkpoints); a name in two of them is an error. */
export class CombinedSource implements TensorSource {
  private readonly owner = new Map<string, TensorSource>();
  readonly description: string;

  constructor(sources: TensorSource[]) {
    for (const s of sources) {
      for (const n of s.names()) {
        const other = this.owner.get(n);
        if (other !== undefined) {
          throw new Error(`safetensors: tensor '${n}' is in both ${other.description} and ` +
            `${s.description}`);
        }
        this.owner.set(n, s);
      }
    }
    this.description = sources.map((s) => s.description).join(', ');
  }

  names(): string[] {
    return [...this.owner.keys()];
  }

  entry(name: string): TensorEntry | undefined {
    return this.owner.get(name)?.entry(name);
  }

  read(name: string): Float32Array {
    const s = this.owner.get(name);
    if (s === undefined) throw new Error(`safetensors (${this.description}): no tensor '${name}'`);
    return s.read(name);
  }
}

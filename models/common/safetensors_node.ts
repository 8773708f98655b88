/**
 * Node file access for safetensors checkpoints: the header is read and validated first, then each
 * tensor is read on demand, so a 24 GB FLUX checkpoint never has to fit in memory. Kept apart
 * from `safetensors.ts` so browser bundles do not pull in `fs`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CombinedSource, decodeTensor, parseHeader, readHeaderLength, SafetensorsHeader,
         TensorEntry, TensorSource } from './safetensors';

function readExactly(fd: number, length: number, position: number, where: string): Uint8Array {
  const buffer = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) throw new Error(`safetensors (${where}): file ended early (was it truncated?)`);
    done += n;
  }
  return buffer;
}

/** One safetensors file on disk. Call `close()` when done. */
export class SafetensorsFile implements TensorSource {
  readonly header: SafetensorsHeader;
  private fd: number | undefined;

  constructor(readonly description: string) {
    this.fd = fs.openSync(description, 'r');
    try {
      const size = fs.fstatSync(this.fd).size;
      const length = readHeaderLength(readExactly(this.fd, Math.min(8, size), 0, description),
        size, description);
      this.header = parseHeader(readExactly(this.fd, length, 8, description), size, description);
    } catch (e) {
      this.close();
      throw e;
    }
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
    if (this.fd === undefined) throw new Error(`safetensors (${this.description}): file is closed`);
    const bytes = readExactly(this.fd, e.end - e.begin, this.header.dataOffset + e.begin,
      this.description);
    return decodeTensor(bytes, e.dtype);
  }

  close() {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * Opens a checkpoint: one `.safetensors` file, or a sharded diffusers checkpoint through its
 * `*.safetensors.index.json` (whose `weight_map` names the shards), as one source.
 */
export function openSafetensors(file: string): TensorSource & { close(): void } {
  if (!file.endsWith('.index.json')) return new SafetensorsFile(file);
  let index: unknown;
  try {
    index = JSON.parse(fs.readFileSync(file, 'utf-8'));
  } catch (e) {
    throw new Error(`safetensors (${file}): index is not valid JSON (${(e as Error).message})`);
  }
  const map = (index as { weight_map?: unknown })?.weight_map;
  if (map === null || typeof map !== 'object') {
    throw new Error(`safetensors (${file}): index has no weight_map object`);
  }
  const shards = [...new Set(Object.values(map as Record<string, unknown>))];
  if (shards.some((s) => typeof s !== 'string' || s.includes('/') || s.includes('\\'))) {
    throw new Error(`safetensors (${file}): weight_map values must be file names in its folder`);
  }
  const files: SafetensorsFile[] = [];
  try {
    for (const s of shards as string[]) files.push(new SafetensorsFile(path.join(path.dirname(file), s)));
    const combined = new CombinedSource(files);
    return Object.assign(combined, { close: () => files.forEach((f) => f.close()) });
  } catch (e) {
    files.forEach((f) => f.close());
    throw e;
  }
}

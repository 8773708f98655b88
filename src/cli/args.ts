/**
 * Command-line parsing of `gna-sim`: `--name v1 v2 ...` options, each value checked here so a
 * typo becomes a one-line message (and exit code 2), never a stack trace.
 */
import { Tiling } from '../simulator/config';
import { TILE_BACKENDS, TileBackend } from '../simulator/tile_configs';

export class UsageError extends Error {}

export interface CliOptions {
  shape?: number[];
  window?: number[];
  stride?: number[];
  dilation?: number[];
  causal?: boolean[];
  qTile?: number[];
  kvTile?: number[];
  tiling: Tiling;
  attentionShare?: number;
  sparseStepFraction?: number;
  search: boolean;
  backends?: TileBackend[];
  headDim?: number;
  top: number;
  json: boolean;
  svg?: string;
  svgKind: 'auto' | 'tile' | 'matrix';
  qTileIndex?: number[];
  group?: number[];
  help: boolean;
}

export const USAGE = `Usage: gna-sim --shape L... --window K... [options]

Simulates how a tiled GNA kernel visits KV tiles (the paper's NATTENSim).

Problem:
  --shape L...              spatial shape, 1 to 3 sizes (required)
  --window K...             window size per dim, or one for all (required)
  --stride S...             stride per dim (default 1)
  --dilation D...           dilation per dim (default 1)
  --causal [B...]           causal per dim: 1/0/true/false; alone: every dim
Tiling:
  --q-tile T...             Q tile shape (one token count with --tiling 1d)
  --kv-tile T...            KV tile shape
  --tiling multi|1d         multi-dimensional tiles (default) or 1-D row-major tiles
End to end:
  --attention-share F       share of end-to-end time in attention, in [0, 1]
  --sparse-step-fraction F  fraction of steps using GNA (default 1)
Search:
  --search                  rank every stride against the backends' tile shapes
  --backend NAME...         ${TILE_BACKENDS.join(', ')} (default all)
  --head-dim D              keep tile shapes built for head dim D
  --top N                   rows to print (default 15)
Output:
  --json                    print JSON instead of a table
  --svg FILE                draw the KV tiles of one Q tile (or, for small layouts, the
                            Q x KV tile matrix) to FILE
  --svg-kind auto|tile|matrix
  --q-tile-index I...       the Q tile to draw (default: the worst one)
  --group G...              its dilation group (default: the worst one's)
  --help                    this text

Example: gna-sim --shape 256 256 --window 80 80 --stride 16 16 --q-tile 16 16 --kv-tile 16 8`;

type Kind = 'ints' | 'int' | 'number' | 'bools' | 'flag' | 'word' | 'words';

const OPTIONS: Record<string, { key: keyof CliOptions; kind: Kind }> = {
  '--shape': { key: 'shape', kind: 'ints' },
  '--window': { key: 'window', kind: 'ints' },
  '--stride': { key: 'stride', kind: 'ints' },
  '--dilation': { key: 'dilation', kind: 'ints' },
  '--causal': { key: 'causal', kind: 'bools' },
  '--q-tile': { key: 'qTile', kind: 'ints' },
  '--kv-tile': { key: 'kvTile', kind: 'ints' },
  '--tiling': { key: 'tiling', kind: 'word' },
  '--attention-share': { key: 'attentionShare', kind: 'number' },
  '--sparse-step-fraction': { key: 'sparseStepFraction', kind: 'number' },
  '--search': { key: 'search', kind: 'flag' },
  '--backend': { key: 'backends', kind: 'words' },
  '--head-dim': { key: 'headDim', kind: 'int' },
  '--top': { key: 'top', kind: 'int' },
  '--json': { key: 'json', kind: 'flag' },
  '--svg': { key: 'svg', kind: 'word' },
  '--svg-kind': { key: 'svgKind', kind: 'word' },
  '--q-tile-index': { key: 'qTileIndex', kind: 'ints' },
  '--group': { key: 'group', kind: 'ints' },
  '--help': { key: 'help', kind: 'flag' },
};

function parseInt10(name: string, text: string): number {
  if (!/^-?\d+$/.test(text)) throw new UsageError(`${name} expects integers, got '${text}'`);
  return Number(text);
}

function parseBool(name: string, text: string): boolean {
  if (['1', 'true', 't', 'yes'].includes(text.toLowerCase())) return true;
  if (['0', 'false', 'f', 'no'].includes(text.toLowerCase())) return false;
  throw new UsageError(`${name} expects 1/0/true/false, got '${text}'`);
}

function checkWord(name: string, value: string, allowed: readonly string[]) {
  if (!allowed.includes(value)) {
    throw new UsageError(`${name} must be one of ${allowed.join(', ')}, got '${value}'`);
  }
}

export function parseArgs(argv: string[]): CliOptions {
  const options: CliOptions = { tiling: 'multi', search: false, top: 15, json: false, svgKind: 'auto', help: false };
  const record = options as unknown as Record<string, unknown>;
  const seen = new Set<string>();
  for (let i = 0; i < argv.length;) {
    const name = argv[i++];
    const spec = OPTIONS[name];
    if (spec === undefined) {
      throw new UsageError(name.startsWith('--') ? `unknown option ${name}` : `unexpected argument '${name}'`);
    }
    if (seen.has(name)) throw new UsageError(`${name} is given twice`);
    seen.add(name);
    const values: string[] = [];
    while (i < argv.length && !argv[i].startsWith('--')) values.push(argv[i++]);
    if (spec.kind === 'flag') {
      if (values.length > 0) throw new UsageError(`${name} takes no value, got '${values[0]}'`);
      record[spec.key] = true;
    } else if (spec.kind === 'bools') {
      record[spec.key] = values.length === 0 ? [true] : values.map((v) => parseBool(name, v));
    } else if (values.length === 0) {
      throw new UsageError(`${name} needs a value`);
    } else if (spec.kind === 'ints' || spec.kind === 'words') {
      record[spec.key] = spec.kind === 'ints' ? values.map((v) => parseInt10(name, v)) : values;
    } else if (values.length > 1) {
      throw new UsageError(`${name} takes one value, got ${values.length}: ${values.join(' ')}`);
    } else if (spec.kind === 'int') {
      record[spec.key] = parseInt10(name, values[0]);
    } else if (spec.kind === 'number') {
      const x = Number(values[0]);
      if (values[0].trim() === '' || !Number.isFinite(x)) throw new UsageError(`${name} expects a number, got '${values[0]}'`);
      record[spec.key] = x;
    } else {
      record[spec.key] = values[0];
    }
  }
  checkWord('--tiling', options.tiling, ['multi', '1d']);
  checkWord('--svg-kind', options.svgKind, ['auto', 'tile', 'matrix']);
  options.backends?.forEach((b) => checkWord('--backend', b, TILE_BACKENDS));
  if (options.top < 1) throw new UsageError(`--top must be at least 1, got ${options.top}`);
  if (options.help) return options;
  if (options.shape === undefined) throw new UsageError('--shape is required');
  if (options.window === undefined) throw new UsageError('--window is required');
  if (!options.search) {
    if (options.qTile === undefined) throw new UsageError('--q-tile is required (or use --search)');
    if (options.kvTile === undefined) throw new UsageError('--kv-tile is required (or use --search)');
  }
  return options;
}

/** A one-entry list stands for every dim, as a scalar does in the API. */
export function perAxis<T>(values: T[] | undefined): T | T[] | undefined {
  return values !== undefined && values.length === 1 ? values[0] : values;
}

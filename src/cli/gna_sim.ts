#!/usr/bin/env node
/**
 * `gna-sim`: the tile simulator on the command line. Prints a table (or JSON) for one
 * configuration, ranks configurations with `--search`, and draws SVG pictures with `--svg`.
 * Bad input exits with code 2 and a one-line message.
 */
import * as fs from 'fs';
import { NormalizedSimulationConfig, normalizeSimulationConfig } from '../simulator/config';
import { searchConfigs } from '../simulator/search';
import { simulateNormalized } from '../simulator/simulate';
import { renderQTileSvg, renderTilePairMatrixSvg } from '../simulator/svg';
import { qTileVisits, tilePairMatrix } from '../simulator/visits';
import { CliOptions, USAGE, UsageError, parseArgs, perAxis } from './args';
import { formatSearch, formatSimulation } from './format';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  writeFile(path: string, data: string): void;
}

const processIo: CliIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  writeFile: (path, data) => fs.writeFileSync(path, data),
};

/** Layouts whose whole tile matrix is drawn by `--svg-kind auto`. */
const AUTO_MATRIX_PAIRS = 64 * 64;

function configOf(o: CliOptions): NormalizedSimulationConfig {
  return normalizeSimulationConfig({
    shape: o.shape ?? [], windowSize: perAxis(o.window) ?? [], stride: perAxis(o.stride),
    dilation: perAxis(o.dilation), isCausal: perAxis(o.causal), qTile: perAxis(o.qTile) ?? [],
    kvTile: perAxis(o.kvTile) ?? [], tiling: o.tiling, attentionShare: o.attentionShare,
    sparseStepFraction: o.sparseStepFraction,
  });
}

function drawSvg(o: CliOptions, config: NormalizedSimulationConfig, pairsPerGroup: number): string {
  const matrix = o.svgKind === 'matrix' ||
    (o.svgKind === 'auto' && o.qTileIndex === undefined && pairsPerGroup <= AUTO_MATRIX_PAIRS);
  if (matrix) return renderTilePairMatrixSvg(config, tilePairMatrix(config, o.group));
  return renderQTileSvg(config, qTileVisits(config, o.qTileIndex, o.group));
}

function runSearch(o: CliOptions, io: CliIo) {
  if (o.svg !== undefined) throw new UsageError('--svg draws one configuration; drop --search');
  const result = searchConfigs({
    shape: o.shape ?? [], windowSize: perAxis(o.window) ?? [], dilation: perAxis(o.dilation),
    isCausal: perAxis(o.causal), tiling: o.tiling, backends: o.backends, headDim: o.headDim,
    ...(o.stride === undefined ? {} : { strides: [o.stride.length === 1 ? (o.shape ?? []).map(() => o.stride![0]) : o.stride] }),
    ...(o.qTile !== undefined && o.kvTile !== undefined ? { tiles: [{ qTile: o.qTile, kvTile: o.kvTile }] } : {}),
    attentionShare: o.attentionShare, sparseStepFraction: o.sparseStepFraction,
  });
  if (o.json) io.out(JSON.stringify({ evaluated: result.evaluated, entries: result.entries.slice(0, o.top) }, null, 2));
  else io.out(formatSearch(result, o.top));
}

/** Runs `gna-sim` with `argv` (without node and the script); returns the exit code. */
export function runCli(argv: string[], io: CliIo = processIo): number {
  try {
    const o = parseArgs(argv);
    if (o.help) {
      io.out(USAGE);
      return 0;
    }
    if (o.search) {
      runSearch(o, io);
      return 0;
    }
    const config = configOf(o);
    const result = simulateNormalized(config);
    if (o.svg !== undefined) {
      // The matrix is drawn for one dilation group; their sizes differ by at most a tile per dim.
      io.writeFile(o.svg, drawSvg(o, config, result.tilePairs / result.groups));
    }
    io.out(o.json ? JSON.stringify(result, null, 2) : formatSimulation(result));
    return 0;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    io.err(`gna-sim: ${message}`);
    if (e instanceof UsageError) io.err('Run gna-sim --help for usage.');
    return 2;
  }
}

if (require.main === module) process.exitCode = runCli(process.argv.slice(2));

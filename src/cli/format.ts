/** Plain-text tables of `gna-sim`: fixed-width columns a person can read in a terminal. */
import { SearchResult } from '../simulator/search';
import { SimulationResult } from '../simulator/simulate';

const int = (x: number) => x.toLocaleString('en-US');
const speed = (x: number) => `${x.toFixed(2)}x`;
const times = (xs: readonly number[]) => xs.join(' x ');
const yesNo = (b: boolean) => (b ? 'yes' : 'no');

function table(header: string[], rows: string[][], rightAligned: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) =>
    (rightAligned[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function formatSimulation(r: SimulationResult): string {
  const c = r.config;
  const tokens = c.shape.reduce((a, b) => a * b, 1);
  const problem = [
    `layout   ${times(c.shape)} (${int(tokens)} tokens)`,
    `window   ${times(c.windowSize)}, stride ${times(c.stride)}, dilation ${times(c.dilation)}, ` +
      `causal ${c.isCausal.map(yesNo).join(' x ')}`,
    `tiling   ${c.tiling === '1d' ? '1-D row-major' : 'multi-dimensional'}: Q tile ${times(c.qTile)}, ` +
      `KV tile ${times(c.kvTile)}` + (r.groups > 1 ? `, ${r.groups} dilation groups` : ''),
  ];
  const mean = (x: number) => x.toFixed(2);
  const perAxis = r.perfectlyBlockSparse.perAxis;
  const rows: string[][] = [
    ['Q tiles / KV tiles', `${int(r.qTiles)} / ${int(r.kvTiles)}`],
    ['tile pairs', int(r.tilePairs)],
    ['visited pairs (exact)', `${int(r.exact.visited)} = ${int(r.exact.dense)} dense + ${int(r.exact.partial)} partial`],
    ['static walk: worst Q tile, mean, total',
      `${int(r.static.maxPerQTile)}, ${mean(r.static.meanPerQTile)}, ${int(r.static.total)}`],
    ['dynamic walk: worst Q tile, mean, total',
      `${int(r.dynamic.maxPerQTile)}, ${mean(r.dynamic.meanPerQTile)}, ${int(r.dynamic.total)}`],
    ['dense attention KV tiles', int(r.denseTiles)],
    ['FLOP-wise speedup', speed(r.flopSpeedup)],
    ['simulated speedup (static)', speed(r.simulatedSpeedup)],
    ['simulated speedup (dynamic)', speed(r.dynamicSpeedup)],
    ['perfectly block-sparse', yesNo(r.perfectlyBlockSparse.overall) +
      (perAxis && perAxis.length > 1 ? ` (per dim: ${perAxis.map(yesNo).join(', ')})` : '')],
    ['masked FLOP fraction', `${(100 * r.maskedFlopFraction).toFixed(1)}%`],
    ['worst Q tile', `[${r.worstQTile.tile.join(', ')}]` +
      (r.groups > 1 ? ` of group [${r.worstQTile.group.join(', ')}]` : '')],
  ];
  if (r.e2eSpeedup !== undefined && r.e2eFlopBound !== undefined) {
    rows.push(['end-to-end speedup', `${speed(r.e2eSpeedup)} (FLOP-wise bound ${speed(r.e2eFlopBound)}; ` +
      `attention share ${c.attentionShare} x sparse steps ${+c.sparseStepFraction.toFixed(4)})`]);
  }
  return [...problem, '', table(['quantity', 'value'], rows, [false, false])].join('\n');
}

export function formatSearch(result: SearchResult, top: number): string {
  const shown = result.entries.slice(0, top);
  const rows = shown.map((e, i) => [
    String(i + 1), times(e.stride), times(e.qTile), times(e.kvTile), e.backends.join(', '),
    `${e.maxPerQTile}/${e.denseTiles}`, speed(e.simulatedSpeedup), speed(e.flopSpeedup),
    e.perfectlyBlockSparse ? 'yes' : '', ...(e.e2eSpeedup === undefined ? [] : [speed(e.e2eSpeedup)]),
  ]);
  const header = ['#', 'stride', 'Q tile', 'KV tile', 'backends', 'worst/dense', 'simulated', 'FLOP-wise',
    'block-sparse', ...(shown.some((e) => e.e2eSpeedup !== undefined) ? ['end-to-end'] : [])];
  const right = header.map((h) => ['#', 'worst/dense', 'simulated', 'FLOP-wise', 'end-to-end'].includes(h));
  return `${int(result.evaluated)} configurations simulated; best ${shown.length}:\n\n${table(header, rows, right)}`;
}

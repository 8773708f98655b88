/**
 * Pictures of what a kernel will do: the KV tiles one Q tile visits (a grid of KV tiles, one
 * panel per KV tile row of the first dim for 3-D layouts, a wrapped strip under 1-D tiling), or
 * the whole Q x KV tile matrix of a small layout. Plain SVG strings, no dependencies.
 */
import { TileClass } from '../window';
import { NormalizedSimulationConfig } from './config';
import { PAIR_CODE, QTileVisits, TilePairMatrix } from './visits';

const COLOURS: Record<TileClass | 'outside', string> = {
  dense: '#2f9e44',
  partial: '#f59f00',
  empty: '#adb5bd',
  outside: '#ffffff',
};

const LEGEND: Array<[TileClass | 'outside', string]> = [
  ['dense', 'dense: no mask needed'],
  ['partial', 'partial: fine mask'],
  ['empty', 'walked, nothing attended'],
  ['outside', 'not visited'],
];

const FONT = 'font-family="sans-serif" font-size="12"';

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function rect(x: number, y: number, w: number, h: number, fill: string, stroke = '#dee2e6'): string {
  return `<rect x="${x}" y="${y}" width="${w}" height="${h}" fill="${fill}" stroke="${stroke}" stroke-width="0.5"/>`;
}

function svgDocument(width: number, height: number, title: string[], body: string[]): string {
  const lines = title.map((t, i) =>
    `<text x="8" y="${18 + 16 * i}" ${FONT}${i === 0 ? ' font-weight="bold"' : ''}>${escapeXml(t)}</text>`);
  const legendY = height - 22;
  const legend = LEGEND.map(([cls, label], i) => {
    const x = 8 + i * 170;
    return `${rect(x, legendY, 12, 12, COLOURS[cls], '#495057')}` +
      `<text x="${x + 18}" y="${legendY + 11}" ${FONT}>${escapeXml(label)}</text>`;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...lines, ...body, ...legend, '</svg>', '',
  ].join('\n');
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
const times = (xs: number[]) => xs.join(' x ');

function describeProblem(config: NormalizedSimulationConfig): string {
  return `${times(config.shape)}, window ${times(config.windowSize)}, stride ${times(config.stride)}` +
    (config.dilation.some((d) => d > 1) ? `, dilation ${times(config.dilation)}` : '') +
    (config.isCausal.some((c) => c) ? `, causal ${config.isCausal.map((c) => (c ? 'T' : 'F')).join('')}` : '');
}

/** The KV tiles Q tile `visits.qTile` walks, coloured by class; its own tokens outlined. */
export function renderQTileSvg(config: NormalizedSimulationConfig, visits: QTileVisits): string {
  const flat = config.tiling === '1d';
  const grid = visits.kvTileGrid;
  const classOf = new Map(visits.visits.map((v) => [v.tile.join(','), v.kvClass]));
  // Layout: panels (3-D: one per KV tile index of dim 0) of rows x cols cells.
  let panels = 1;
  let rows = 1;
  let cols = grid[grid.length - 1];
  if (flat) {
    // About square, and when KV tiles split token rows evenly, whole token rows per line.
    const last = visits.lengths[visits.lengths.length - 1];
    const perRow = last % config.kvTile[0] === 0 ? last / config.kvTile[0] : 1;
    cols = Math.min(grid[0], perRow * Math.ceil(Math.sqrt(grid[0]) / perRow));
    rows = Math.ceil(grid[0] / cols);
  } else if (grid.length === 2) {
    rows = grid[0];
  } else if (grid.length === 3) {
    panels = grid[0];
    rows = grid[1];
  }
  const panelsPerLine = clamp(Math.floor(1000 / (cols * 8 + 12)), 1, panels);
  const cell = clamp(Math.floor(Math.min(900 / (panelsPerLine * cols), 600 / rows)), 3, 24);
  const panelW = cols * cell + 12;
  const panelH = rows * cell + (panels > 1 ? 18 : 0) + 6;
  const top = 62;
  const body: string[] = [];
  // The KV tiles holding the Q tile's own tokens, per dim, to outline where the queries sit.
  const own = visits.qTile.map((t, axis) => {
    const start = t * config.qTile[axis];
    const end = Math.min(start + config.qTile[axis], visits.lengths[axis]);
    return { start: Math.floor(start / config.kvTile[axis]), end: Math.ceil(end / config.kvTile[axis]) };
  });
  for (let p = 0; p < panels; p++) {
    const ox = 8 + (p % panelsPerLine) * panelW;
    const oy = top + Math.floor(p / panelsPerLine) * panelH;
    if (panels > 1) body.push(`<text x="${ox}" y="${oy + 12}" ${FONT}>${escapeXml(`dim 0 tile ${p}`)}</text>`);
    const gy = oy + (panels > 1 ? 18 : 0);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const tile = flat ? [r * cols + c] : grid.length === 1 ? [c] : grid.length === 2 ? [r, c] : [p, r, c];
        if (flat && tile[0] >= grid[0]) continue;
        const cls = classOf.get(tile.join(',')) ?? 'outside';
        body.push(rect(ox + c * cell, gy + r * cell, cell, cell, COLOURS[cls]));
      }
    }
    const inOwn = grid.length < 3 || (p >= own[0].start && p < own[0].end);
    if (!flat && inOwn) {
      const colRange = own[own.length - 1];
      const rowRange = grid.length === 1 ? { start: 0, end: 1 } : own[own.length - 2];
      body.push(`<rect x="${ox + colRange.start * cell}" y="${gy + rowRange.start * cell}" ` +
        `width="${(colRange.end - colRange.start) * cell}" height="${(rowRange.end - rowRange.start) * cell}" ` +
        'fill="none" stroke="#1c7ed6" stroke-width="2"/>');
    }
  }
  const lines = Math.ceil(panels / panelsPerLine);
  const width = Math.max(8 + panelsPerLine * panelW, 700);
  const height = top + lines * panelH + 34;
  const c = visits.counts;
  const title = [
    `KV tiles visited by Q tile [${visits.qTile.join(', ')}]` +
      (visits.group.some((g) => g > 0) ? ` of dilation group [${visits.group.join(', ')}]` : ''),
    `${describeProblem(config)}; ${flat ? '1-D' : 'multi-dimensional'} tiles Q ${times(config.qTile)} / KV ${times(config.kvTile)}` +
      (flat ? '' : ' (blue outline: the Q tile\'s own tokens)'),
    `static walk ${c.static} KV tiles: ${c.dense} dense, ${c.partial} partial, ${c.static - c.visited} empty; dynamic walk ${c.dynamic}`,
  ];
  return svgDocument(width, height, title, body);
}

/** Every (Q tile, KV tile) pair of one dilation group: rows are Q tiles, columns KV tiles. */
export function renderTilePairMatrixSvg(config: NormalizedSimulationConfig, matrix: TilePairMatrix): string {
  const cell = clamp(Math.floor(800 / Math.max(matrix.qTiles, matrix.kvTiles)), 1, 16);
  const top = 62;
  const fill = [COLOURS.outside, COLOURS.empty, COLOURS.partial, COLOURS.dense];
  const body: string[] = [];
  for (let q = 0; q < matrix.qTiles; q++) {
    for (let k = 0; k < matrix.kvTiles; k++) {
      const code = matrix.classes[q * matrix.kvTiles + k];
      if (code === PAIR_CODE.outside) continue;
      body.push(`<rect x="${8 + k * cell}" y="${top + q * cell}" width="${cell}" height="${cell}" fill="${fill[code]}"/>`);
    }
  }
  body.unshift(`<rect x="8" y="${top}" width="${matrix.kvTiles * cell}" height="${matrix.qTiles * cell}" ` +
    'fill="#ffffff" stroke="#495057" stroke-width="0.5"/>');
  const title = [
    `Q tile x KV tile matrix (${matrix.qTiles} x ${matrix.kvTiles}, row-major tile order)`,
    `${describeProblem(config)}; ${config.tiling === '1d' ? '1-D' : 'multi-dimensional'} tiles Q ${times(config.qTile)} / KV ${times(config.kvTile)}`,
    'rows: Q tiles; columns: KV tiles; static walks coloured by class',
  ];
  return svgDocument(Math.max(16 + matrix.kvTiles * cell, 700), top + matrix.qTiles * cell + 40, title, body);
}

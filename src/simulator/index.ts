/**
 * The tile simulator (the paper's NATTENSim): how tiled kernels visit KV tiles for a GNA
 * problem, the speedups that follow, and a search over strides and tile shapes. Pure
 * arithmetic on the window math of `../window`; it imports no tfjs.
 */
export { SimulationConfig, NormalizedSimulationConfig, Tiling, normalizeSimulationConfig } from './config';
export { SimulationResult, TileCounts, simulate, endToEndSpeedup } from './simulate';
export {
  KvTileVisit, QTileVisits, TilePairMatrix, PAIR_CODE, MAX_MATRIX_PAIRS, qTileVisits, tilePairMatrix,
} from './visits';
export { SearchOptions, SearchEntry, SearchResult, searchConfigs } from './search';
export {
  TileBackend, TileConfig, TileConfigQuery, TILE_BACKENDS, TILE_CONFIGS, tileConfigs,
} from './tile_configs';
export { renderQTileSvg, renderTilePairMatrixSvg } from './svg';

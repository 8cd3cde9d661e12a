/** Run reports, model cards, figures and run comparison. */
export { loadRunData } from './data';
export type { RunData } from './data';
export { toHtml, toMarkdown } from './doc';
export type { Block, FigureFiles } from './doc';
export { runFigures } from './figures';
export { modelImportance } from './importance';
export { modelCardBlocks } from './modelCard';
export { renderVegaLite, fontFiles } from './render';
export { reportBlocks, writeRunReport } from './report';
export type { ReportOutput } from './report';
export {
  compareRunData,
  compareRuns,
  compareRunsAs,
  comparisonBlocks,
  predictionAgreement,
  writeComparison,
} from './compare';
export type { MetricDelta, PredictionAgreement, RunComparison, ValueDiff } from './compare';

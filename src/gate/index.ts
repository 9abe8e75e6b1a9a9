export { runGate, assertGatePassed } from './gate.js';
export type { GateReport, EndToEndReport, MetricReport, ChecksReport } from './gate.js';
export { parseEndToEndSet, parseConfidenceSet, readSetFile } from './sets.js';
export type { EndToEndSet, ConfidenceSet } from './sets.js';
export { withinTolerance, classificationMetric, regressionMetric } from './metrics.js';

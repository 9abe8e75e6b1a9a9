export { runGate, assertGatePassed } from './gate.js';
export type { GateReport, EndToEndReport, MetricReport } from './gate.js';
export { parseEndToEndSet, parseConfidenceSet } from './sets.js';
export type { EndToEndSet, ConfidenceSet } from './sets.js';
export { withinTolerance, classificationMetric, regressionMetric } from './metrics.js';

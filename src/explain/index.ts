/**
 * Explanations of tabular models, computed where the model runs (the worker; pure TS, no DOM):
 * per-row attributions (`explain`), global importance (`permutationImportance`) and partial
 * dependence (`partialDependence`). All of them work on the feature matrix: a raw field acts only
 * through its own feature columns, so hybrid rows are built by copying columns, and many are
 * scored per model run, yielding to the event loop between runs.
 */
export { explain } from './shapley.js';
export type { Explanation, ExplanationMethod, Attribution, ExplainOptions, LinearReference } from './shapley.js';
export { permutationImportance } from './importance.js';
export type { PermutationImportance, FieldImportance, ImportanceOptions } from './importance.js';
export { partialDependence } from './dependence.js';
export type { PartialDependence, PartialDependenceOptions } from './dependence.js';
export type { Progress, RunOptions } from './shared.js';

export { parseFeatureSpec, DEFAULT_LIMITS } from './spec.js';
export type { FeatureSpec, FieldSpec, FeatureBlock, FeatureStep, FeatureLimits, FieldType } from './spec.js';
export { compileFeatureSpec } from './compile.js';
export type { ColumnBatch, FeatureTransform, InputField } from './compile.js';

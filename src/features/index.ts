export { parseFeatureSpec, DEFAULT_LIMITS } from './spec.js';
export type {
  FeatureSpec,
  TabularSpec,
  TensorSpec,
  TensorInputSpec,
  FieldSpec,
  FeatureBlock,
  FeatureStep,
  FeatureLimits,
  FieldType,
  FeatureDtype,
  TensorDtype,
} from './spec.js';
export type { GroupBlock, AnyBlock, Combine, NormalizeCombine, PolynomialCombine } from './groups.js';
export type { MissingIndicatorStep, MathStep, ClipStep, BinsStep, OneHotExtras } from './steps.js';
export { compileFeatureSpec, categoryCodes, MISSING_CODE, UNKNOWN_CODE } from './transform.js';
export type {
  FeatureTransform,
  InputField,
  NumberField,
  CategoryField,
  TensorField,
  PreparedBatch,
  PrepareOptions,
  LentInput,
  RawColumns,
  FieldColumns,
} from './transform.js';

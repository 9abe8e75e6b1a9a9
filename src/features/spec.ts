import { BundleError } from '../errors/index.js';
import { readArray, readLiteral, readNumber, readRecord, readString, type Fail } from '../util/json.js';

/**
 * The feature spec: a declarative, versioned description of the fitted preprocessing, written by the
 * research pipeline (see models/penguins/train.py) and executed by `compileFeatureSpec`.
 */
export interface FeatureSpec {
  readonly format: 'ondevice/feature-spec';
  readonly formatVersion: 1;
  readonly name: string;
  readonly version: string;
  /** The raw input fields a row must carry, in no particular order. */
  readonly fields: readonly FieldSpec[];
  /** Output blocks, concatenated in this order into one float32 row per input row. */
  readonly features: readonly FeatureBlock[];
  /** The model input the features feed. */
  readonly output: { readonly input: string; readonly dtype: 'float32' };
  readonly limits: FeatureLimits;
}

export interface FeatureLimits {
  /** Longest category string accepted. Default 1024. */
  readonly maxStringLength: number;
  /** Most rows in one batch. Default 100000. */
  readonly maxBatchRows: number;
}

export type FieldType = 'number' | 'category';

export interface FieldSpec {
  readonly name: string;
  readonly type: FieldType;
}

export interface FeatureBlock {
  readonly field: string;
  readonly steps: readonly FeatureStep[];
}

export type FeatureStep = ImputeStep | StandardizeStep | OneHotStep;

/** Replace a missing value (null) by a fitted constant; without it, a missing value is an error. */
export interface ImputeStep {
  readonly op: 'impute';
  readonly strategy: string;
  readonly value: number | string;
}

/** (x - mean) / scale, as scikit-learn's StandardScaler. */
export interface StandardizeStep {
  readonly op: 'standardize';
  readonly mean: number;
  readonly scale: number;
}

/** One output column per category, as scikit-learn's OneHotEncoder. */
export interface OneHotStep {
  readonly op: 'one_hot';
  readonly categories: readonly string[];
  /** `error`: an unseen category is refused; `ignore`: it encodes as all zeros. */
  readonly unknown: 'error' | 'ignore';
}

export const DEFAULT_LIMITS: FeatureLimits = { maxStringLength: 1024, maxBatchRows: 100_000 };

const fail: Fail = (path, why) => {
  throw new BundleError('INVALID_FEATURE_SPEC', `feature spec: ${path} ${why}`, { path });
};

/** Reads a feature spec from untrusted JSON, checking every step fits its field's type. */
export function parseFeatureSpec(json: unknown): FeatureSpec {
  const root = readRecord(json, '(root)', fail);
  readLiteral(root.format, ['ondevice/feature-spec'], 'format', fail);
  readLiteral(root.formatVersion, [1], 'formatVersion', fail);

  const fields = readArray(root.fields, 'fields', fail).map((value, i): FieldSpec => {
    const field = readRecord(value, `fields[${i}]`, fail);
    return {
      name: readString(field.name, `fields[${i}].name`, fail),
      type: readLiteral(field.type, ['number', 'category'] as const, `fields[${i}].type`, fail),
    };
  });
  const types = new Map<string, FieldType>();
  for (const [i, field] of fields.entries()) {
    if (types.has(field.name)) fail(`fields[${i}].name`, `repeats "${field.name}"`);
    if (isForbiddenKey(field.name)) fail(`fields[${i}].name`, `may not be "${field.name}"`);
    types.set(field.name, field.type);
  }

  const features = readArray(root.features, 'features', fail).map((value, i): FeatureBlock => {
    const path = `features[${i}]`;
    const block = readRecord(value, path, fail);
    const field = readString(block.field, `${path}.field`, fail);
    const type = types.get(field) ?? fail(`${path}.field`, `names "${field}", which is not in fields`);
    const steps = readArray(block.steps, `${path}.steps`, fail).map((step, j) => parseStep(step, type, `${path}.steps[${j}]`));
    const encoders = steps.filter((s) => s.op === 'one_hot').length;
    if (type === 'category' && (encoders !== 1 || steps.at(-1)?.op !== 'one_hot')) {
      fail(`${path}.steps`, 'of a category field must end with exactly one one_hot step');
    }
    const imputes = steps.findIndex((s) => s.op === 'impute');
    if (imputes > 0) fail(`${path}.steps`, 'may impute only as the first step');
    const encoder = steps.at(-1);
    const impute = steps[0];
    if (encoder?.op === 'one_hot' && impute?.op === 'impute' && !encoder.categories.includes(String(impute.value))) {
      fail(`${path}.steps[0].value`, `"${impute.value}" is not one of the encoded categories`);
    }
    return { field, steps };
  });
  if (features.length === 0) fail('features', 'must not be empty');

  const output = readRecord(root.output, 'output', fail);
  const limits = root.limits === undefined ? {} : readRecord(root.limits, 'limits', fail);
  return {
    format: 'ondevice/feature-spec',
    formatVersion: 1,
    name: readString(root.name, 'name', fail),
    version: readString(root.version, 'version', fail),
    fields,
    features,
    output: {
      input: readString(output.input, 'output.input', fail),
      dtype: readLiteral(output.dtype, ['float32'] as const, 'output.dtype', fail),
    },
    limits: {
      maxStringLength:
        limits.maxStringLength === undefined ? DEFAULT_LIMITS.maxStringLength : readNumber(limits.maxStringLength, 'limits.maxStringLength', fail),
      maxBatchRows:
        limits.maxBatchRows === undefined ? DEFAULT_LIMITS.maxBatchRows : readNumber(limits.maxBatchRows, 'limits.maxBatchRows', fail),
    },
  };
}

function parseStep(value: unknown, type: FieldType, path: string): FeatureStep {
  const step = readRecord(value, path, fail);
  const op = readLiteral(step.op, ['impute', 'standardize', 'one_hot'] as const, `${path}.op`, fail);
  switch (op) {
    case 'impute': {
      const fill = type === 'number' ? readNumber(step.value, `${path}.value`, fail) : readString(step.value, `${path}.value`, fail);
      return { op, strategy: typeof step.strategy === 'string' ? step.strategy : 'constant', value: fill };
    }
    case 'standardize': {
      if (type !== 'number') fail(path, 'standardize applies to number fields only');
      const scale = readNumber(step.scale, `${path}.scale`, fail);
      if (scale === 0) fail(`${path}.scale`, 'must not be zero');
      return { op, mean: readNumber(step.mean, `${path}.mean`, fail), scale };
    }
    case 'one_hot': {
      if (type !== 'category') fail(path, 'one_hot applies to category fields only');
      const categories = readArray(step.categories, `${path}.categories`, fail).map((c, k) =>
        readString(c, `${path}.categories[${k}]`, fail),
      );
      if (new Set(categories).size !== categories.length) fail(`${path}.categories`, 'must not repeat');
      return { op, categories, unknown: readLiteral(step.unknown, ['error', 'ignore'] as const, `${path}.unknown`, fail) };
    }
  }
}

/** Keys that would reach an object's prototype chain if copied naively. */
export function isForbiddenKey(key: string): boolean {
  return key === '__proto__' || key === 'constructor' || key === 'prototype';
}

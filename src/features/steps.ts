import { readArray, readLiteral, readNumber, type Fail } from '../util/json.js';

/*
 * The feature-spec ops added for scikit-learn's other preprocessing steps (models/README.md): their
 * types and how they are read from untrusted JSON. spec.ts reads the block structure and calls these.
 */

/** 1 where the raw value is missing (null), else 0, as SimpleImputer(add_indicator=True)'s extra columns. */
export interface MissingIndicatorStep {
  readonly op: 'missing_indicator';
}

/**
 * A missing number goes to the model as NaN, for a model that takes missing values itself (XGBoost,
 * HistGradientBoosting: each split sends NaN its learned way). The block's first step.
 */
export interface KeepMissingStep {
  readonly op: 'keep_missing';
}

/** Elementwise NumPy functions, as FunctionTransformer(np.log), (np.sqrt), (np.exp), (np.expm1). */
export interface MathStep {
  readonly op: 'log' | 'sqrt' | 'exp' | 'expm1';
}

/** min(max(x, min), max), either bound optional, as FunctionTransformer(np.clip, kw_args={a_min, a_max}). */
export interface ClipStep {
  readonly op: 'clip';
  readonly min?: number;
  readonly max?: number;
}

/**
 * KBinsDiscretizer: the bin is how many of `edges` (its inner bin edges, `bin_edges_[1:-1]`) are at
 * most x; `ordinal` writes it as a number, `one_hot` as one column per bin (edges + 1 columns, last step).
 */
export interface BinsStep {
  readonly op: 'bins';
  readonly edges: readonly number[];
  readonly encode: 'ordinal' | 'one_hot';
}

export const MATH_OPS = ['log', 'sqrt', 'exp', 'expm1'] as const;
export const EXTRA_OPS = ['missing_indicator', 'keep_missing', ...MATH_OPS, 'clip', 'bins'] as const;
export type ExtraStep = MissingIndicatorStep | KeepMissingStep | MathStep | ClipStep | BinsStep;

/** The extra options of `one_hot` (OneHotEncoder's drop and infrequent categories). */
export interface OneHotExtras {
  readonly unknown: 'error' | 'ignore' | 'infrequent';
  /** Levels sharing one column, after the categories' columns (min_frequency / max_categories). */
  readonly infrequent?: readonly string[];
  /** The column left out (drop): an index into the categories' columns then the infrequent one. */
  readonly drop?: number;
}

/** Reads an op of EXTRA_OPS; `levels`: the most edges a bins step may have. */
export function parseExtraStep(step: Record<string, unknown>, op: ExtraStep['op'], path: string, fail: Fail, levels: number): ExtraStep {
  switch (op) {
    case 'missing_indicator':
    case 'keep_missing':
    case 'log':
    case 'sqrt':
    case 'exp':
    case 'expm1':
      return { op };
    case 'clip': {
      const min = step.min === undefined ? undefined : readNumber(step.min, `${path}.min`, fail);
      const max = step.max === undefined ? undefined : readNumber(step.max, `${path}.max`, fail);
      if (min === undefined && max === undefined) fail(path, 'needs min, max or both');
      if (min !== undefined && max !== undefined && min > max) fail(`${path}.min`, `must not exceed max (${max})`);
      return { op, ...(min === undefined ? {} : { min }), ...(max === undefined ? {} : { max }) };
    }
    case 'bins': {
      const list = readArray(step.edges, `${path}.edges`, fail);
      if (list.length >= levels) fail(`${path}.edges`, `has ${list.length} edges; a bins step has at most ${levels - 1}`);
      const edges = list.map((e, k) => readNumber(e, `${path}.edges[${k}]`, fail));
      // searchsorted needs them in order.
      edges.forEach((e, k) => k > 0 && e < edges[k - 1]! && fail(`${path}.edges[${k}]`, 'must not be below the edge before it'));
      return { op, edges, encode: readLiteral(step.encode, ['ordinal', 'one_hot'] as const, `${path}.encode`, fail) };
    }
  }
}

/** `one_hot`'s unknown, infrequent and drop, checked against its categories. */
export function parseOneHotExtras(
  step: Record<string, unknown>,
  categories: readonly string[],
  path: string,
  fail: Fail,
  readLevels: (value: unknown, path: string) => string[],
): OneHotExtras {
  const unknown = readLiteral(step.unknown, ['error', 'ignore', 'infrequent'] as const, `${path}.unknown`, fail);
  const infrequent = step.infrequent === undefined ? undefined : readLevels(step.infrequent, `${path}.infrequent`);
  if (infrequent !== undefined) {
    if (infrequent.length === 0) fail(`${path}.infrequent`, 'must not be empty (leave it out)');
    const shared = infrequent.find((level) => categories.includes(level));
    if (shared !== undefined) fail(`${path}.infrequent`, `repeats "${shared}", one of the categories`);
  }
  if (unknown === 'infrequent' && infrequent === undefined)
    fail(`${path}.unknown`, 'is "infrequent" but the step has no infrequent levels');
  if (step.drop === undefined) return { unknown, ...(infrequent === undefined ? {} : { infrequent }) };
  const columns = categories.length + (infrequent === undefined ? 0 : 1);
  const drop = readNumber(step.drop, `${path}.drop`, fail);
  if (!Number.isInteger(drop) || drop < 0 || drop >= columns) fail(`${path}.drop`, `must be a column index from 0 to ${columns - 1}`);
  return { unknown, ...(infrequent === undefined ? {} : { infrequent }), drop };
}

/** A number, or null for NaN (the output a model that takes missing values reads as missing). */
export function readNumberOrNaN(value: unknown, path: string, fail: Fail): number {
  return value === null ? Number.NaN : readNumber(value, path, fail);
}

/** The category an `ordinal` step's `missing` (what a null encodes to) or `unknownValue` names, if any. */
export function readOrdinalMissing(step: Record<string, unknown>, path: string, fail: Fail): { missing?: number } {
  return step.missing === undefined ? {} : { missing: readNumberOrNaN(step.missing, `${path}.missing`, fail) };
}

/** The bin of x: how many edges are at most x (numpy.searchsorted(edges, x, side='right')); NaN stays NaN. */
export function binOf(edges: readonly number[], x: number): number {
  if (x !== x) return Number.NaN;
  let low = 0;
  let high = edges.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (edges[mid]! <= x) low = mid + 1;
    else high = mid;
  }
  return low;
}

import { BundleError } from '../errors/index.js';
import { readArray, readLiteral, readNumber, readRecord, readString, type Fail } from '../util/json.js';

/**
 * `reference.json`: what the model was trained on, written by the training script
 * (`ondevice_export.reference_stats`) and packed with the bundle. Drift is measured against it, and
 * explanations take their base values from it.
 */
export interface Reference {
  readonly format: 'ondevice/reference';
  readonly formatVersion: 1;
  /** Training rows summarised. */
  readonly rows: number;
  /** Per raw input field, its training distribution. */
  readonly fields: readonly ReferenceField[];
  /** The distribution of the model's answers on the training rows. */
  readonly output: ReferenceDistribution;
  /** Training mean of every feature column (after the feature spec), in the spec's column order. */
  readonly featureMeans: readonly number[];
  /**
   * Whether the model's output (before the task's inverse, e.g. log1p price for a model answering
   * expm1 of it) is a linear function of the feature columns: then attributions are exact.
   */
  readonly additive: boolean;
  readonly thresholds: DriftThresholds;
}

export type ReferenceField = ReferenceDistribution & {
  readonly name: string;
  /** Share of training rows where the field was missing (null). */
  readonly missing: number;
};

/**
 * Numbers: bins cut at `edges` (ascending; a value v falls in bin i = count of edges < v, so there
 * are edges.length + 1 bins). Categories: one bin per level. `frequencies` are the shares of the
 * non-missing training values per bin, summing to 1.
 */
export type ReferenceDistribution =
  | { readonly type: 'number'; readonly edges: readonly number[]; readonly frequencies: readonly number[] }
  | { readonly type: 'category'; readonly levels: readonly string[]; readonly frequencies: readonly number[] };

export interface DriftThresholds {
  /** Population stability index above which a feature (or the output) has drifted. */
  readonly psi: number;
  /** Live share of unknown categories above the training share by more than this: drifted. */
  readonly unknownRate: number;
  /** Live share of missing values above the training share by more than this: drifted. */
  readonly missingRate: number;
  /** Rows seen before any drift is reported (PSI on a few rows is noise). */
  readonly minRows: number;
}

const fail: Fail = (path, why) => {
  throw new BundleError('INVALID_REFERENCE', `reference: ${path} ${why}`, { path });
};

/** Reads `reference.json` from untrusted JSON; `featureWidth` is the feature spec's column count. */
export function parseReference(json: unknown, featureWidth?: number): Reference {
  const root = readRecord(json, '(root)', fail);
  readLiteral(root.format, ['ondevice/reference'], 'format', fail);
  readLiteral(root.formatVersion, [1], 'formatVersion', fail);
  const rows = readNumber(root.rows, 'rows', fail);
  if (!Number.isInteger(rows) || rows < 1) fail('rows', 'must be a positive whole number');
  const fields = readArray(root.fields, 'fields', fail).map((value, i): ReferenceField => {
    const path = `fields[${i}]`;
    const field = readRecord(value, path, fail);
    const missing = readShare(field.missing, `${path}.missing`);
    return { name: readString(field.name, `${path}.name`, fail), missing, ...readDistribution(field, path) };
  });
  if (new Set(fields.map((f) => f.name)).size !== fields.length) fail('fields', 'names must not repeat');
  const featureMeans = readArray(root.featureMeans, 'featureMeans', fail).map((v, i) => readNumber(v, `featureMeans[${i}]`, fail));
  if (featureWidth !== undefined && featureMeans.length !== featureWidth) {
    fail('featureMeans', `has ${featureMeans.length} values but the feature spec makes ${featureWidth} columns`);
  }
  if (typeof root.additive !== 'boolean') fail('additive', 'must be true or false');
  const thresholds = readRecord(root.thresholds, 'thresholds', fail);
  const minRows = readNumber(thresholds.minRows, 'thresholds.minRows', fail);
  if (!Number.isInteger(minRows) || minRows < 1) fail('thresholds.minRows', 'must be a positive whole number');
  return {
    format: 'ondevice/reference',
    formatVersion: 1,
    rows,
    fields,
    output: readDistribution(readRecord(root.output, 'output', fail), 'output'),
    featureMeans,
    additive: root.additive,
    thresholds: {
      psi: readPositive(thresholds.psi, 'thresholds.psi'),
      unknownRate: readShare(thresholds.unknownRate, 'thresholds.unknownRate'),
      missingRate: readShare(thresholds.missingRate, 'thresholds.missingRate'),
      minRows,
    },
  };
}

function readDistribution(value: Record<string, unknown>, path: string): ReferenceDistribution {
  const type = readLiteral(value.type, ['number', 'category'] as const, `${path}.type`, fail);
  const frequencies = readArray(value.frequencies, `${path}.frequencies`, fail).map((v, k) => readShare(v, `${path}.frequencies[${k}]`));
  const total = frequencies.reduce((sum, f) => sum + f, 0);
  if (frequencies.length > 0 && Math.abs(total - 1) > 1e-6) fail(`${path}.frequencies`, `must sum to 1 (they sum to ${total})`);
  if (type === 'number') {
    const edges = readArray(value.edges, `${path}.edges`, fail).map((v, k) => readNumber(v, `${path}.edges[${k}]`, fail));
    if (edges.some((e, k) => k > 0 && e <= edges[k - 1]!)) fail(`${path}.edges`, 'must be strictly ascending');
    if (frequencies.length !== edges.length + 1) fail(`${path}.frequencies`, `must have ${edges.length + 1} values (one more than edges)`);
    return { type, edges, frequencies };
  }
  const levels = readArray(value.levels, `${path}.levels`, fail).map((v, k) => readString(v, `${path}.levels[${k}]`, fail));
  if (new Set(levels).size !== levels.length) fail(`${path}.levels`, 'must not repeat');
  if (frequencies.length !== levels.length) fail(`${path}.frequencies`, `must have one value per level (${levels.length})`);
  return { type, levels, frequencies };
}

function readShare(value: unknown, path: string): number {
  const share = readNumber(value, path, fail);
  if (share < 0 || share > 1) fail(path, 'must be between 0 and 1');
  return share;
}

function readPositive(value: unknown, path: string): number {
  const number = readNumber(value, path, fail);
  if (number <= 0) fail(path, 'must be positive');
  return number;
}

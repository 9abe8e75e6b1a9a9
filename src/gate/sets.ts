import { BundleError } from '../errors/index.js';
import { readArray, readNumber, readRecord, readString, type Fail } from '../util/json.js';

/** Raw rows and the exact outputs the research pipeline gave for them. */
export interface EndToEndSet {
  readonly rows: readonly unknown[];
  readonly expected: {
    /** The research pipeline's feature matrix, when it was recorded: localises a mismatch to the features. */
    readonly features?: readonly (readonly number[])[];
    readonly probabilities?: readonly (readonly number[])[];
    readonly value?: readonly number[];
    readonly label?: readonly string[];
  };
}

/** Held-out rows with their true labels (classification) or targets (regression). */
export interface ConfidenceSet {
  readonly rows: readonly unknown[];
  readonly labels?: readonly string[];
  readonly targets?: readonly number[];
}

const failFor =
  (set: string): Fail =>
  (path, why) => {
    throw new BundleError('INVALID_SET', `${set}: ${path} ${why}`, { set, path });
  };

export function parseEndToEndSet(json: unknown): EndToEndSet {
  const fail: Fail = failFor('end-to-end set');
  const root = readRecord(json, '(root)', fail);
  const rows = readArray(root.rows, 'rows', fail);
  const expected = readRecord(root.expected, 'expected', fail);
  const matrix = (key: string): number[][] | undefined =>
    expected[key] === undefined
      ? undefined
      : readArray(expected[key], `expected.${key}`, fail).map((row, i) =>
          readArray(row, `expected.${key}[${i}]`, fail).map((v, j) => readNumber(v, `expected.${key}[${i}][${j}]`, fail)),
        );
  const set: EndToEndSet = {
    rows,
    expected: {
      ...optional('features', matrix('features')),
      ...optional('probabilities', matrix('probabilities')),
      ...optional(
        'value',
        expected.value === undefined
          ? undefined
          : readArray(expected.value, 'expected.value', fail).map((v, i) => readNumber(v, `expected.value[${i}]`, fail)),
      ),
      ...optional(
        'label',
        expected.label === undefined
          ? undefined
          : readArray(expected.label, 'expected.label', fail).map((v, i) => readString(v, `expected.label[${i}]`, fail)),
      ),
    },
  };
  for (const [key, values] of Object.entries(set.expected)) {
    if ((values as readonly unknown[]).length !== rows.length)
      fail(`expected.${key}`, `has ${(values as readonly unknown[]).length} entries for ${rows.length} rows`);
  }
  if (rows.length === 0) fail('rows', 'must not be empty');
  return set;
}

export function parseConfidenceSet(json: unknown): ConfidenceSet {
  const fail: Fail = failFor('confidence set');
  const root = readRecord(json, '(root)', fail);
  const rows = readArray(root.rows, 'rows', fail);
  if (rows.length === 0) fail('rows', 'must not be empty');
  const labels =
    root.labels === undefined ? undefined : readArray(root.labels, 'labels', fail).map((v, i) => readString(v, `labels[${i}]`, fail));
  const targets =
    root.targets === undefined ? undefined : readArray(root.targets, 'targets', fail).map((v, i) => readNumber(v, `targets[${i}]`, fail));
  const truth = labels ?? targets;
  if (truth === undefined) fail('(root)', 'needs labels or targets');
  if (truth.length !== rows.length) fail(labels ? 'labels' : 'targets', `has ${truth.length} entries for ${rows.length} rows`);
  return { rows, ...optional('labels', labels), ...optional('targets', targets) };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

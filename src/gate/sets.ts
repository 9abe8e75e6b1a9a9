import { BundleError } from '../errors/index.js';
import type { TensorData } from '../runtimes/index.js';
import { readArray, readNumber, readRecord, readString, type Fail } from '../util/json.js';
import { readSafetensors } from './safetensors.js';

/** Raw rows and the exact outputs the research pipeline gave for them. */
export interface EndToEndSet {
  readonly rows: readonly unknown[];
  readonly expected: {
    /** The research pipeline's feature matrix, when it was recorded: localises a mismatch to the features. */
    readonly features?: readonly (readonly number[])[];
    readonly probabilities?: readonly (readonly number[])[];
    readonly value?: readonly number[];
    readonly label?: readonly string[];
    /** Per output name, each row's values (flat): a tensor model's raw outputs. */
    readonly outputs?: Readonly<Record<string, readonly (readonly number[])[]>>;
  };
  /** The rows are consecutive steps of one session (state carried), not independent examples. */
  readonly sequence?: boolean;
}

/** Held-out rows with their true labels (classification) or targets (regression). */
export interface ConfidenceSet {
  readonly rows: readonly unknown[];
  readonly labels?: readonly string[];
  readonly targets?: readonly number[];
  /** As `EndToEndSet.sequence`. */
  readonly sequence?: boolean;
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
  // A feature may be null: NaN, a missing value sent to a model that takes them (`keep_missing`).
  const matrix = (key: string): number[][] | undefined =>
    expected[key] === undefined
      ? undefined
      : readArray(expected[key], `expected.${key}`, fail).map((row, i) =>
          readArray(row, `expected.${key}[${i}]`, fail).map((v, j) =>
            v === null && key === 'features' ? Number.NaN : readNumber(v, `expected.${key}[${i}][${j}]`, fail),
          ),
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
      ...optional('outputs', readOutputs(expected.outputs, rows.length, fail)),
      ...optional(
        'label',
        expected.label === undefined
          ? undefined
          : readArray(expected.label, 'expected.label', fail).map((v, i) => readString(v, `expected.label[${i}]`, fail)),
      ),
    },
    ...optional('sequence', root.sequence === true ? true : undefined),
  };
  for (const [key, values] of Object.entries(set.expected)) {
    if (key === 'outputs') continue;
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
  // Without labels or targets, the set serves only output checks: the gate refuses a metric then.
  if (truth !== undefined && truth.length !== rows.length)
    fail(labels ? 'labels' : 'targets', `has ${truth.length} entries for ${rows.length} rows`);
  return {
    rows,
    ...optional('labels', labels),
    ...optional('targets', targets),
    ...optional('sequence', root.sequence === true ? true : undefined),
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function readOutputs(value: unknown, rows: number, fail: Fail): Record<string, number[][]> | undefined {
  if (value === undefined) return undefined;
  const outputs = readRecord(value, 'expected.outputs', fail);
  return Object.fromEntries(
    Object.entries(outputs).map(([name, list]) => {
      const path = `expected.outputs.${name}`;
      const perRow = readArray(list, path, fail).map((row, i) =>
        readArray(row, `${path}[${i}]`, fail).map((v, j) => readNumber(v, `${path}[${i}][${j}]`, fail)),
      );
      if (perRow.length !== rows) fail(path, `has ${perRow.length} entries for ${rows} rows`);
      return [name, perRow];
    }),
  );
}

/**
 * A set file's content as the parsers above take it: JSON as it is, or a safetensors file (by its
 * extension) turned into the same shape. Its `__metadata__.set` holds the JSON parts (labels,
 * `sequence`); tensors `rows.<input>` hold each row's input (row i: index i of the first dimension),
 * `pixels.<input>` an image input's pixels (`[rows, height, width, channels]`, uint8),
 * `expected.<key>` and `expected.outputs.<name>` the expected values, `targets` the targets.
 */
export function readSetFile(bytes: Uint8Array, path: string, parseJson: (bytes: Uint8Array, path: string) => unknown): unknown {
  if (!path.endsWith('.safetensors')) return parseJson(bytes, path);
  const { metadata, tensors } = readSafetensors(bytes, path);
  const fail = failFor(path);
  let set: Record<string, unknown>;
  try {
    set = metadata.set === undefined ? {} : readRecord(JSON.parse(metadata.set), '__metadata__.set', fail);
  } catch (error) {
    if (error instanceof BundleError) throw error;
    return fail('__metadata__.set', 'is not JSON');
  }
  const rows: Record<string, unknown>[] = [];
  const expected: Record<string, unknown> = { ...(isObject(set.expected) ? set.expected : {}) };
  const outputs: Record<string, unknown> = {};
  for (const [name, { shape, data }] of tensors) {
    const n = shape[0] ?? 0;
    const size = n === 0 ? 0 : data.length / n;
    const row = (i: number): TensorData => data.subarray(i * size, (i + 1) * size) as TensorData;
    const numbers = (i: number): number[] => Array.from(row(i) as ArrayLike<number | bigint>, Number);
    if (name.startsWith('rows.')) for (let i = 0; i < n; i++) (rows[i] ??= {})[name.slice(5)] = row(i);
    // Pixels of an image input, [rows, height, width, channels] of 0-255: each row's image with its size.
    else if (name.startsWith('pixels.'))
      for (let i = 0; i < n; i++) (rows[i] ??= {})[name.slice(7)] = { data: row(i), height: shape[1], width: shape[2], channels: shape[3] };
    else if (name.startsWith('expected.outputs.')) outputs[name.slice(17)] = Array.from({ length: n }, (_, i) => numbers(i));
    else if (name === 'expected.value' || name === 'targets')
      (name === 'targets' ? set : expected)[name.replace('expected.', '')] = Array.from(data as ArrayLike<number | bigint>, Number);
    else if (name.startsWith('expected.')) expected[name.slice(9)] = Array.from({ length: n }, (_, i) => numbers(i));
    else fail(name, 'is not a tensor a set holds (rows.<input>, pixels.<input>, expected.<key>, expected.outputs.<name>, targets)');
  }
  if (Object.keys(outputs).length > 0) expected.outputs = outputs;
  return { ...set, rows, ...(Object.keys(expected).length > 0 ? { expected } : {}) };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

import { BundleError, InputError, StateError } from '../errors/index.js';
import type { ConfidenceSet } from '../gate/index.js';
import { seededRandom } from '../rollout/index.js';
import type { Scorer } from '../scoring/index.js';
import {
  CHUNK_ROWS,
  describeOutput,
  pause,
  predictedClasses,
  range,
  rawValue,
  readClass,
  readCount,
  readOutputs,
  readSeed,
  scoreBackground,
  shuffle,
  tabularTransform,
  type RunOptions,
} from './shared.js';

export type ExplanationMethod = 'exact-linear' | 'sampling-shapley';

/** What `explain` needs of the bundle's `reference.json` (a `Reference` from src/monitor fits). */
export interface LinearReference {
  /** Training mean of every feature column, in the spec's column order. */
  readonly featureMeans: readonly number[];
  /** Whether the model's output before the task's inverse is linear in the feature columns. */
  readonly additive: boolean;
}

export interface ExplainOptions extends RunOptions {
  /**
   * Classification: the class whose probability is explained.
   * @defaultValue the class the model predicts for the row
   */
  readonly class?: string;
  /**
   * `auto`: `exact-linear` for a regression model whose reference says it is additive (falling back
   * to sampling if the model turns out not to be), else `sampling-shapley`.
   * Asking for `exact-linear` where it does not apply is `StateError('UNSUPPORTED')`.
   * @defaultValue `'auto'`
   */
  readonly method?: 'auto' | ExplanationMethod;
  /**
   * Sampling: permutations drawn, 1 to 100,000. Each costs (fields - 1) model rows.
   * @defaultValue the smallest multiple of the background size reaching `DEFAULT_SAMPLES` (1,024),
   * so the attributions sum exactly to value - baseValue; 1,024 for a background of more than 1,024 rows
   */
  readonly samples?: number;
  /**
   * Sampling: seed of the permutation and background draws (mulberry32).
   * @defaultValue `1` (`DEFAULT_SEED`)
   */
  readonly seed?: number;
}

export interface Attribution {
  readonly field: string;
  /** The field's value in the explained row, as sent (null when missing). */
  readonly value: number | string | null;
  /** Its share of `value - baseValue`. */
  readonly attribution: number;
  /** 95% half-width of `attribution` (0 for exact-linear; Infinity when too few samples to tell). */
  readonly error: number;
}

export interface Explanation {
  readonly method: ExplanationMethod;
  /** What `value`, `baseValue` and the attributions measure, in words. */
  readonly output: string;
  /** Classification: the class whose probability is explained. */
  readonly class?: string;
  /** The explained output for the row. */
  readonly value: number;
  /** exact-linear: the output at the training feature means; sampling: its mean over the whole background. */
  readonly baseValue: number;
  /** One per raw field, in spec order. */
  readonly attributions: readonly Attribution[];
  /** The largest `error`. */
  readonly errorBound: number;
  /**
   * |sum of attributions - (value - baseValue)|: float rounding for exact-linear and for sampling
   * with `samples` a multiple of the background size; otherwise also the error of the sampled
   * background rows' mean output against the whole background's.
   */
  readonly sumError: number;
  /** Permutations drawn (0 for exact-linear). */
  readonly samples: number;
  readonly seed: number;
}

const MAX_SAMPLES = 100_000;
/** Permutations `explain` samples when `samples` is not given: this many, rounded up to a multiple of a smaller background. */
export const DEFAULT_SAMPLES = 1024;
const Z_95 = 1.96;
// Additivity is checked on the model's own numbers: float32 graphs round at about 1e-7 per term.
const ADDITIVE_TOLERANCE = 1e-5;

/**
 * Attributes one row's output to its raw fields (Shapley values of the fields, a field's value
 * acting only through its own feature columns).
 *
 * - `exact-linear` (regression model whose `reference.additive`): attribution = f(x) - f(x with
 *   the field's columns at the training feature means), baseValue = f(feature means). For a model
 *   linear in its features these are its exact Shapley values against the mean row, and they sum to
 *   value - baseValue (checked on the model's outputs; a model that fails the check is sampled).
 * - `sampling-shapley` (Štrumbelj & Kononenko 2014): per permutation of the fields and background
 *   row z, the fields are switched one by one from z to x and each switch's change of the output is
 *   that field's marginal contribution; permutations come in antithetic pairs (a random one, then
 *   its reverse), background rows are cycled in a seeded random order, so each is used equally
 *   often when `samples` is a multiple of the background size. A field's attribution is the mean of
 *   its contributions; its `error` is 1.96 x the standard deviation of the antithetic pairs' mean
 *   contributions / sqrt(pairs): a 95% normal-approximation half-width that accounts for the pairs'
 *   correlation (and is conservative for the cycled background, drawn without replacement).
 *   Within one permutation the contributions telescope to f(x) - f(z), so the attributions sum to
 *   value - mean f(sampled z): exactly value - baseValue when every background row is used equally.
 *
 * Progress counts permutations (exact-linear: one step). A bad row throws the transform's
 * `InputError`; a tensor model throws `StateError('UNSUPPORTED')`.
 */
export async function explain(
  scorer: Scorer,
  row: unknown,
  background: ConfidenceSet,
  reference: LinearReference | undefined,
  options: ExplainOptions = {},
): Promise<Explanation> {
  const transform = tabularTransform(scorer, 'explain');
  const task = scorer.task;
  const requestedClass = readClass(task, options.class);
  const method = options.method ?? 'auto';
  if (method !== 'auto' && method !== 'exact-linear' && method !== 'sampling-shapley') {
    throw new InputError('INVALID_OPTION', 'method must be auto, exact-linear or sampling-shapley', { field: 'method' });
  }
  const seed = readSeed(options.seed);
  const samples = options.samples === undefined ? undefined : readCount(options.samples, 'samples', DEFAULT_SAMPLES, MAX_SAMPLES);
  const linear = task.kind === 'regression' && reference?.additive === true ? reference : undefined;
  if (method === 'exact-linear' && linear === undefined) {
    throw new StateError('UNSUPPORTED', 'exact-linear needs a regression model whose reference says it is additive', {
      operation: 'explain',
    });
  }

  const x = transform.prepare([row]).features!;
  const fields = transform.fieldColumns;
  const values = fields.map((f) => rawValue(row, f.field));
  await pause(options.signal, 'explain');

  if (linear !== undefined && method !== 'sampling-shapley') {
    const exact = await exactLinear(scorer, x, linear.featureMeans, values);
    options.onProgress?.({ done: 1, total: 1 });
    if (exact !== undefined) return { ...exact, seed };
    if (method === 'exact-linear') {
      throw new StateError('UNSUPPORTED', 'the reference says the model is additive, but its attributions do not sum to its output', {
        operation: 'explain',
      });
    }
  }

  return sampleShapley(scorer, background, { x, values, requestedClass, requestedSamples: samples, seed }, options);
}

interface Draw {
  /** The explained row's features. */
  readonly x: Float64Array;
  readonly values: readonly (number | string | null)[];
  readonly requestedClass: number | undefined;
  readonly requestedSamples: number | undefined;
  readonly seed: number;
}

/** Sampling Shapley values of the fields of `x`; see `explain`. */
async function sampleShapley(scorer: Scorer, background: ConfidenceSet, draw: Draw, options: RunOptions): Promise<Explanation> {
  const { x, values, requestedClass, requestedSamples, seed } = draw;
  const { task, transform } = scorer;
  const fields = transform.fieldColumns;
  const base = await scoreBackground(scorer, background);
  const fx = await scorer.scoreFeatures(x, 1);
  const classIndex = requestedClass ?? predictedClasses(task, fx)[0]!;
  const value = readOutputs(task, fx, classIndex)[0]!;
  const fz = readOutputs(task, base.batch, classIndex);
  // A multiple of the background by default, so the attributions add up exactly.
  const samples = requestedSamples ?? (base.rows > DEFAULT_SAMPLES ? DEFAULT_SAMPLES : base.rows * Math.ceil(DEFAULT_SAMPLES / base.rows));
  const chains = new PermutationChains(
    x,
    base.features,
    transform.width,
    fields.map((f) => f.columns),
    seededRandom(seed),
    base.rows,
  );
  const steps = fields.length - 1;
  const perChunk = Math.max(1, Math.floor(CHUNK_ROWS / Math.max(1, steps)));
  const totals = new Attributions(fields.length);

  for (let start = 0; start < samples; start += perChunk) {
    if (start > 0) await pause(options.signal, 'explain');
    const chunk = chains.next(start, Math.min(perChunk, samples - start));
    const out =
      steps === 0 ? new Float64Array(0) : readOutputs(task, await scorer.scoreFeatures(chunk.matrix, chunk.count * steps), classIndex);
    for (let i = 0; i < chunk.count; i++) {
      // The chain starts and ends on outputs already known (f(z), f(x)), so it telescopes exactly.
      let previous = fz[chunk.backgroundRows[i]!]!;
      for (let k = 0; k < fields.length; k++) {
        const next = k < steps ? out[i * steps + k]! : value;
        totals.contribution[chunk.permutations[i * fields.length + k]!] = next - previous;
        previous = next;
      }
      totals.add(start + i);
    }
    options.onProgress?.({ done: start + chunk.count, total: samples });
  }

  let baseValue = 0;
  for (let r = 0; r < base.rows; r++) baseValue += fz[r]!;
  baseValue /= base.rows;
  const attributions = fields.map((f, j) => ({
    field: f.field,
    value: values[j]!,
    attribution: totals.sums[j]! / samples,
    error: totals.error(j),
  }));
  return {
    method: 'sampling-shapley',
    output: describeOutput(task, classIndex),
    ...(task.kind === 'classification' ? { class: task.classes[classIndex]! } : {}),
    value,
    baseValue,
    attributions,
    errorBound: Math.max(0, ...attributions.map((a) => a.error)),
    sumError: Math.abs(attributions.reduce((sum, a) => sum + a.attribution, 0) - (value - baseValue)),
    samples,
    seed,
  };
}

/**
 * The model inputs of sampled permutation chains: for each sample, a background row `z` turned into
 * `x` one field at a time in a random order (an odd sample walks the previous order backwards: an
 * antithetic pair), every step but the last (which is `x` itself) a row of the matrix.
 */
class PermutationChains {
  readonly #x: Float64Array;
  readonly #background: Float64Array;
  readonly #width: number;
  readonly #columns: readonly (readonly number[])[];
  readonly #random: () => number;
  readonly #order: Int32Array;
  readonly #working: Float64Array;
  #permutation: Int32Array;

  constructor(
    x: Float64Array,
    background: Float64Array,
    width: number,
    columns: readonly (readonly number[])[],
    random: () => number,
    backgroundRows: number,
  ) {
    this.#x = x;
    this.#background = background;
    this.#width = width;
    this.#columns = columns;
    this.#random = random;
    this.#order = shuffle(range(backgroundRows), random);
    this.#working = new Float64Array(width);
    this.#permutation = range(columns.length);
  }

  /** Samples `start` to `start + count`: their permutations, background rows and the matrix of their steps. */
  next(start: number, count: number): { count: number; permutations: Int32Array; backgroundRows: Int32Array; matrix: Float64Array } {
    const fields = this.#columns.length;
    const steps = fields - 1;
    const width = this.#width;
    const permutations = new Int32Array(count * fields);
    const backgroundRows = new Int32Array(count);
    const matrix = new Float64Array(count * steps * width);
    for (let i = 0; i < count; i++) {
      const g = start + i;
      this.#permutation = g % 2 === 0 ? shuffle(range(fields), this.#random) : this.#permutation.reverse();
      permutations.set(this.#permutation, i * fields);
      const z = this.#order[g % this.#order.length]!;
      backgroundRows[i] = z;
      this.#working.set(this.#background.subarray(z * width, (z + 1) * width));
      for (let k = 0; k < steps; k++) {
        for (const c of this.#columns[this.#permutation[k]!]!) this.#working[c] = this.#x[c]!;
        matrix.set(this.#working, (i * steps + k) * width);
      }
    }
    return { count, permutations, backgroundRows, matrix };
  }
}

/** Each field's summed contributions, and Welford's mean and variance over antithetic pairs (the error bound). */
class Attributions {
  readonly sums: Float64Array;
  /** The sample being added: its contribution per field. */
  readonly contribution: Float64Array;
  readonly #pending: Float64Array;
  readonly #pairMean: Float64Array;
  readonly #pairM2: Float64Array;
  #pairs = 0;

  constructor(fields: number) {
    this.sums = new Float64Array(fields);
    this.contribution = new Float64Array(fields);
    this.#pending = new Float64Array(fields);
    this.#pairMean = new Float64Array(fields);
    this.#pairM2 = new Float64Array(fields);
  }

  /** Adds `contribution` as sample `sample` (an even one opens a pair, the next odd one closes it). */
  add(sample: number): void {
    const n = this.sums.length;
    for (let j = 0; j < n; j++) this.sums[j]! += this.contribution[j]!;
    if (sample % 2 === 0) return void this.#pending.set(this.contribution);
    this.#pairs++;
    for (let j = 0; j < n; j++) {
      const unit = (this.#pending[j]! + this.contribution[j]!) / 2;
      const delta = unit - this.#pairMean[j]!;
      this.#pairMean[j]! += delta / this.#pairs;
      this.#pairM2[j]! += delta * (unit - this.#pairMean[j]!);
    }
  }

  /** The 95% half-width of field j's attribution; unbounded before two pairs. */
  error(j: number): number {
    const pairs = this.#pairs;
    return pairs < 2 ? Infinity : (Z_95 * Math.sqrt(this.#pairM2[j]! / (pairs - 1))) / Math.sqrt(pairs);
  }
}

/** Undefined when the model's outputs show it is not additive after all. */
async function exactLinear(
  scorer: Scorer,
  x: Float64Array,
  means: readonly number[],
  values: readonly (number | string | null)[],
): Promise<Omit<Explanation, 'seed'> | undefined> {
  const { width, fieldColumns: fields } = scorer.transform;
  if (means.length !== width) {
    throw new BundleError(
      'INVALID_REFERENCE',
      `reference: featureMeans has ${means.length} values but the feature spec makes ${width} columns`,
      { path: 'featureMeans' },
    );
  }
  // Rows: x, the mean row, then x with each field's columns at the means.
  const rows = fields.length + 2;
  const matrix = new Float64Array(rows * width);
  matrix.set(x, 0);
  matrix.set(means, width);
  fields.forEach((f, j) => {
    const offset = (j + 2) * width;
    matrix.set(x, offset);
    for (const c of f.columns) matrix[offset + c] = means[c]!;
  });
  const out = readOutputs(scorer.task, await scorer.scoreFeatures(matrix, rows), 0);
  const value = out[0]!;
  const baseValue = out[1]!;
  const attributions = fields.map((f, j) => ({ field: f.field, value: values[j]!, attribution: value - out[j + 2]!, error: 0 }));
  const sumError = Math.abs(attributions.reduce((sum, a) => sum + a.attribution, 0) - (value - baseValue));
  const scale = Math.abs(value) + Math.abs(baseValue) + attributions.reduce((sum, a) => sum + Math.abs(a.attribution), 0);
  if (!(sumError <= ADDITIVE_TOLERANCE * Math.max(1, scale))) return undefined;
  return {
    method: 'exact-linear',
    output: describeOutput(scorer.task, 0),
    value,
    baseValue,
    attributions,
    errorBound: 0,
    sumError,
    samples: 0,
  };
}

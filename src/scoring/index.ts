import type { Task } from '../bundle/index.js';
import { ScoringError } from '../errors/index.js';
import type { FeatureTransform, LentInput, PreparedBatch, RawColumns } from '../features/index.js';
import type { OutputTensor, Runtime } from '../runtimes/index.js';
import { withLabels, type ColumnarReply } from './labels.js';

export { withLabels, type ColumnarReply } from './labels.js';
export { expandAnswers, outputAt } from './answers.js';
export { refusedRows } from './refusals.js';
export type { Inputs as ShardInputs, Shard, ShardColumn, ShardColumns, ShardInit, StartShard } from './shards.js';

/** The shard pool's code (`shards.ts`), imported on demand: a chunk of its own, loaded only where shards may run. */
export const importShardPool = (): Promise<typeof import('./shards.js')> => import('./shards.js');

export interface ClassificationPrediction {
  readonly kind: 'classification';
  /** The model version that made it (set by the worker). */
  readonly version?: string;
  /** Its id, for `reportOutcome` (set by the worker). */
  readonly id?: string;
  /** The most probable class. */
  readonly label: string;
  /** Probability per class, in the order of the model's classes. */
  readonly probabilities: Readonly<Record<string, number>>;
}

export interface RegressionPrediction {
  readonly kind: 'regression';
  readonly version?: string;
  readonly id?: string;
  readonly value: number;
}

export type Prediction = ClassificationPrediction | RegressionPrediction;

/** One batch scored: the features it was given (tabular models) and the model's raw outputs. */
export interface ScoredBatch {
  readonly rows: number;
  /** `rows x width` float64 features, as the feature spec computed them (tabular models). */
  readonly features?: Float64Array;
  /** The validated raw values (tabular models), for monitoring. */
  readonly raw?: RawColumns;
  readonly outputs: Readonly<Record<string, OutputTensor>>;
}

/** Predictions for a whole batch as typed arrays: what crosses the worker boundary without a copy. */
export type ColumnarPrediction = (
  | {
      readonly kind: 'classification';
      readonly rows: number;
      readonly classes: readonly string[];
      readonly labels: readonly string[];
      /** `rows x classes`, row-major, in the model output's own type (float32 for most models): the values `predictBatch` gives. */
      readonly probabilities: Float32Array | Float64Array;
    }
  | { readonly kind: 'regression'; readonly rows: number; readonly values: Float64Array }
) & {
  /** The model version that answered (set by the worker). */
  readonly version?: string;
  /** Row r's prediction id is `String(firstId + r)`, for `reportOutcome` (set by the worker). */
  readonly firstId?: number;
};

/**
 * Each row's answer as typed arrays, exactly as `predictions` gives it (the model's own probability
 * values, unrounded; the same label), with no object per row: what the row-object fast path sends to
 * the main thread, which makes the `Prediction` objects there.
 */
export type TypedAnswers =
  | {
      readonly kind: 'classification';
      readonly rows: number;
      readonly classes: readonly string[];
      /** Each row's label, as an index into `classes`. */
      readonly best: Int32Array;
      /** `rows x classes`, row-major, in the model output's own type. */
      readonly probabilities: Float32Array | Float64Array | Int32Array;
    }
  | { readonly kind: 'regression'; readonly rows: number; readonly values: Float64Array };

export interface Scorer {
  readonly transform: FeatureTransform;
  readonly runtime: Runtime;
  readonly task: Task;
  /** Validates raw rows, builds the model inputs (features column by column, or tensors) and runs the model once. */
  score(rows: unknown, options?: ScoreOptions): Promise<ScoredBatch>;
  /** The same from columns (`FeatureTransform.prepareColumns`). */
  scoreColumns(columns: unknown, options?: ScoreOptions): Promise<ScoredBatch>;
  /** Runs the model on a model input filled part by part (`FeatureTransform.prepareColumnsInto`), with the raw values of all its rows. */
  scoreLent(lent: LentInput, raw: RawColumns): Promise<ScoredBatch>;
  /**
   * Runs the model on a ready `rows x width` float64 feature matrix (tabular models), cast to the
   * model's input type as `score` does: for explanations, which mix the columns of several rows.
   */
  scoreFeatures(features: Float64Array, rows: number): Promise<ScoredBatch>;
  /** Reads the task's outputs of a scored batch as one prediction per row. */
  predictions(batch: ScoredBatch): Prediction[];
  /** Reads them as typed arrays, with no object per row. */
  columnar(batch: ScoredBatch): ColumnarPrediction;
  /** The same, with the labels as class indices: what the worker sends (`withLabels` makes it `columnar`'s). */
  columnarReply(batch: ScoredBatch): ColumnarReply;
  /** Reads them as `predictions` would, into typed arrays (their own copies: safe to transfer). */
  answers(batch: ScoredBatch): TypedAnswers;
}

export interface ScoreOptions {
  /**
   * Whether the scored batch carries its float64 feature matrix (default true). Serving paths that
   * never read it pass false: the model input is then written into a buffer the transform reuses.
   */
  readonly keepFeatures?: boolean;
}

/** Scores a large batch of typed columns elsewhere (`ShardPool`): undefined leaves it to the scorer. */
export interface ColumnShards {
  /** Whether these columns are worth reading for `scoreColumns` (a look at their kinds and lengths). */
  accepts(columns: unknown): boolean;
  scoreColumns(columns: unknown, rows: number): Promise<Readonly<Record<string, OutputTensor>> | undefined>;
}

/** `shards`, when given, may score a large batch of typed columns (features included) in the scorer's place. */
export function createScorer(transform: FeatureTransform, runtime: Runtime, task: Task, shards?: ColumnShards): Scorer {
  const run = modelRun(runtime, feedNames(transform, runtime), [checkedOutput(runtime, task)]);
  const pooled = (options: ScoreOptions | undefined): { pooled: boolean } => ({ pooled: options?.keepFeatures === false });
  return {
    transform,
    runtime,
    task,
    score: (rows, options) => run(transform.prepare(rows, pooled(options))),
    async scoreColumns(columns, options) {
      // Only where the features are not kept: the shards send back the outputs alone.
      if (shards !== undefined && transform.readColumns !== undefined && options?.keepFeatures === false && shards.accepts(columns)) {
        const { rows, raw } = transform.readColumns(columns);
        const outputs = await shards.scoreColumns(columns, rows);
        if (outputs !== undefined) return { rows, raw, outputs };
      }
      return run(transform.prepareColumns(columns, pooled(options)));
    },
    scoreLent(lent, raw) {
      return run({ rows: lent.rows, raw, inputs: { [tabularInput(transform)]: { data: lent.data, dims: [lent.rows, transform.width] } } });
    },
    scoreFeatures(features, rows) {
      const input = tabularInput(transform);
      if (features.length !== rows * transform.width) {
        throw new ScoringError(
          'SCORING_FAILED',
          `a feature matrix of ${features.length} values is not ${rows} rows of ${transform.width}`,
          {},
        );
      }
      // The typed-array constructor converts as Float32Array.from does, without an iterator.
      const data = transform.spec.kind === 'tabular' && transform.spec.output.dtype === 'float32' ? new Float32Array(features) : features;
      return run({ rows, features, inputs: { [input]: { data, dims: [rows, transform.width] } } });
    },
    columnar: (batch) => withLabels(columnarReply(task, batch)),
    columnarReply: (batch) => columnarReply(task, batch),
    answers: (batch) => typedAnswers(task, batch),
    predictions(batch) {
      if (batch.rows === 0) return [];
      return task.kind === 'classification' ? classify(batch, task.probabilities, task.classes) : regress(batch, task.value, task.inverse);
    },
  };
}

/** The model input of a tabular transform; a tensor model has no feature matrix to score. */
function tabularInput(transform: FeatureTransform): string {
  const spec = transform.spec;
  if (spec.kind !== 'tabular') throw new ScoringError('SCORING_FAILED', 'a tensor model has no feature matrix to score', {});
  return spec.output.input;
}

/** Each feed of the transform by the runtime input it goes to; throws when the model lacks one. */
function feedNames(transform: FeatureTransform, runtime: Runtime): ReadonlyMap<string, string> {
  const feeds = transform.spec.kind === 'tabular' ? [transform.spec.output.input] : transform.spec.tensors.map((t) => t.name);
  // A single-input model is fed by position (TensorFlow.js names inputs after layers); several by name.
  const rename = new Map(
    feeds.length === 1 && runtime.inputNames.length === 1 ? [[feeds[0]!, runtime.inputNames[0]!]] : feeds.map((f) => [f, f]),
  );
  for (const [feed, input] of rename) {
    if (!runtime.inputNames.includes(input)) {
      throw new ScoringError('RUNTIME_LOAD_FAILED', `the model has no input "${feed}" (it has ${runtime.inputNames.join(', ')})`, {
        input: feed,
      });
    }
  }
  return rename;
}

/** The output the task reads (the only one a run asks for); throws when the model lacks it. */
function checkedOutput(runtime: Runtime, task: Task): string {
  const needed = task.kind === 'classification' ? task.probabilities : task.value;
  if (!runtime.outputNames.includes(needed)) {
    throw new ScoringError('RUNTIME_LOAD_FAILED', `the model has no output "${needed}" (it has ${runtime.outputNames.join(', ')})`, {
      output: needed,
    });
  }
  return needed;
}

/** A prepared batch run through the model (inputs renamed to the runtime's), its input buffer released after. */
function modelRun(
  runtime: Runtime,
  rename: ReadonlyMap<string, string>,
  wanted: readonly string[],
): (prepared: PreparedBatch) => Promise<ScoredBatch> {
  return async (prepared) => {
    const base = {
      rows: prepared.rows,
      ...(prepared.features === undefined ? {} : { features: prepared.features }),
      ...(prepared.raw === undefined ? {} : { raw: prepared.raw }),
    };
    if (prepared.rows === 0) return { ...base, outputs: {} };
    const inputs = Object.fromEntries(Object.entries(prepared.inputs).map(([name, tensor]) => [rename.get(name) ?? name, tensor]));
    try {
      return { ...base, outputs: await runtime.run(inputs, wanted) };
    } finally {
      // The runtime has copied the inputs by the time its run settles.
      prepared.release?.();
    }
  };
}

/** `predictColumns`' reply: the probabilities in the model's own float type (an integer output read as float64). */
function columnarReply(task: Task, batch: ScoredBatch): ColumnarReply {
  if (task.kind === 'regression') return { kind: 'regression', rows: batch.rows, values: regressValues(batch, task.value, task.inverse) };
  const k = task.classes.length;
  const data = batch.rows === 0 ? new Float32Array(0) : checkedProbabilities(batch, task.probabilities, k);
  const probabilities = data instanceof Int32Array ? Float64Array.from(data) : data.slice();
  return {
    kind: 'classification',
    rows: batch.rows,
    classes: task.classes,
    best: bestClasses(probabilities, batch.rows, k),
    probabilities,
  };
}

function typedAnswers(task: Task, batch: ScoredBatch): TypedAnswers {
  if (task.kind === 'regression') return { kind: 'regression', rows: batch.rows, values: regressValues(batch, task.value, task.inverse) };
  const k = task.classes.length;
  const probabilities = batch.rows === 0 ? new Float32Array(0) : checkedProbabilities(batch, task.probabilities, k).slice();
  return {
    kind: 'classification',
    rows: batch.rows,
    classes: task.classes,
    best: bestClasses(probabilities, batch.rows, k),
    probabilities,
  };
}

function checkedProbabilities(batch: ScoredBatch, output: string, classes: number): OutputTensor['data'] {
  const { data, dims } = batch.outputs[output]!;
  if (dims.length !== 2 || dims[0] !== batch.rows || dims[1] !== classes) {
    throw new ScoringError('SCORING_FAILED', `output "${output}" has shape [${dims.join(', ')}]; expected [${batch.rows}, ${classes}]`, {
      output,
    });
  }
  return data;
}

/** Each row's most probable class: the first of equal maxima (every reader of the outputs uses this one rule). */
function bestClasses(data: ArrayLike<number>, rows: number, classes: number): Int32Array {
  const best = new Int32Array(rows);
  for (let r = 0, base = 0; r < rows; r++, base += classes) {
    let b = 0;
    for (let c = 1; c < classes; c++) if (data[base + c]! > data[base + b]!) b = c;
    best[r] = b;
  }
  return best;
}

function classify(batch: ScoredBatch, output: string, classes: readonly string[]): ClassificationPrediction[] {
  const k = classes.length;
  const data = checkedProbabilities(batch, output, k);
  const best = bestClasses(data, batch.rows, k);
  const predictions: ClassificationPrediction[] = [];
  for (let r = 0; r < batch.rows; r++) {
    const probabilities: Record<string, number> = {};
    for (let c = 0; c < k; c++) probabilities[classes[c]!] = data[r * k + c]!;
    predictions.push({ kind: 'classification', label: classes[best[r]!]!, probabilities });
  }
  return predictions;
}

/** The predicted values, the task's inverse applied (log price -> price). */
function regressValues(batch: ScoredBatch, output: string, inverse: 'expm1' | undefined): Float64Array {
  if (batch.rows === 0) return new Float64Array(0);
  const { data } = batch.outputs[output]!;
  if (data.length !== batch.rows) {
    throw new ScoringError('SCORING_FAILED', `output "${output}" has ${data.length} values for ${batch.rows} rows`, { output });
  }
  const values = new Float64Array(data.length);
  if (inverse === 'expm1') for (let i = 0; i < values.length; i++) values[i] = Math.expm1(data[i]!);
  else values.set(data);
  return values;
}

function regress(batch: ScoredBatch, output: string, inverse: 'expm1' | undefined): RegressionPrediction[] {
  return Array.from(regressValues(batch, output, inverse), (value) => ({ kind: 'regression', value }));
}

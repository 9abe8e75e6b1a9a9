import type { Task } from '../bundle/index.js';
import { InputError, ScoringError } from '../errors/index.js';
import type { FeatureTransform, LentInput, PreparedBatch, RawColumns } from '../features/index.js';
import type { InputTensor, OutputTensor, Runtime, TensorData } from '../runtimes/index.js';
import { stateOutputs, taskOutputs, tensorAnswers } from './tensor-tasks.js';
import { expandAnswers } from './answers.js';
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

/** A model's named outputs for one row (`outputs` task), each as the model produced it. */
export interface OutputsPrediction {
  readonly kind: 'outputs';
  readonly version?: string;
  readonly id?: string;
  readonly outputs: Readonly<Record<string, OutputTensor>>;
}

/** One row's vector (`embedding` task). */
export interface EmbeddingPrediction {
  readonly kind: 'embedding';
  readonly version?: string;
  readonly id?: string;
  readonly vector: Float32Array | Float64Array;
}

export type Prediction = ClassificationPrediction | RegressionPrediction | OutputsPrediction | EmbeddingPrediction;

/** One batch scored: the features it was given (tabular models) and the model's raw outputs. */
export interface ScoredBatch {
  readonly rows: number;
  /** `rows x width` float64 features, as the feature spec computed them (tabular models). */
  readonly features?: Float64Array;
  /** The validated raw values (tabular models), for monitoring. */
  readonly raw?: RawColumns;
  readonly outputs: Readonly<Record<string, OutputTensor>>;
  /** Each row's own outputs, when the model scores one example per run (an input without a batch dimension). */
  readonly runs?: readonly Readonly<Record<string, OutputTensor>>[];
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
  | { readonly kind: 'regression'; readonly rows: number; readonly values: Float64Array }
  /** Each row's outputs (a slice along each output's batch dimension). */
  | { readonly kind: 'outputs'; readonly rows: number; readonly outputs: readonly Readonly<Record<string, OutputTensor>>[] }
  /** `rows x dims`, row-major. */
  | { readonly kind: 'embedding'; readonly rows: number; readonly dims: number; readonly vectors: Float32Array | Float64Array };

/** A session's step: the batch scored and the state to feed next time, by input name. */
export interface SessionStep {
  readonly batch: ScoredBatch;
  readonly state: Readonly<Record<string, InputTensor>>;
}

export interface Scorer {
  readonly transform: FeatureTransform;
  readonly runtime: Runtime;
  readonly task: Task;
  /** Validates raw rows, builds the model inputs (features column by column, or tensors) and runs the model once. */
  score(rows: unknown, options?: ScoreOptions): Promise<ScoredBatch>;
  /** Scores rows with a session's state (undefined: the initial state) and returns the next state. */
  scoreSession(rows: unknown, state: Readonly<Record<string, InputTensor>> | undefined): Promise<SessionStep>;
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
  const wanted = checkedOutputs(runtime, taskOutputs(task));
  const states = checkedOutputs(runtime, stateOutputs(transform.spec));
  const rename = feedNames(transform, runtime);
  const run = modelRun(runtime, rename, wanted);
  // A session's run also reads the outputs that feed its state.
  const sessionRun = modelRun(runtime, rename, [...new Set([...wanted, ...states.values()])]);
  const pooled = (options: ScoreOptions | undefined): { pooled: boolean } => ({ pooled: options?.keepFeatures === false });
  return {
    transform,
    runtime,
    task,
    score: (rows, options) =>
      transform.oneExampleBy !== undefined && Array.isArray(rows) && rows.length > 1
        ? runEach(rows, (row) => run(transform.prepare([row])))
        : run(transform.prepare(rows, pooled(options))),
    async scoreSession(rows, state) {
      const batch = await sessionRun(transform.prepare(rows, { state: state ?? {} }));
      return { batch, state: Object.fromEntries([...states].map(([input, output]) => [input, batch.outputs[output]!])) };
    },
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
      if (task.kind === 'classification') return classify(batch, task.probabilities, task.classes);
      if (task.kind === 'regression') return regress(batch, task.value, task.inverse);
      return expandAnswers(typedAnswers(task, batch));
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

/** The outputs a run asks for; throws when the model lacks one. */
function checkedOutputs<T extends string[] | Map<string, string>>(runtime: Runtime, needed: T): T {
  const names: Iterable<string> = Array.isArray(needed) ? needed : needed.values();
  for (const name of names) {
    if (!runtime.outputNames.includes(name)) {
      throw new ScoringError('RUNTIME_LOAD_FAILED', `the model has no output "${name}" (it has ${runtime.outputNames.join(', ')})`, {
        output: name,
      });
    }
  }
  return needed;
}

/** Rows scored one run each (a model input without a batch dimension), their outputs joined along a new first dimension. */
async function runEach(rows: readonly unknown[], run: (row: unknown) => Promise<ScoredBatch>): Promise<ScoredBatch> {
  const runs: Readonly<Record<string, OutputTensor>>[] = [];
  for (const [r, row] of rows.entries()) {
    try {
      runs.push((await run(row)).outputs);
    } catch (error) {
      throw error instanceof InputError ? error.atRow(r) : error;
    }
  }
  const outputs: Record<string, OutputTensor> = {};
  for (const name of Object.keys(runs[0] ?? {})) {
    const parts = runs.map((outputs) => outputs[name]!);
    const data = new (parts[0]!.data.constructor as new (length: number) => TensorData)(parts.reduce((n, p) => n + p.data.length, 0));
    let at = 0;
    for (const part of parts) {
      (data as { set(values: ArrayLike<unknown>, offset: number): void }).set(part.data as ArrayLike<unknown>, at);
      at += part.data.length;
    }
    outputs[name] = { data, dims: [rows.length, ...parts[0]!.dims] };
  }
  return { rows: rows.length, outputs, runs };
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
  if (task.kind !== 'classification' && task.kind !== 'regression') {
    throw new InputError('INVALID_BATCH', `a ${task.kind} model takes rows of tensors, not columns`, {});
  }
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
  if (task.kind !== 'classification' && task.kind !== 'regression') return tensorAnswers(task, batch);
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

function checkedProbabilities(batch: ScoredBatch, output: string, classes: number): Float32Array | Float64Array | Int32Array {
  const { data, dims } = batch.outputs[output]!;
  if (dims.length !== 2 || dims[0] !== batch.rows || dims[1] !== classes) {
    throw new ScoringError('SCORING_FAILED', `output "${output}" has shape [${dims.join(', ')}]; expected [${batch.rows}, ${classes}]`, {
      output,
    });
  }
  return numeric(data);
}

/** An output as numbers: float and int32 as they are, other integer types (int64 class indices) as float64. */
export function numeric(data: TensorData): Float32Array | Float64Array | Int32Array {
  if (data instanceof Float32Array || data instanceof Float64Array || data instanceof Int32Array) return data;
  if (data instanceof BigInt64Array) return Float64Array.from(data, Number);
  return Float64Array.from(data);
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
  const numbers = numeric(data);
  if (inverse === 'expm1') for (let i = 0; i < values.length; i++) values[i] = Math.expm1(numbers[i]!);
  else values.set(numbers);
  return values;
}

function regress(batch: ScoredBatch, output: string, inverse: 'expm1' | undefined): RegressionPrediction[] {
  return Array.from(regressValues(batch, output, inverse), (value) => ({ kind: 'regression', value }));
}

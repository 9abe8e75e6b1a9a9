import type { Task } from '../bundle/index.js';
import { ScoringError } from '../errors/index.js';
import type { FeatureTransform } from '../features/index.js';
import type { OutputTensor, Runtime } from '../runtimes/index.js';

export interface ClassificationPrediction {
  readonly kind: 'classification';
  /** The most probable class. */
  readonly label: string;
  /** Probability per class, in the order of the model's classes. */
  readonly probabilities: Readonly<Record<string, number>>;
}

export interface RegressionPrediction {
  readonly kind: 'regression';
  readonly value: number;
}

export type Prediction = ClassificationPrediction | RegressionPrediction;

/** One batch scored: the features it was given (tabular models) and the model's raw outputs. */
export interface ScoredBatch {
  readonly rows: number;
  /** `rows x width` float64 features, as the feature spec computed them (tabular models). */
  readonly features?: Float64Array;
  readonly outputs: Readonly<Record<string, OutputTensor>>;
}

export interface Scorer {
  readonly transform: FeatureTransform;
  readonly runtime: Runtime;
  readonly task: Task;
  /** Validates raw rows, builds the model inputs (features column by column, or tensors) and runs the model once. */
  score(rows: unknown): Promise<ScoredBatch>;
  /** Reads the task's outputs of a scored batch as one prediction per row. */
  predictions(batch: ScoredBatch): Prediction[];
}

export function createScorer(transform: FeatureTransform, runtime: Runtime, task: Task): Scorer {
  const feeds = transform.spec.kind === 'tabular' ? [transform.spec.output.input] : transform.spec.tensors.map((t) => t.name);
  // A single-input model is fed by position (TensorFlow.js names inputs after layers); several by name.
  const rename = new Map(feeds.length === 1 && runtime.inputNames.length === 1 ? [[feeds[0]!, runtime.inputNames[0]!]] : feeds.map((f) => [f, f]));
  for (const [feed, input] of rename) {
    if (!runtime.inputNames.includes(input)) {
      throw new ScoringError('RUNTIME_LOAD_FAILED', `the model has no input "${feed}" (it has ${runtime.inputNames.join(', ')})`, { input: feed });
    }
  }
  const needed = task.kind === 'classification' ? task.probabilities : task.value;
  if (!runtime.outputNames.includes(needed)) {
    throw new ScoringError('RUNTIME_LOAD_FAILED', `the model has no output "${needed}" (it has ${runtime.outputNames.join(', ')})`, { output: needed });
  }

  return {
    transform,
    runtime,
    task,
    async score(rows) {
      const prepared = transform.prepare(rows);
      const base = prepared.features === undefined ? { rows: prepared.rows } : { rows: prepared.rows, features: prepared.features };
      if (prepared.rows === 0) return { ...base, outputs: {} };
      const inputs = Object.fromEntries(Object.entries(prepared.inputs).map(([name, tensor]) => [rename.get(name) ?? name, tensor]));
      return { ...base, outputs: await runtime.run(inputs) };
    },
    predictions(batch) {
      if (batch.rows === 0) return [];
      return task.kind === 'classification' ? classify(batch, task.probabilities, task.classes) : regress(batch, task.value, task.inverse);
    },
  };
}

function classify(batch: ScoredBatch, output: string, classes: readonly string[]): ClassificationPrediction[] {
  const { data, dims } = batch.outputs[output]!;
  if (dims.length !== 2 || dims[0] !== batch.rows || dims[1] !== classes.length) {
    throw new ScoringError('SCORING_FAILED', `output "${output}" has shape [${dims.join(', ')}]; expected [${batch.rows}, ${classes.length}]`, { output });
  }
  const predictions: ClassificationPrediction[] = [];
  for (let r = 0; r < batch.rows; r++) {
    const probabilities: Record<string, number> = {};
    let best = 0;
    for (let c = 0; c < classes.length; c++) {
      const p = data[r * classes.length + c]!;
      probabilities[classes[c]!] = p;
      if (p > data[r * classes.length + best]!) best = c;
    }
    predictions.push({ kind: 'classification', label: classes[best]!, probabilities });
  }
  return predictions;
}

function regress(batch: ScoredBatch, output: string, inverse: 'expm1' | undefined): RegressionPrediction[] {
  const { data } = batch.outputs[output]!;
  if (data.length !== batch.rows) {
    throw new ScoringError('SCORING_FAILED', `output "${output}" has ${data.length} values for ${batch.rows} rows`, { output });
  }
  return Array.from(data, (value) => ({ kind: 'regression', value: inverse === 'expm1' ? Math.expm1(value) : value }));
}

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

/** One batch scored: the model input it was given and the model's raw outputs. */
export interface ScoredBatch {
  readonly rows: number;
  readonly features: Float32Array;
  readonly outputs: Readonly<Record<string, OutputTensor>>;
}

export interface Scorer {
  readonly transform: FeatureTransform;
  readonly runtime: Runtime;
  readonly task: Task;
  /** Validates raw rows, extracts features column by column and runs the model once for the batch. */
  score(rows: unknown): Promise<ScoredBatch>;
  /** Reads the task's outputs of a scored batch as one prediction per row. */
  predictions(batch: ScoredBatch): Prediction[];
}

export function createScorer(transform: FeatureTransform, runtime: Runtime, task: Task): Scorer {
  const input = transform.spec.output.input;
  if (!runtime.inputNames.includes(input)) {
    throw new ScoringError('RUNTIME_LOAD_FAILED', `the model has no input "${input}" (it has ${runtime.inputNames.join(', ')})`, { input });
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
      const columns = transform.toColumns(rows);
      const features = transform.transform(columns);
      if (columns.rows === 0) return { rows: 0, features, outputs: {} };
      const outputs = await runtime.run({ [input]: { data: features, dims: [columns.rows, transform.width] } });
      return { rows: columns.rows, features, outputs };
    },
    predictions(batch) {
      if (batch.rows === 0) return [];
      return task.kind === 'classification' ? classify(batch, task.probabilities, task.classes) : regress(batch, task.value);
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

function regress(batch: ScoredBatch, output: string): RegressionPrediction[] {
  const { data } = batch.outputs[output]!;
  if (data.length !== batch.rows) {
    throw new ScoringError('SCORING_FAILED', `output "${output}" has ${data.length} values for ${batch.rows} rows`, { output });
  }
  return Array.from(data, (value) => ({ kind: 'regression', value }));
}

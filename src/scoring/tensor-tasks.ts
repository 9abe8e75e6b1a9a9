import type { BinaryTask, EmbeddingTask, OutputsTask, Task } from '../bundle/index.js';
import { ScoringError } from '../errors/index.js';
import type { FeatureSpec } from '../features/index.js';
import type { OutputTensor, TensorData } from '../runtimes/index.js';
import type { ScoredBatch, TypedAnswers } from './index.js';

/** The model outputs a task reads: the only ones a run asks for. */
export function taskOutputs(task: Task): string[] {
  switch (task.kind) {
    case 'classification':
      return [task.probabilities];
    case 'regression':
      return [task.value];
    case 'outputs':
      return task.outputs.map((o) => o.name);
    default:
      return [task.output];
  }
}

/** Per state input of a tensor spec, the output that feeds it in a session. */
export function stateOutputs(spec: FeatureSpec): Map<string, string> {
  if (spec.kind !== 'tensor') return new Map();
  return new Map(spec.tensors.flatMap((t) => (t.state === undefined ? [] : [[t.name, t.state.from] as const])));
}

/** Typed answers of the tasks that tensor models bring: a sigmoid classifier, named outputs, embeddings. */
export function tensorAnswers(task: BinaryTask | OutputsTask | EmbeddingTask, batch: ScoredBatch): TypedAnswers {
  if (task.kind === 'binary') return binaryAnswers(task, batch);
  if (task.kind === 'embedding') return embeddingAnswers(task, batch);
  const rows: Record<string, OutputTensor>[] = Array.from({ length: batch.rows }, () => ({}));
  for (const output of task.outputs) {
    for (let r = 0; r < batch.rows; r++) {
      const whole = batch.runs?.[r]?.[output.name];
      rows[r]![output.name] = whole ?? sliceRow(batch.outputs[output.name]!, output.name, output.batch, r, batch.rows);
    }
  }
  return { kind: 'outputs', rows: batch.rows, outputs: rows };
}

/** Row r's slice of an output along its batch dimension (the dimension dropped), as its own copy. */
function sliceRow(tensor: OutputTensor, name: string, axis: number | null, r: number, rows: number): OutputTensor {
  if (axis === null) {
    if (rows !== 1)
      throw new ScoringError('SCORING_FAILED', `output "${name}" has no batch dimension, so a call takes one row`, { output: name });
    return { data: tensor.data.slice() as TensorData, dims: tensor.dims };
  }
  if (tensor.dims[axis] !== rows) {
    throw new ScoringError(
      'SCORING_FAILED',
      `output "${name}" has shape [${tensor.dims.join(', ')}]: dimension ${axis} is not the batch of ${rows} rows`,
      { output: name },
    );
  }
  const inner = tensor.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = tensor.dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const data = new (tensor.data.constructor as new (length: number) => TensorData)(outer * inner);
  for (let o = 0; o < outer; o++) {
    const from = (o * rows + r) * inner;
    (data as { set(values: ArrayLike<unknown>, offset: number): void }).set(
      tensor.data.subarray(from, from + inner) as ArrayLike<unknown>,
      o * inner,
    );
  }
  return { data, dims: tensor.dims.filter((_, k) => k !== axis) };
}

function binaryAnswers(task: BinaryTask, batch: ScoredBatch): TypedAnswers {
  const { data } = batch.outputs[task.output] ?? { data: new Float32Array(0) };
  if (batch.rows > 0 && data.length !== batch.rows) {
    throw new ScoringError(
      'SCORING_FAILED',
      `output "${task.output}" has ${data.length} values for ${batch.rows} rows; a sigmoid gives one`,
      {
        output: task.output,
      },
    );
  }
  const probabilities = new Float64Array(batch.rows * 2);
  const best = new Int32Array(batch.rows);
  for (let r = 0; r < batch.rows; r++) {
    const p = Number(data[r]!);
    probabilities[2 * r] = 1 - p;
    probabilities[2 * r + 1] = p;
    best[r] = p >= task.threshold ? 1 : 0;
  }
  return { kind: 'classification', rows: batch.rows, classes: task.classes, best, probabilities };
}

function embeddingAnswers(task: EmbeddingTask, batch: ScoredBatch): TypedAnswers {
  const tensor = batch.outputs[task.output];
  if (batch.rows === 0 || tensor === undefined) return { kind: 'embedding', rows: 0, dims: 0, vectors: new Float32Array(0) };
  const dims = tensor.data.length / batch.rows;
  if (!Number.isInteger(dims) || tensor.dims[0] !== batch.rows) {
    throw new ScoringError(
      'SCORING_FAILED',
      `output "${task.output}" has shape [${tensor.dims.join(', ')}]; expected [${batch.rows}, dims]`,
      {
        output: task.output,
      },
    );
  }
  const vectors =
    tensor.data instanceof Float32Array || tensor.data instanceof Float64Array
      ? tensor.data.slice()
      : Float64Array.from(tensor.data, Number);
  if (task.normalize === 'l2') {
    for (let r = 0; r < batch.rows; r++) {
      const row = vectors.subarray(r * dims, (r + 1) * dims);
      let sum = 0;
      for (let i = 0; i < dims; i++) sum += row[i]! * row[i]!;
      const norm = Math.sqrt(sum);
      if (norm > 0) for (let i = 0; i < dims; i++) row[i] = row[i]! / norm;
    }
  }
  return { kind: 'embedding', rows: batch.rows, dims, vectors };
}

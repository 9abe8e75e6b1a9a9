import type { Task } from '../bundle/index.js';
import { InputError, ScoringError, StateError } from '../errors/index.js';
import type { FeatureTransform } from '../features/index.js';
import type { ConfidenceSet } from '../gate/index.js';
import { numeric, type ScoredBatch, type Scorer } from '../scoring/index.js';

/** Model rows per `scoreFeatures` call: big enough to amortise a run, small enough to yield often. */
export const CHUNK_ROWS = 4096;

export interface Progress {
  readonly done: number;
  readonly total: number;
}

/** What every long explanation call accepts. */
export interface RunOptions {
  /** Aborting it makes the call reject with `StateError('CANCELLED')` at its next chunk. */
  readonly signal?: AbortSignal;
  /** Called after every chunk; `done` and `total` count the steps each function documents. */
  readonly onProgress?: (progress: Progress) => void;
}

/** The tabular transform, or `StateError('UNSUPPORTED')`: tensor inputs have no fields to attribute to. */
export function tabularTransform(scorer: Scorer, operation: string): FeatureTransform {
  if (scorer.transform.spec.kind !== 'tabular') {
    throw new StateError('UNSUPPORTED', `${operation} needs a tabular model; this one takes tensors`, { operation });
  }
  return scorer.transform;
}

/**
 * A macrotask turn (not a microtask), so the worker can take a cancel message or another call
 * between chunks; then the signal is checked.
 */
export async function pause(signal: AbortSignal | undefined, operation: string): Promise<void> {
  await new Promise<void>((resolve) => setTimeout(resolve, 0));
  if (signal?.aborted === true) throw new StateError('CANCELLED', `${operation} was cancelled`, { operation });
}

export function readCount(value: unknown, field: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new InputError('INVALID_OPTION', `${field} must be a whole number from 1 to ${max}, got ${String(value)}`, { field });
  }
  return value;
}

/** The seed of `explain`'s and `importance`'s draws when `seed` is not given: the same call gives the same answer. */
export const DEFAULT_SEED = 1;

export function readSeed(value: unknown): number {
  if (value === undefined) return DEFAULT_SEED;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new InputError('INVALID_OPTION', `seed must be a whole number from 0 to 4294967295, got ${String(value)}`, { field: 'seed' });
  }
  return value;
}

/** The index of the class whose probability is explained, or undefined for "choose per call". */
export function readClass(task: Task, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (task.kind !== 'classification') {
    throw new InputError('INVALID_OPTION', 'class applies to classification models only', { field: 'class' });
  }
  const index = typeof value === 'string' ? task.classes.indexOf(value) : -1;
  if (index < 0) throw new InputError('INVALID_OPTION', `class must be one of ${task.classes.join(', ')}`, { field: 'class' });
  return index;
}

/** Says in words what the explained numbers are. */
export function describeOutput(task: Task, classIndex: number): string {
  if (task.kind === 'classification') return `probability of class "${task.classes[classIndex]!}"`;
  if (task.kind !== 'regression') return `model output (${task.kind})`;
  return task.inverse === 'expm1'
    ? `model output "${task.value}" before the task's expm1: log1p of the target`
    : `model output "${task.value}"`;
}

/**
 * The explained output per row: the raw regression output (before the task's inverse, where
 * linear models are additive), or one class's probability.
 */
export function readOutputs(task: Task, batch: ScoredBatch, classIndex: number): Float64Array {
  if (batch.rows === 0) return new Float64Array(0);
  if (task.kind !== 'classification' && task.kind !== 'regression') {
    throw new StateError('UNSUPPORTED', `explanations are for tabular classification and regression, not a ${task.kind} model`, {});
  }
  if (task.kind === 'regression') {
    const tensor = batch.outputs[task.value];
    if (tensor === undefined || tensor.data.length !== batch.rows) {
      throw new ScoringError('SCORING_FAILED', `output "${task.value}" does not hold one value per row`, { output: task.value });
    }
    return Float64Array.from(numeric(tensor.data));
  }
  const k = task.classes.length;
  const tensor = batch.outputs[task.probabilities];
  if (tensor === undefined || tensor.data.length !== batch.rows * k) {
    throw new ScoringError('SCORING_FAILED', `output "${task.probabilities}" does not hold ${k} probabilities per row`, {
      output: task.probabilities,
    });
  }
  const out = new Float64Array(batch.rows);
  const data = numeric(tensor.data);
  for (let r = 0; r < batch.rows; r++) out[r] = data[r * k + classIndex]!;
  return out;
}

/** Per row, the index of its most probable class (the first on ties, as `Scorer.predictions`). */
export function predictedClasses(task: Task, batch: ScoredBatch): Int32Array {
  const out = new Int32Array(batch.rows);
  if (task.kind !== 'classification' || batch.rows === 0) return out;
  const best = readOutputs(task, batch, 0);
  for (let c = 1; c < task.classes.length; c++) {
    const p = readOutputs(task, batch, c);
    for (let r = 0; r < batch.rows; r++) {
      if (p[r]! > best[r]!) {
        best[r] = p[r]!;
        out[r] = c;
      }
    }
  }
  return out;
}

export interface Background {
  readonly rows: number;
  /** `rows x width` features. */
  readonly features: Float64Array;
  readonly batch: ScoredBatch;
}

// Per scorer and background set: explaining many rows against one background scores it once.
const backgrounds = new WeakMap<Scorer, WeakMap<ConfidenceSet, Promise<Background>>>();

/** The background's features and outputs, computed once per scorer and set (the set is treated as immutable). */
export function scoreBackground(scorer: Scorer, background: ConfidenceSet): Promise<Background> {
  if (background.rows.length === 0) throw new InputError('INVALID_OPTION', 'the background set has no rows', { field: 'background' });
  let perScorer = backgrounds.get(scorer);
  if (perScorer === undefined) backgrounds.set(scorer, (perScorer = new WeakMap()));
  let scored = perScorer.get(background);
  if (scored === undefined) {
    scored = scorer.score(background.rows).then((batch): Background => {
      if (batch.features === undefined) throw new ScoringError('SCORING_FAILED', 'the background set gave no feature matrix', {});
      return { rows: batch.rows, features: batch.features, batch };
    });
    // A failure is not cached: the next call tries again.
    scored.catch(() => perScorer.delete(background));
    perScorer.set(background, scored);
  }
  return scored;
}

/** Fisher–Yates, in place, from the seeded generator. */
export function shuffle(values: Int32Array, random: () => number): Int32Array {
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = values[i]!;
    values[i] = values[j]!;
    values[j] = t;
  }
  return values;
}

export function range(n: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}

/** A field's value as the caller sent it, for display beside its attribution. */
export function rawValue(row: unknown, field: string): number | string | null {
  const value = (row as Record<string, unknown>)[field];
  return typeof value === 'number' || typeof value === 'string' ? value : null;
}

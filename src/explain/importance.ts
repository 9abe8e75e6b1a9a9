import type { MetricName } from '../bundle/index.js';
import { InputError } from '../errors/index.js';
import { classificationMetric, regressionMetric, type ConfidenceSet } from '../gate/index.js';
import { seededRandom } from '../rollout/index.js';
import type { ScoredBatch, Scorer } from '../scoring/index.js';
import { CHUNK_ROWS, pause, range, readCount, readSeed, scoreBackground, shuffle, tabularTransform, type RunOptions } from './shared.js';

export interface ImportanceOptions extends RunOptions {
  /**
   * Shuffles per field, 1 to 1,000.
   * @defaultValue `5` (`DEFAULT_REPEATS`)
   */
  readonly repeats?: number;
  /**
   * Seed of the shuffles (mulberry32).
   * @defaultValue `1` (`DEFAULT_SEED`)
   */
  readonly seed?: number;
}

export interface FieldImportance {
  readonly field: string;
  /** Mean loss of the metric when the field is shuffled: larger = more important; about 0 (or below) = unused. */
  readonly importance: number;
  /** Sample standard deviation of that loss over the repeats (0 for one repeat). */
  readonly std: number;
}

export interface PermutationImportance {
  readonly metric: MetricName;
  /** The metric on the unshuffled background set. */
  readonly baseline: number;
  /** One per raw field, most important first (spec order among ties). */
  readonly features: readonly FieldImportance[];
  readonly repeats: number;
  readonly seed: number;
}

const MAX_REPEATS = 1000;
/** Shuffles per field when `repeats` is not given. */
export const DEFAULT_REPEATS = 5;

/**
 * Permutation importance (Breiman 2001; Fisher, Rudin & Dominici 2019) on the background set: per
 * raw field and repeat, the field's feature columns are shuffled across the rows (seeded
 * Fisher–Yates, one row permutation for all of a field's columns, so its columns stay consistent)
 * and the metric is measured on the model's predictions, in the task's units as the gate measures
 * them. The loss is baseline - shuffled for accuracy and r2, shuffled - baseline for rmse and mae.
 * Progress counts (field, repeat) steps.
 */
export async function permutationImportance(
  scorer: Scorer,
  background: ConfidenceSet,
  metric: MetricName,
  options: ImportanceOptions = {},
): Promise<PermutationImportance> {
  const transform = tabularTransform(scorer, 'permutationImportance');
  const repeats = readCount(options.repeats, 'repeats', DEFAULT_REPEATS, MAX_REPEATS);
  const seed = readSeed(options.seed);
  const task = scorer.task;
  const classification = task.kind === 'classification';
  if ((metric === 'accuracy') !== classification || !['accuracy', 'rmse', 'mae', 'r2'].includes(metric)) {
    throw new InputError('INVALID_OPTION', `metric ${String(metric)} does not apply to a ${task.kind} model`, { field: 'metric' });
  }
  const labels = background.labels;
  const targets = background.targets;
  if (classification ? labels === undefined : targets === undefined) {
    throw new InputError('INVALID_OPTION', `the background set needs ${classification ? 'labels' : 'targets'} to measure ${metric}`, {
      field: 'background',
    });
  }
  await pause(options.signal, 'permutationImportance');
  const base = await scoreBackground(scorer, background);
  const n = base.rows;
  const width = transform.width;
  const score = (batch: ScoredBatch, copies: number): number[] => {
    const predicted = scorer.columnar(batch);
    const scores: number[] = [];
    for (let k = 0; k < copies; k++) {
      const from = k * n;
      scores.push(
        predicted.kind === 'classification'
          ? classificationMetric(metric, predicted.labels.slice(from, from + n), labels!)
          : regressionMetric(metric, predicted.values.subarray(from, from + n), targets!),
      );
    }
    return scores;
  };

  const baseline = score(base.batch, 1)[0]!;
  const loss = (shuffled: number): number => (metric === 'accuracy' || metric === 'r2' ? baseline - shuffled : shuffled - baseline);

  const fields = transform.fieldColumns;
  const total = fields.length * repeats;
  const losses = new Float64Array(total);
  const random = seededRandom(seed);
  const perChunk = Math.max(1, Math.floor(CHUNK_ROWS / n));
  for (let start = 0; start < total; start += perChunk) {
    if (start > 0) await pause(options.signal, 'permutationImportance');
    const copies = Math.min(perChunk, total - start);
    const matrix = new Float64Array(copies * n * width);
    for (let k = 0; k < copies; k++) {
      // Steps run field by field, repeat by repeat: the draws do not depend on the chunk size.
      const { columns } = fields[Math.floor((start + k) / repeats)]!;
      const order = shuffle(range(n), random);
      const offset = k * n * width;
      matrix.set(base.features, offset);
      for (let r = 0; r < n; r++) for (const c of columns) matrix[offset + r * width + c] = base.features[order[r]! * width + c]!;
    }
    score(await scorer.scoreFeatures(matrix, copies * n), copies).forEach((s, k) => (losses[start + k] = loss(s)));
    options.onProgress?.({ done: start + copies, total });
  }

  const features = fields.map(({ field }, j): FieldImportance => {
    const own = losses.subarray(j * repeats, (j + 1) * repeats);
    const mean = own.reduce((sum, v) => sum + v, 0) / repeats;
    const variance = repeats < 2 ? 0 : own.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (repeats - 1);
    return { field, importance: mean, std: Math.sqrt(variance) };
  });
  // Array.prototype.sort is stable: ties keep spec order.
  features.sort((a, b) => b.importance - a.importance);
  return { metric, baseline, features, repeats, seed };
}

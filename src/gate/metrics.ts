import type { MetricName } from '../bundle/index.js';

/** The confidence-set metrics a manifest may name. */
export function classificationMetric(name: MetricName, predicted: readonly string[], truth: readonly string[]): number {
  if (name !== 'accuracy') throw new RangeError(`metric ${name} does not apply to classification`);
  let correct = 0;
  for (let i = 0; i < truth.length; i++) if (predicted[i] === truth[i]) correct++;
  return correct / truth.length;
}

export function regressionMetric(name: MetricName, predicted: ArrayLike<number>, truth: readonly number[]): number {
  const n = truth.length;
  let squared = 0;
  let absolute = 0;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += truth[i]! / n;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const error = predicted[i]! - truth[i]!;
    squared += error * error;
    absolute += Math.abs(error);
    total += (truth[i]! - mean) ** 2;
  }
  switch (name) {
    case 'rmse':
      return Math.sqrt(squared / n);
    case 'mae':
      return absolute / n;
    case 'r2':
      return 1 - squared / total;
    case 'accuracy':
      throw new RangeError('accuracy does not apply to regression');
  }
}

/**
 * |actual - expected| within `tolerance`, relative for magnitudes above 1: float32 keeps about 7
 * significant digits whatever the scale.
 */
export function withinTolerance(actual: number, expected: number, tolerance: number): boolean {
  return Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected));
}

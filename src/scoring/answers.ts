import type { Prediction, TypedAnswers } from './index.js';

/**
 * Typed answers as the `Prediction` objects `predictBatch` gives (same keys, same order), made
 * where they are read: on the main thread for an app's call, in the worker for a shadow's comparison.
 * Row r's id is `firstId + r`.
 */
export function expandAnswers(answers: TypedAnswers, version: string, firstId: number): Prediction[] {
  const predictions: Prediction[] = [];
  if (answers.kind === 'regression') {
    const { values } = answers;
    for (let r = 0; r < answers.rows; r++) predictions.push({ kind: 'regression', value: values[r]!, version, id: String(firstId + r) });
    return predictions;
  }
  const { classes, best, probabilities: data } = answers;
  const k = classes.length;
  for (let r = 0; r < answers.rows; r++) {
    const probabilities: Record<string, number> = {};
    for (let c = 0; c < k; c++) probabilities[classes[c]!] = data[r * k + c]!;
    predictions.push({ kind: 'classification', label: classes[best[r]!]!, probabilities, version, id: String(firstId + r) });
  }
  return predictions;
}

/** Row r's answer as drift monitoring reads it: the label, or the value. */
export function outputAt(
  answers: Pick<TypedAnswers, 'kind'> &
    (
      | { readonly kind: 'classification'; readonly classes: readonly string[]; readonly best: Int32Array }
      | { readonly kind: 'regression'; readonly values: Float64Array }
    ),
): (row: number) => string | number {
  return answers.kind === 'classification' ? (r) => answers.classes[answers.best[r]!]! : (r) => answers.values[r]!;
}

import type { Prediction, TypedAnswers } from './index.js';

/**
 * Typed answers as the `Prediction` objects `predictBatch` gives (same keys, same order), made
 * where they are read: on the main thread for an app's call, in the worker for a shadow's comparison.
 * Row r's id is `firstId + r`; without a version (the gate's own reading) neither is set.
 */
export function expandAnswers(answers: TypedAnswers, version?: string, firstId = 0): Prediction[] {
  const stamp = (r: number): { version?: string; id?: string } => (version === undefined ? {} : { version, id: String(firstId + r) });
  const predictions: Prediction[] = [];
  switch (answers.kind) {
    case 'regression':
      for (let r = 0; r < answers.rows; r++) predictions.push({ kind: 'regression', value: answers.values[r]!, ...stamp(r) });
      return predictions;
    case 'outputs':
      for (let r = 0; r < answers.rows; r++) predictions.push({ kind: 'outputs', outputs: answers.outputs[r]!, ...stamp(r) });
      return predictions;
    case 'embedding':
      for (let r = 0; r < answers.rows; r++) {
        const vector = answers.vectors.slice(r * answers.dims, (r + 1) * answers.dims);
        predictions.push({ kind: 'embedding', vector, ...stamp(r) });
      }
      return predictions;
  }
  const { classes, best, probabilities: data } = answers;
  const k = classes.length;
  for (let r = 0; r < answers.rows; r++) {
    const probabilities: Record<string, number> = {};
    for (let c = 0; c < k; c++) probabilities[classes[c]!] = data[r * k + c]!;
    predictions.push({ kind: 'classification', label: classes[best[r]!]!, probabilities, ...stamp(r) });
  }
  return predictions;
}

/** Row r's answer as drift monitoring reads it: the label, or the value (NaN for outputs and embeddings, which it does not watch). */
export function outputAt(answers: TypedAnswers): (row: number) => string | number {
  if (answers.kind === 'classification') return (r) => answers.classes[answers.best[r]!]!;
  if (answers.kind === 'regression') return (r) => answers.values[r]!;
  return () => Number.NaN;
}

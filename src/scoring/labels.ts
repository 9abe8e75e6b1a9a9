import type { ColumnarPrediction, TypedAnswers } from './index.js';

/**
 * `predictColumns`' answer as it crosses the worker boundary: a classifier's labels go as class
 * indices (`best`, transferred) and become strings on the main thread, since an array of one string
 * per row would be structured-cloned string by string, in the worker and again on the main thread.
 * `TypedAnswers`' form: the probabilities in the model output's own type, as `predictBatch` reads them.
 */
export type ColumnarReply =
  | Extract<TypedAnswers, { readonly kind: 'regression' }>
  | (Extract<TypedAnswers, { readonly kind: 'classification' }> & { readonly probabilities: Float32Array | Float64Array });

/** The reply with its labels as strings: what `predictColumns` gives. */
export function withLabels(reply: ColumnarReply): ColumnarPrediction {
  if (reply.kind === 'regression') return reply;
  const { rows, classes, best, probabilities } = reply;
  return { kind: 'classification', rows, classes, labels: Array.from(best, (c) => classes[c]!), probabilities };
}

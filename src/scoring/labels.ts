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

/**
 * The reply with its labels as strings: what `predictColumns` gives. The labels are made when first
 * read (an app that reads only the probabilities never pays for 100,000 of them), then kept.
 */
export function withLabels<T extends object = object>(reply: ColumnarReply, extra?: T): ColumnarPrediction & T {
  if (reply.kind === 'regression') return { ...reply, ...(extra as T) };
  const { rows, classes, best, probabilities } = reply;
  let labels: string[] | undefined;
  return {
    ...(extra as T),
    kind: 'classification',
    rows,
    classes,
    get labels(): string[] {
      labels ??= labelsOf(best, classes);
      return labels;
    },
    probabilities,
  };
}

function labelsOf(best: Int32Array, classes: readonly string[]): string[] {
  const labels = new Array<string>(best.length);
  for (let r = 0; r < best.length; r++) labels[r] = classes[best[r]!]!;
  return labels;
}

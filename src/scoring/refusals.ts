import { InputError } from '../errors/index.js';
import type { FeatureTransform } from '../features/index.js';

/**
 * Every refused row of a batch, in one pass: each row validated and transformed on its own, its
 * error told as its own call's (row 0). Run only when the batch as a whole was refused, so a batch
 * with bad rows is scored once, without them, instead of once more per bad row.
 */
export function refusedRows(transform: FeatureTransform, rows: readonly unknown[]): Map<number, InputError> {
  const refused = new Map<number, InputError>();
  rows.forEach((row, r) => {
    try {
      transform.prepare([row]);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      refused.set(r, error.atRow(0));
    }
  });
  return refused;
}

import type { OutputChecks } from '../bundle/index.js';
import type { ScoredBatch } from '../scoring/index.js';

export interface ChecksReport {
  readonly passed: boolean;
  /** Values checked, over every row and output named. */
  readonly checked: number;
  /** The first failures (at most 10). */
  readonly failures: readonly { readonly row: number; readonly output: string; readonly check: string; readonly why: string }[];
}

const MAX_FAILURES = 10;

/**
 * Output checks for models without labels: every value finite, inside its range, probabilities
 * summing to one. Each batch's rows follow the previous batch's.
 */
export function checkOutputs(checks: OutputChecks, tolerance: number, scored: readonly ScoredBatch[]): ChecksReport {
  const failures: ChecksReport['failures'][number][] = [];
  let checked = 0;
  const fail = (row: number, output: string, check: string, why: string): void => {
    if (failures.length < MAX_FAILURES) failures.push({ row, output, check, why });
  };
  let first = 0;
  for (const batch of scored) {
    for (const [output, tensor] of Object.entries(batch.outputs)) {
      const values = tensor.data;
      const range = checks.ranges?.[output];
      for (let i = 0; i < values.length; i++) {
        const v = Number(values[i]!);
        const row = first + rowOf(i, values.length, batch.rows);
        checked++;
        if (checks.finite === true && !Number.isFinite(v)) fail(row, output, 'finite', `value ${i} is ${v}`);
        if (range !== undefined && !(v >= range[0] && v <= range[1]))
          fail(row, output, 'range', `value ${i} is ${v}, outside [${range.join(', ')}]`);
      }
      if (checks.sumToOne?.includes(output))
        checkSums(tensor.data, tensor.dims, tolerance, (k, sum) =>
          fail(first + rowOf(k, values.length / (tensor.dims.at(-1) ?? 1), batch.rows), output, 'sumToOne', `values sum to ${sum}`),
        );
    }
    first += batch.rows;
  }
  for (const output of [...Object.keys(checks.ranges ?? {}), ...(checks.sumToOne ?? [])]) {
    if (scored.every((b) => b.outputs[output] === undefined)) fail(0, output, 'present', 'the model gave no such output');
  }
  return { passed: failures.length === 0, checked, failures };
}

/** The row of value i, when the values hold one equal slice per row (else row 0). */
function rowOf(i: number, length: number, rows: number): number {
  return rows > 0 && length % rows === 0 ? Math.floor(i / (length / rows)) : 0;
}

function checkSums(
  data: ArrayLike<number | bigint>,
  dims: readonly number[],
  tolerance: number,
  fail: (k: number, sum: number) => void,
): void {
  const last = dims.at(-1) ?? 1;
  for (let k = 0; k * last < data.length; k++) {
    let sum = 0;
    for (let c = 0; c < last; c++) sum += Number(data[k * last + c]!);
    if (!(Math.abs(sum - 1) <= Math.max(tolerance, 1e-6) * last)) fail(k, sum);
  }
}

/** An output's values row by row (along its first dimension, or one run per row). */
export function outputRows(batch: ScoredBatch, name: string): (ArrayLike<number | bigint> | undefined)[] {
  if (batch.runs !== undefined) return batch.runs.map((run) => run[name]?.data);
  const tensor = batch.outputs[name];
  if (tensor === undefined || batch.rows === 0) return [];
  const size = tensor.data.length / batch.rows;
  return Array.from({ length: batch.rows }, (_, r) => tensor.data.subarray(r * size, (r + 1) * size));
}

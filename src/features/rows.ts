import { InputError } from '../errors/index.js';
import { isForbiddenKey } from './spec.js';

/** Checks shared by every kind of spec: a batch is an array of plain objects with exactly the known keys. */
export function readBatch(rows: unknown, maxRows: number): readonly unknown[] {
  if (!Array.isArray(rows)) throw new InputError('INVALID_BATCH', `expected an array of rows, got ${describeType(rows)}`, {});
  checkBatchSize(rows.length, maxRows);
  return rows;
}

export function checkBatchSize(rows: number, maxRows: number): void {
  if (rows > maxRows)
    throw new InputError('BATCH_TOO_LARGE', `a batch may hold at most ${maxRows} rows, got ${rows}`, { rows, limit: maxRows });
}

export function readRow(row: unknown, r: number, known: ReadonlySet<string>): Record<string, unknown> {
  if (typeof row !== 'object' || row === null || Array.isArray(row) || ArrayBuffer.isView(row)) {
    throw new InputError('INVALID_ROW', `expected an object with the model's fields, got ${describeType(row)}`, { row: r });
  }
  const proto: unknown = Object.getPrototypeOf(row);
  if (proto !== Object.prototype && proto !== null) throw new InputError('INVALID_ROW', `expected a plain object`, { row: r });
  for (const key of Reflect.ownKeys(row)) {
    if (typeof key !== 'string') throw new InputError('INVALID_ROW', `symbol keys are not accepted`, { row: r });
    if (isForbiddenKey(key)) throw new InputError('FORBIDDEN_KEY', `key "${key}" is not accepted`, { row: r, field: key });
    if (!known.has(key)) {
      throw new InputError('UNEXPECTED_FIELD', `field "${preview(key)}" is not one of the model's fields`, { row: r, field: preview(key) });
    }
  }
  const record = row as Record<string, unknown>;
  for (const name of known) {
    if (!Object.hasOwn(record, name)) {
      throw new InputError('MISSING_FIELD', `field "${name}" is missing (use null for a missing value)`, { row: r, field: name });
    }
  }
  return record;
}

export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (typeof value === 'string') return `the string "${preview(value)}"`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

/** Untrusted text echoed back in an error is cut short (a 10 MB string stays out of messages). */
export function preview(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

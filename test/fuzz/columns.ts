// Bad columns: rows of the end-to-end set as columns, each field in one of the forms predictColumns
// takes, then altered (a column replaced, cut short, detached, its codes or levels broken; a column
// removed or added; the whole input not an object). Valid columns are answered row for row as the
// research pipeline answers; anything else is a typed error naming its column where it has one.
import fc from 'fast-check';
import type { OndeviceModel } from '../../src/node/index.js';
import { E2E_LABELS, E2E_ROWS, FIELDS } from './rows.js';
import { answered, refused, settle, type Outcome } from './verdict.js';

const FORMS = ['array', 'typed', 'dictionary'] as const;
const BREAKS = [
  'null',
  'number',
  'string',
  'function',
  'short',
  'detached',
  'not-finite',
  'code-out-of-range',
  'code-below-missing',
  'level-not-string',
  'codes-not-int32',
  'unknown-level-used',
  'object-value',
  'remove',
] as const;
type Break = (typeof BREAKS)[number];

export interface ColumnCase {
  readonly rows: readonly number[];
  readonly forms: readonly (typeof FORMS)[number][];
  readonly breaks: readonly { readonly field: number; readonly how: Break }[];
  readonly extra: boolean;
  readonly whole: 'columns' | 'null' | 'array' | 'number';
}

export const columnCase: fc.Arbitrary<ColumnCase> = fc.record({
  rows: fc.array(fc.nat(E2E_ROWS.length - 1), { minLength: 1, maxLength: 40 }),
  forms: fc.array(fc.constantFrom(...FORMS), { minLength: FIELDS.length, maxLength: FIELDS.length }),
  breaks: fc.array(fc.record({ field: fc.nat(FIELDS.length - 1), how: fc.constantFrom(...BREAKS) }), { maxLength: 2 }),
  extra: fc.boolean(),
  whole: fc.oneof(
    { weight: 12, arbitrary: fc.constant('columns' as const) },
    fc.constantFrom('null' as const, 'array' as const, 'number' as const),
  ),
});

/** A typed array whose buffer was transferred away, as after an earlier postMessage. */
function detached<T extends Float64Array | Int32Array>(make: new (length: number) => T, length: number): T {
  const values = new make(length);
  structuredClone(values.buffer, { transfer: [values.buffer as ArrayBuffer] });
  return values;
}

/** A field's column in the form asked for: numbers as number[] or Float64Array, categories as string[] or codes and levels. */
function column(field: (typeof FIELDS)[number], rows: readonly number[], form: (typeof FORMS)[number]): unknown {
  const values = rows.map((row) => E2E_ROWS[row]![field.name] as number | string | null);
  if (field.type === 'number')
    return form === 'array' ? values : Float64Array.from(values, (v) => (v === null ? Number.NaN : (v as number)));
  if (form !== 'dictionary') return values;
  const levels = [...new Set(values.filter((v): v is string => v !== null))];
  return { codes: Int32Array.from(values, (v) => (v === null ? -1 : levels.indexOf(v as string))), levels };
}

/** The column broken as `how` says; undefined when the break does not apply to this column (it stays valid). */
function broken(original: unknown, how: Break, rows: number): unknown {
  const dictionary =
    typeof original === 'object' && original !== null && 'codes' in original
      ? (original as { codes: Int32Array; levels: string[] })
      : undefined;
  switch (how) {
    case 'null':
      return null;
    case 'number':
      return 7;
    case 'string':
      return 'Biscoe';
    case 'function':
      return () => 1;
    case 'short':
      return rows > 1 && Array.isArray(original) ? original.slice(1) : undefined;
    case 'detached':
      return dictionary === undefined ? detached(Float64Array, rows) : { codes: detached(Int32Array, rows), levels: dictionary.levels };
    case 'not-finite':
      return original instanceof Float64Array ? Float64Array.from(original, (v, i) => (i === 0 ? Infinity : v)) : undefined;
    case 'code-out-of-range':
      return dictionary === undefined
        ? undefined
        : { codes: Int32Array.from(dictionary.codes, (c, i) => (i === 0 ? 99 : c)), levels: dictionary.levels };
    case 'code-below-missing':
      return dictionary === undefined
        ? undefined
        : { codes: Int32Array.from(dictionary.codes, (c, i) => (i === 0 ? -2 : c)), levels: dictionary.levels };
    case 'level-not-string':
      return dictionary === undefined ? undefined : { codes: dictionary.codes, levels: [3, ...dictionary.levels.slice(1)] };
    case 'codes-not-int32':
      return dictionary === undefined ? undefined : { codes: [...dictionary.codes], levels: dictionary.levels };
    case 'unknown-level-used':
      return dictionary === undefined ? undefined : { codes: new Int32Array(rows), levels: ['Atlantis'] };
    case 'object-value':
      return Array.isArray(original) ? original.map((v, i) => (i === 0 ? { v } : v)) : undefined;
    case 'remove':
      return 'remove';
  }
}

/** The columns the case sends, and the fields it broke (empty when only the whole input is wrong; undefined when all is valid). */
export function makeColumns(test: ColumnCase): { input: unknown; faults: string[] | undefined } {
  if (test.whole !== 'columns') return { input: { null: null, array: [], number: 3 }[test.whole], faults: [] };
  const columns: Record<string, unknown> = {};
  FIELDS.forEach((field, i) => (columns[field.name] = column(field, test.rows, test.forms[i]!)));
  const faults: string[] = [];
  const applied: Break[] = [];
  for (const { field, how } of test.breaks) {
    const name = FIELDS[field]!.name;
    // One break per column: a second would read what the first took apart (a detached buffer).
    if (faults.includes(name)) continue;
    const next = broken(columns[name], how, test.rows.length);
    if (next === undefined) continue;
    faults.push(name);
    applied.push(how);
    if (next === 'remove') delete columns[name];
    else columns[name] = next;
  }
  if (test.extra) {
    columns.extra = new Float64Array(test.rows.length);
    faults.push('extra');
  }
  // A column cut short is named by whichever column the lengths are compared against.
  if (applied.includes('short')) faults.push(...Object.keys(columns));
  return { input: columns, faults: faults.length === 0 ? undefined : faults };
}

export async function checkColumns(model: OndeviceModel, test: ColumnCase): Promise<Outcome> {
  const { input, faults } = makeColumns(test);
  const result = await settle(10_000, () => model.predictColumns(input as Parameters<OndeviceModel['predictColumns']>[0]));
  if (faults === undefined) {
    return answered(result, (answer) => {
      const labels = answer.kind === 'classification' ? answer.labels : [];
      const wrong = test.rows.findIndex((row, i) => labels[i] !== E2E_LABELS[row]);
      return wrong === -1 ? undefined : `row ${wrong}: ${labels[wrong]}, the research pipeline says ${E2E_LABELS[test.rows[wrong]!]}`;
    });
  }
  return refused(result, (error) => {
    if (error.name !== 'InputError') return 'expected an InputError';
    const field = error.details.field;
    return faults.length === 0 || (typeof field === 'string' && faults.includes(field))
      ? undefined
      : `named ${String(field)}, not one of ${faults.join(', ')}`;
  });
}

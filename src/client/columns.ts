import type { InputField } from '../features/index.js';
import type { ColumnarInput, DictionaryColumn } from '../worker/protocol.js';

/**
 * From this many rows, `predictBatch` tries sending columns instead of row objects: a plain loop
 * here costs less than structured-cloning every row (and the worker reading each clone back).
 * Below it the clone is cheap and the rows go as they are.
 */
export const COLUMNS_MIN_ROWS = 256;

/**
 * From this many rows, `predictBatch` sends its columns in parts of PART_ROWS: the worker validates
 * and writes each part into the model input while the main thread lays out the next, instead of
 * starting only once every row is laid out.
 */
export const PARTS_MIN_ROWS = 16_384;
export const PART_ROWS = 8_192;

/** Levels of a category looked up by a scan before the map (see rowsToColumns). */
const SCANNED_LEVELS = 8;

/** A tabular model's raw fields, as the main thread lays rows out in columns. */
export interface ColumnPlan {
  readonly names: readonly string[];
  /** Per field: a number (else a category). */
  readonly numeric: readonly boolean[];
  readonly slots: ReadonlyMap<string, number>;
}

/** The plan for a model's inputs; undefined for a tensor model (its rows always go as they are). */
export function columnPlan(inputs: readonly InputField[]): ColumnPlan | undefined {
  if (inputs.length === 0 || inputs.some((field) => field.type === 'tensor')) return undefined;
  return {
    names: inputs.map((field) => field.name),
    numeric: inputs.map((field) => field.type === 'number'),
    slots: new Map(inputs.map((field, slot) => [field.name, slot])),
  };
}

/**
 * The rows as columns (numbers as Float64Array, null as NaN; categories dictionary-encoded), or
 * undefined when any row is not plainly valid: then the rows go to the worker as they are and get
 * exactly the error they always got. Taken only when every row is a plain object (prototype
 * `Object.prototype` or null) whose keys are exactly the model's fields, numbers finite or null,
 * categories strings or null. What the worker still refuses (an unknown category, a missing value
 * the model cannot impute, a string too long) it names as it would in the row objects.
 */
export function rowsToColumns(rows: unknown, plan: ColumnPlan | undefined): ColumnarInput | undefined {
  if (plan === undefined || !Array.isArray(rows) || rows.length < COLUMNS_MIN_ROWS) return undefined;
  return partToColumns(rows, plan, 0, rows.length);
}

/** Rows [from, to) of a batch as columns, on the same terms as `rowsToColumns` (a part of a batch sent in parts). */
export function partToColumns(rows: readonly unknown[], plan: ColumnPlan, from: number, to: number): ColumnarInput | undefined {
  // for-in also lists inherited enumerable keys: with none on Object.prototype, what it lists of a
  // plain row is its own enumerable string keys, what structured clone would carry.
  if (hasEnumerableKeys(Object.prototype)) return undefined;
  const n = to - from;
  const k = plan.names.length;
  const empty64 = new Float64Array(0);
  const empty32 = new Int32Array(0);
  const numbers = plan.numeric.map((numeric) => (numeric ? new Float64Array(n) : empty64));
  const codes = plan.numeric.map((numeric) => (numeric ? empty32 : new Int32Array(n)));
  const dictionaries = plan.numeric.map(() => new Map<string, number>());
  const levels = plan.numeric.map((): string[] => []);
  const numeric = plan.numeric;
  // Rows built alike list their keys in the same order: a key equal to the previous row's at the same
  // place has the same slot, without a map lookup.
  const order: string[] = [];
  const orderSlots: number[] = [];
  for (let r = 0; r < n; r++) {
    const row: unknown = rows[from + r];
    if (typeof row !== 'object' || row === null) return undefined;
    const proto: unknown = Object.getPrototypeOf(row);
    if (proto !== Object.prototype && proto !== null) return undefined;
    let seen = 0;
    for (const key in row) {
      let slot: number | undefined;
      if (order[seen] === key) slot = orderSlots[seen]!;
      else {
        // An unknown key (a forbidden one among them: no field may be named so) leaves it to the worker.
        slot = plan.slots.get(key);
        if (slot === undefined) return undefined;
        order[seen] = key;
        orderSlots[seen] = slot;
      }
      seen++;
      const value: unknown = (row as Record<string, unknown>)[key];
      if (numeric[slot]) {
        // x - x is 0 only for a finite x.
        if (typeof value === 'number' && value - value === 0) numbers[slot]![r] = value;
        else if (value === null) numbers[slot]![r] = Number.NaN;
        else return undefined;
      } else if (typeof value === 'string') {
        // The first few levels by a scan (equal strings are most often the same string, compared by
        // address), the rest through the map: a category usually has few levels.
        const known = levels[slot]!;
        let code = -1;
        for (let i = 0, m = known.length < SCANNED_LEVELS ? known.length : SCANNED_LEVELS; i < m; i++) {
          if (known[i] === value) {
            code = i;
            break;
          }
        }
        if (code < 0) {
          const dictionary = dictionaries[slot]!;
          code = dictionary.get(value) ?? -1;
          if (code < 0) {
            code = known.push(value) - 1;
            dictionary.set(value, code);
          }
        }
        codes[slot]![r] = code;
      } else if (value === null) codes[slot]![r] = -1;
      else return undefined;
    }
    // Keys are distinct and each is a field: as many as the fields means every field is there.
    if (seen !== k) return undefined;
  }
  const columns: Record<string, Float64Array | DictionaryColumn> = {};
  plan.names.forEach((name, slot) => (columns[name] = numeric[slot] ? numbers[slot]! : { codes: codes[slot]!, levels: levels[slot]! }));
  return columns;
}

function hasEnumerableKeys(object: object): boolean {
  for (const _ in object) return true;
  return false;
}

import { InputError } from '../errors/index.js';
import { isForbiddenKey, type FeatureSpec, type FieldSpec, type OneHotStep } from './spec.js';

/** Missing category value (null); imputed, or refused when the block has no impute step. */
const MISSING = -1;
/** A category outside the dictionary, let through only where every encoder ignores unknowns. */
const UNKNOWN = -2;

/**
 * Raw rows validated into columns: numbers as Float64Array (NaN = missing), categories as Int32Array
 * codes into the field's dictionary. The transform then runs column by column, never row object by
 * row object.
 */
export interface ColumnBatch {
  readonly rows: number;
  readonly numbers: ReadonlyMap<string, Float64Array>;
  readonly categories: ReadonlyMap<string, Int32Array>;
}

/** A raw input field as an app sees it: what to send, and what happens to null. */
export interface InputField {
  readonly name: string;
  readonly type: 'number' | 'category';
  /** Category fields: the categories the model knows. */
  readonly categories?: readonly string[];
  /** `impute`: null is replaced by the fitted value; `error`: null is refused. */
  readonly missing: 'impute' | 'error';
}

export interface FeatureTransform {
  readonly spec: FeatureSpec;
  readonly inputs: readonly InputField[];
  /** Output columns per row. */
  readonly width: number;
  /** One name per output column, e.g. `bill_length_mm` or `island=Dream`. */
  readonly names: readonly string[];
  /** Validates raw rows (untrusted input) into columns; throws `InputError` naming the row and field. */
  toColumns(rows: unknown): ColumnBatch;
  /** The model input: `rows x width` float32, row-major. */
  transform(batch: ColumnBatch): Float32Array;
}

interface FieldPlan {
  readonly field: FieldSpec;
  readonly imputable: boolean;
  /** Category fields: every category any encoder knows, with its code. */
  readonly dictionary: ReadonlyMap<string, number>;
  /** Category fields: whether an unseen category is refused. */
  readonly refuseUnknown: boolean;
}

export function compileFeatureSpec(spec: FeatureSpec): FeatureTransform {
  const plans = planFields(spec);
  const blocks = spec.features.map((block) => compileBlock(block.field, block.steps, plans.get(block.field)!));
  const width = blocks.reduce((sum, b) => sum + b.width, 0);
  const names = blocks.flatMap((b) => b.names);

  const inputs = [...plans.values()].map(
    ({ field, imputable, dictionary }): InputField => ({
      name: field.name,
      type: field.type,
      ...(field.type === 'category' ? { categories: [...dictionary.keys()] } : {}),
      missing: imputable ? 'impute' : 'error',
    }),
  );
  return {
    spec,
    inputs,
    width,
    names,
    toColumns: (rows) => toColumns(rows, spec, plans),
    transform(batch) {
      const out = new Float32Array(batch.rows * width);
      let offset = 0;
      for (const block of blocks) {
        block.write(batch, out, offset, width);
        offset += block.width;
      }
      return out;
    },
  };
}

function planFields(spec: FeatureSpec): Map<string, FieldPlan> {
  const plans = new Map<string, FieldPlan>();
  for (const field of spec.fields) {
    const blocks = spec.features.filter((b) => b.field === field.name);
    const encoders = blocks.map((b) => b.steps.at(-1)).filter((s): s is OneHotStep => s?.op === 'one_hot');
    const dictionary = new Map<string, number>();
    for (const category of encoders.flatMap((e) => e.categories)) {
      if (!dictionary.has(category)) dictionary.set(category, dictionary.size);
    }
    plans.set(field.name, {
      field,
      // A field no block uses is still required, and anything missing is fine for it.
      imputable: blocks.length === 0 || blocks.every((b) => b.steps[0]?.op === 'impute'),
      dictionary,
      refuseUnknown: encoders.some((e) => e.unknown === 'error'),
    });
  }
  return plans;
}

interface CompiledBlock {
  readonly width: number;
  readonly names: readonly string[];
  write(batch: ColumnBatch, out: Float32Array, offset: number, stride: number): void;
}

function compileBlock(field: string, steps: FeatureSpec['features'][number]['steps'], plan: FieldPlan): CompiledBlock {
  if (plan.field.type === 'number') {
    let fill = Number.NaN;
    let mean = 0;
    let scale = 1;
    for (const step of steps) {
      if (step.op === 'impute') fill = step.value as number;
      else if (step.op === 'standardize') ({ mean, scale } = step);
    }
    return {
      width: 1,
      names: [field],
      write(batch, out, offset, stride) {
        const column = batch.numbers.get(field)!;
        for (let r = 0; r < batch.rows; r++) {
          const raw = column[r]!;
          // Same operations, in the same order, as scikit-learn in float64; float32 only at the end.
          out[r * stride + offset] = ((Number.isNaN(raw) ? fill : raw) - mean) / scale;
        }
      },
    };
  }

  const encoder = steps.at(-1) as OneHotStep;
  const impute = steps[0]?.op === 'impute' ? String(steps[0].value) : undefined;
  // Dictionary code -> output column of this block (or -1: no column, all zeros).
  const columnOf = new Int32Array(plan.dictionary.size).fill(-1);
  encoder.categories.forEach((category, i) => {
    columnOf[plan.dictionary.get(category)!] = i;
  });
  const fillCode = impute === undefined ? MISSING : plan.dictionary.get(impute)!;
  return {
    width: encoder.categories.length,
    names: encoder.categories.map((c) => `${field}=${c}`),
    write(batch, out, offset, stride) {
      const codes = batch.categories.get(field)!;
      for (let r = 0; r < batch.rows; r++) {
        const code = codes[r] === MISSING ? fillCode : codes[r]!;
        const column = code >= 0 ? columnOf[code]! : -1;
        if (column >= 0) out[r * stride + offset + column] = 1;
      }
    },
  };
}

function toColumns(rows: unknown, spec: FeatureSpec, plans: ReadonlyMap<string, FieldPlan>): ColumnBatch {
  if (!Array.isArray(rows)) {
    throw new InputError('INVALID_BATCH', `expected an array of rows, got ${describeType(rows)}`, {});
  }
  if (rows.length > spec.limits.maxBatchRows) {
    throw new InputError('BATCH_TOO_LARGE', `a batch may hold at most ${spec.limits.maxBatchRows} rows, got ${rows.length}`, {
      rows: rows.length,
      limit: spec.limits.maxBatchRows,
    });
  }
  const n = rows.length;
  const numbers = new Map<string, Float64Array>();
  const categories = new Map<string, Int32Array>();
  for (const field of spec.fields) {
    if (field.type === 'number') numbers.set(field.name, new Float64Array(n));
    else categories.set(field.name, new Int32Array(n));
  }

  for (let r = 0; r < n; r++) {
    const row: unknown = rows[r];
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      throw new InputError('INVALID_ROW', `row ${r}: expected an object with the model's fields, got ${describeType(row)}`, { row: r });
    }
    const proto: unknown = Object.getPrototypeOf(row);
    if (proto !== Object.prototype && proto !== null) {
      throw new InputError('INVALID_ROW', `row ${r}: expected a plain object`, { row: r });
    }
    for (const key of Reflect.ownKeys(row)) {
      if (typeof key !== 'string') throw new InputError('INVALID_ROW', `row ${r}: symbol keys are not accepted`, { row: r });
      if (isForbiddenKey(key)) {
        throw new InputError('FORBIDDEN_KEY', `row ${r}: key "${key}" is not accepted`, { row: r, field: key });
      }
      if (!plans.has(key)) {
        throw new InputError('UNEXPECTED_FIELD', `row ${r}: field "${preview(key)}" is not one of the model's fields`, {
          row: r,
          field: preview(key),
        });
      }
    }
    const record = row as Record<string, unknown>;
    for (const plan of plans.values()) {
      const name = plan.field.name;
      if (!Object.hasOwn(record, name)) {
        throw new InputError('MISSING_FIELD', `row ${r}: field "${name}" is missing (use null for a missing value)`, { row: r, field: name });
      }
      const value = record[name];
      const isMissing = value === null || value === undefined;
      if (isMissing && !plan.imputable) {
        throw new InputError('MISSING_VALUE', `row ${r}: field "${name}" may not be null: the model has no imputation for it`, {
          row: r,
          field: name,
        });
      }
      if (plan.field.type === 'number') {
        numbers.get(name)![r] = isMissing ? Number.NaN : readNumberValue(value, r, name);
      } else {
        categories.get(name)![r] = isMissing ? MISSING : readCategoryValue(value, r, plan, spec.limits.maxStringLength);
      }
    }
  }
  return { rows: n, numbers, categories };
}

function readNumberValue(value: unknown, row: number, field: string): number {
  if (typeof value !== 'number') {
    throw new InputError('WRONG_TYPE', `row ${row}: field "${field}" must be a number or null, got ${describeType(value)}`, {
      row,
      field,
      expected: 'number',
    });
  }
  if (!Number.isFinite(value)) {
    throw new InputError('NOT_FINITE', `row ${row}: field "${field}" must be finite, got ${value} (use null for a missing value)`, {
      row,
      field,
    });
  }
  return value;
}

function readCategoryValue(value: unknown, row: number, plan: FieldPlan, maxLength: number): number {
  const field = plan.field.name;
  if (typeof value !== 'string') {
    throw new InputError('WRONG_TYPE', `row ${row}: field "${field}" must be a string or null, got ${describeType(value)}`, {
      row,
      field,
      expected: 'string',
    });
  }
  if (value.length > maxLength) {
    throw new InputError('VALUE_TOO_LONG', `row ${row}: field "${field}" is ${value.length} characters long; the limit is ${maxLength}`, {
      row,
      field,
      length: value.length,
      limit: maxLength,
    });
  }
  const code = plan.dictionary.get(value);
  if (code !== undefined) return code;
  if (plan.refuseUnknown) {
    const known = [...plan.dictionary.keys()];
    throw new InputError('UNKNOWN_CATEGORY', `row ${row}: field "${field}" has unknown category "${preview(value)}"; expected one of ${known.join(', ')}`, {
      row,
      field,
      value: preview(value),
      expected: known,
    });
  }
  return UNKNOWN;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string "${preview(value)}"`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

/** Untrusted text echoed back in an error is cut short (a 10 MB string stays out of messages). */
function preview(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

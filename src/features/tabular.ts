import { InputError } from '../errors/index.js';
import { MISSING_CODE, UNKNOWN_CODE } from './codes.js';
import type { FeatureTransform, FieldColumns, InputField, PreparedBatch } from './transform.js';
import { checkBatchSize, describeType, preview, readBatch, readRow } from './rows.js';
import type { EncoderStep, FeatureBlock, FieldSpec, NumericStep, TabularSpec } from './spec.js';

/*
 * Category values are carried as Int32Array codes into the field's dictionary (every level any step
 * of that field names). Two codes sit below the dictionary: missing (null) and unknown (a level no
 * step names). Each block turns codes into outputs through a table, indexed by code + OFFSET.
 */
const MISSING = MISSING_CODE;
const UNKNOWN = UNKNOWN_CODE;
const OFFSET = 2;

/** Why a code is refused by a block: 0 it is not, else the error it gets. */
const ACCEPTED = 0;
const REFUSE_UNKNOWN = 1;
const REFUSE_MISSING = 2;

/** Raw rows validated into columns: numbers as Float64Array (NaN = missing), categories as codes. */
interface ColumnBatch {
  readonly rows: number;
  readonly numbers: ReadonlyMap<string, Float64Array>;
  readonly categories: ReadonlyMap<string, Int32Array>;
}

interface FieldPlan {
  readonly field: FieldSpec;
  readonly dictionary: ReadonlyMap<string, number>;
  /** Per code + OFFSET: ACCEPTED or the refusal, over every block of the field. */
  readonly refusals: Int8Array;
  /** Number fields: whether null is refused (some block has no impute step). */
  readonly refuseMissing: boolean;
}

interface CompiledBlock {
  readonly field: string;
  readonly width: number;
  readonly names: readonly string[];
  write(batch: ColumnBatch, out: Float64Array, offset: number, stride: number): void;
}

export function compileTabular(spec: TabularSpec): FeatureTransform {
  const dictionaries = buildDictionaries(spec);
  const compiled = spec.features.map((block) => compileBlock(block, spec.fields.find((f) => f.name === block.field)!, dictionaries.get(block.field)!));
  const plans = new Map(
    spec.fields.map((field): [string, FieldPlan] => {
      const blocks = compiled.filter((b) => b.block.field === field.name);
      const dictionary = dictionaries.get(field.name)!;
      const refusals = new Int8Array(dictionary.size + OFFSET);
      for (const { refusal } of blocks) refusal?.forEach((why, i) => (refusals[i] ||= why));
      const refuseMissing = field.type === 'number' && blocks.some(({ block }) => block.steps[0]?.op !== 'impute');
      return [field.name, { field, dictionary, refusals, refuseMissing }];
    }),
  );
  const blocks = compiled.map((c) => c.compiled);
  const width = blocks.reduce((sum, b) => sum + b.width, 0);
  const known = new Set(spec.fields.map((f) => f.name));

  const transform = (batch: ColumnBatch, valueAt: (row: number, field: string) => unknown): PreparedBatch => {
    const features = new Float64Array(batch.rows * width);
    let offset = 0;
    for (const block of blocks) {
      block.write(batch, features, offset, width);
      offset += block.width;
    }
    checkFinite(features, width, blocks, valueAt);
    const data = spec.output.dtype === 'float32' ? Float32Array.from(features) : features;
    const raw = { numbers: batch.numbers, categories: batch.categories };
    return { rows: batch.rows, features, raw, inputs: { [spec.output.input]: { data, dims: [batch.rows, width] } } };
  };

  const inputs = [...plans.values()].map(({ field, dictionary, refusals, refuseMissing }): InputField => {
    const missing = (field.type === 'number' ? refuseMissing : refusals[MISSING + OFFSET] !== ACCEPTED) ? 'error' : 'impute';
    if (field.type === 'number') return { name: field.name, type: 'number', missing };
    const categories = [...dictionary.keys()].filter((c) => refusals[dictionary.get(c)! + OFFSET] === ACCEPTED);
    return { name: field.name, type: 'category', categories, missing, acceptsUnknown: refusals[UNKNOWN + OFFSET] === ACCEPTED };
  });

  const fieldColumns: FieldColumns[] = spec.fields.map((field) => ({ field: field.name, columns: [] as number[] }));
  let start = 0;
  for (const block of blocks) {
    const entry = fieldColumns.find((f) => f.field === block.field)!;
    for (let k = 0; k < block.width; k++) (entry.columns as number[]).push(start + k);
    start += block.width;
  }

  return {
    spec,
    inputs,
    width,
    names: blocks.flatMap((b) => b.names),
    fieldColumns,
    levels: new Map(spec.fields.filter((f) => f.type === 'category').map((f) => [f.name, [...dictionaries.get(f.name)!.keys()]])),
    prepare(rows: unknown): PreparedBatch {
      const list = rows as readonly Record<string, unknown>[];
      return transform(toColumns(rows, spec, plans, known), (row, field) => list[row]?.[field]);
    },
    prepareColumns(columns: unknown): PreparedBatch {
      const record = columns as Record<string, ArrayLike<unknown>>;
      return transform(fromColumnar(columns, spec, plans, known), (row, field) => record[field]?.[row]);
    },
  };
}

function buildDictionaries(spec: TabularSpec): Map<string, Map<string, number>> {
  const dictionaries = new Map<string, Map<string, number>>();
  for (const field of spec.fields) dictionaries.set(field.name, new Map());
  // Encoder categories first, so a field's categories are listed in the model's own order.
  for (const pass of ['encoders', 'others'] as const) {
    for (const block of spec.features) {
      const dictionary = dictionaries.get(block.field)!;
      const add = (level: string): void => void (dictionary.has(level) || dictionary.set(level, dictionary.size));
      for (const step of block.steps) {
        if (pass === 'encoders' && (step.op === 'one_hot' || step.op === 'ordinal')) step.categories.forEach(add);
        if (pass === 'others' && step.op === 'impute' && typeof step.value === 'string') add(step.value);
        if (pass === 'others' && step.op === 'rare_label') [...step.keep, step.label].forEach(add);
      }
    }
  }
  return dictionaries;
}

function compileBlock(
  block: FeatureBlock,
  field: FieldSpec,
  dictionary: ReadonlyMap<string, number>,
): { block: FeatureBlock; compiled: CompiledBlock; refusal?: Int8Array } {
  const numeric = block.steps.filter((s): s is NumericStep => s.op === 'log1p' || s.op === 'standardize' || s.op === 'min_max');
  const impute = block.steps[0]?.op === 'impute' ? block.steps[0].value : undefined;
  const applyNumeric = compileNumeric(numeric);

  if (field.type === 'number') {
    const fill = typeof impute === 'number' ? impute : Number.NaN;
    return {
      block,
      compiled: {
        field: field.name,
        width: 1,
        names: [field.name],
        write(batch, out, offset, stride) {
          const column = batch.numbers.get(field.name)!;
          for (let r = 0; r < batch.rows; r++) {
            const raw = column[r]!;
            out[r * stride + offset] = applyNumeric(Number.isNaN(raw) ? fill : raw);
          }
        },
      },
    };
  }

  // Category: resolve every possible code once, through impute and rare_label, to the encoder's input.
  const rare = block.steps.find((s) => s.op === 'rare_label');
  const encoder = block.steps.find((s): s is EncoderStep => s.op === 'one_hot' || s.op === 'ordinal')!;
  const levels = [...dictionary.keys()];
  const refusal = new Int8Array(dictionary.size + OFFSET);
  const resolved = new Array<string | undefined>(dictionary.size + OFFSET);
  for (let code = UNKNOWN; code < dictionary.size; code++) {
    let level = code >= 0 ? levels[code] : undefined;
    if (code === MISSING) {
      if (typeof impute !== 'string') {
        refusal[code + OFFSET] = REFUSE_MISSING;
        continue;
      }
      level = impute;
    }
    if (rare !== undefined && (level === undefined || !rare.keep.includes(level))) level = rare.label;
    resolved[code + OFFSET] = level;
  }
  const position = new Map(encoder.categories.map((c, i) => [c, i]));
  const known = (i: number): number | undefined => (resolved[i] === undefined ? undefined : position.get(resolved[i]!));

  if (encoder.op === 'one_hot') {
    // Output column per code + OFFSET; -1: all zeros.
    const columnOf = new Int32Array(dictionary.size + OFFSET).fill(-1);
    for (let i = 0; i < columnOf.length; i++) {
      if (refusal[i] !== ACCEPTED) continue;
      const column = known(i);
      if (column !== undefined) columnOf[i] = column;
      else if (encoder.unknown === 'error') refusal[i] = REFUSE_UNKNOWN;
    }
    return {
      block,
      refusal,
      compiled: {
        field: field.name,
        width: encoder.categories.length,
        names: encoder.categories.map((c) => `${field.name}=${c}`),
        write(batch, out, offset, stride) {
          const codes = batch.categories.get(field.name)!;
          for (let r = 0; r < batch.rows; r++) {
            const column = columnOf[codes[r]! + OFFSET]!;
            if (column >= 0) out[r * stride + offset + column] = 1;
          }
        },
      },
    };
  }

  const valueOf = new Float64Array(dictionary.size + OFFSET).fill(Number.NaN);
  for (let i = 0; i < valueOf.length; i++) {
    if (refusal[i] !== ACCEPTED) continue;
    const index = known(i);
    if (index !== undefined) valueOf[i] = applyNumeric(index);
    else if (encoder.unknown === 'value') valueOf[i] = applyNumeric(encoder.unknownValue!);
    else refusal[i] = REFUSE_UNKNOWN;
  }
  return {
    block,
    refusal,
    compiled: {
      field: field.name,
      width: 1,
      names: [field.name],
      write(batch, out, offset, stride) {
        const codes = batch.categories.get(field.name)!;
        for (let r = 0; r < batch.rows; r++) out[r * stride + offset] = valueOf[codes[r]! + OFFSET]!;
      },
    },
  };
}

/** Numeric steps folded into one function: float64, same operations and order as scikit-learn. */
function compileNumeric(steps: readonly NumericStep[]): (x: number) => number {
  return steps.reduce<(x: number) => number>((previous, step) => {
    switch (step.op) {
      case 'log1p':
        return (x) => Math.log1p(previous(x));
      case 'standardize': {
        const { mean, scale } = step;
        return (x) => (previous(x) - mean) / scale;
      }
      case 'min_max': {
        const { scale, min, clip } = step;
        if (clip === undefined) return (x) => previous(x) * scale + min;
        const [low, high] = clip;
        return (x) => Math.min(Math.max(previous(x) * scale + min, low), high);
      }
    }
  }, (x) => x);
}

function emptyColumns(spec: TabularSpec, n: number): { numbers: Map<string, Float64Array>; categories: Map<string, Int32Array> } {
  const numbers = new Map<string, Float64Array>();
  const categories = new Map<string, Int32Array>();
  for (const field of spec.fields) {
    if (field.type === 'number') numbers.set(field.name, new Float64Array(n));
    else categories.set(field.name, new Int32Array(n));
  }
  return { numbers, categories };
}

function toColumns(rows: unknown, spec: TabularSpec, plans: ReadonlyMap<string, FieldPlan>, known: ReadonlySet<string>): ColumnBatch {
  const list = readBatch(rows, spec.limits.maxBatchRows);
  const n = list.length;
  const { numbers, categories } = emptyColumns(spec, n);
  for (let r = 0; r < n; r++) {
    const record = readRow(list[r], r, known);
    for (const plan of plans.values()) {
      const name = plan.field.name;
      if (plan.field.type === 'number') numbers.get(name)![r] = encodeNumber(record[name], r, plan);
      else categories.get(name)![r] = encodeCategory(record[name], r, plan, spec.limits.maxStringLength);
    }
  }
  return { rows: n, numbers, categories };
}

/**
 * Columnar input: `{ field: Float64Array | Float32Array | Int32Array | (number | null)[] }` for
 * numbers (NaN in a typed array means missing) and `(string | null)[]` for categories, all of one
 * length. Typed arrays are read in place, without a row object per row.
 */
function fromColumnar(columns: unknown, spec: TabularSpec, plans: ReadonlyMap<string, FieldPlan>, known: ReadonlySet<string>): ColumnBatch {
  const record = readColumnarObject(columns, known);
  const lengths = [...known].map((name) => [name, lengthOf(record[name], name)] as const);
  const n = lengths[0]?.[1] ?? 0;
  const uneven = lengths.find(([, length]) => length !== n);
  if (uneven) {
    throw new InputError('INVALID_BATCH', `column "${uneven[0]}" has ${uneven[1]} values but "${lengths[0]![0]}" has ${n}`, { field: uneven[0] });
  }
  checkBatchSize(n, spec.limits.maxBatchRows);
  const { numbers, categories } = emptyColumns(spec, n);
  for (const plan of plans.values()) {
    const name = plan.field.name;
    const column = record[name] as ArrayLike<unknown>;
    const typed = ArrayBuffer.isView(column);
    if (plan.field.type === 'number') {
      const out = numbers.get(name)!;
      for (let r = 0; r < n; r++) {
        const value = column[r];
        out[r] = encodeNumber(typed && Number.isNaN(value) ? null : value, r, plan);
      }
    } else {
      if (typed) throw new InputError('WRONG_TYPE', `column "${name}" must be an array of strings (or null), got ${describeType(column)}`, { field: name, expected: 'string' });
      const out = categories.get(name)!;
      for (let r = 0; r < n; r++) out[r] = encodeCategory(column[r], r, plan, spec.limits.maxStringLength);
    }
  }
  return { rows: n, numbers, categories };
}

function readColumnarObject(columns: unknown, known: ReadonlySet<string>): Record<string, unknown> {
  if (typeof columns !== 'object' || columns === null || Array.isArray(columns) || ArrayBuffer.isView(columns)) {
    throw new InputError('INVALID_BATCH', `expected columns ({ field: values }), got ${describeType(columns)}`, {});
  }
  return readRow(columns, 0, known);
}

function lengthOf(column: unknown, field: string): number {
  if (Array.isArray(column) || (ArrayBuffer.isView(column) && !(column instanceof DataView))) return (column as ArrayLike<unknown>).length;
  throw new InputError('WRONG_TYPE', `column "${field}" must be an array or a typed array, got ${describeType(column)}`, { field });
}

function encodeNumber(value: unknown, row: number, plan: FieldPlan): number {
  const name = plan.field.name;
  if (value === null || value === undefined) {
    if (plan.refuseMissing) throw missingValue(row, name);
    return Number.NaN;
  }
  return readNumberValue(value, row, name);
}

function encodeCategory(value: unknown, row: number, plan: FieldPlan, maxLength: number): number {
  const name = plan.field.name;
  const code = value === null || value === undefined ? MISSING : readCategoryValue(value, row, name, plan, maxLength);
  const refusal = plan.refusals[code + OFFSET];
  if (refusal === REFUSE_MISSING) throw missingValue(row, name);
  if (refusal === REFUSE_UNKNOWN) {
    const expected = [...plan.dictionary.keys()].filter((c) => plan.refusals[plan.dictionary.get(c)! + OFFSET] === ACCEPTED);
    throw new InputError('UNKNOWN_CATEGORY', `row ${row}: field "${name}" has unknown category "${preview(String(value))}"; expected one of ${expected.join(', ')}`, {
      row,
      field: name,
      value: preview(String(value)),
      expected,
    });
  }
  return code;
}

function missingValue(row: number, field: string): InputError {
  return new InputError('MISSING_VALUE', `row ${row}: field "${field}" may not be null: the model has no imputation for it`, { row, field });
}

function readNumberValue(value: unknown, row: number, field: string): number {
  if (typeof value !== 'number') {
    throw new InputError('WRONG_TYPE', `row ${row}: field "${field}" must be a number or null, got ${describeType(value)}`, { row, field, expected: 'number' });
  }
  if (!Number.isFinite(value)) {
    throw new InputError('NOT_FINITE', `row ${row}: field "${field}" must be finite, got ${value} (use null for a missing value)`, { row, field });
  }
  return value;
}

function readCategoryValue(value: unknown, row: number, field: string, plan: FieldPlan, maxLength: number): number {
  if (typeof value !== 'string') {
    throw new InputError('WRONG_TYPE', `row ${row}: field "${field}" must be a string or null, got ${describeType(value)}`, { row, field, expected: 'string' });
  }
  if (value.length > maxLength) {
    throw new InputError('VALUE_TOO_LONG', `row ${row}: field "${field}" is ${value.length} characters long; the limit is ${maxLength}`, {
      row,
      field,
      length: value.length,
      limit: maxLength,
    });
  }
  return plan.dictionary.get(value) ?? UNKNOWN;
}

/** A value the transform cannot take (log1p of -5, say) gives NaN or Infinity: refused, naming the row and field. */
function checkFinite(features: Float64Array, width: number, blocks: readonly CompiledBlock[], valueAt: (row: number, field: string) => unknown): void {
  for (let i = 0; i < features.length; i++) {
    if (Number.isFinite(features[i]!)) continue;
    const row = Math.floor(i / width);
    let column = i % width;
    const block = blocks.find((b) => (column -= b.width) < 0)!;
    throw new InputError('OUT_OF_DOMAIN', `row ${row}: field "${block.field}" = ${String(valueAt(row, block.field))} is outside what the feature spec can transform`, {
      row,
      field: block.field,
    });
  }
}

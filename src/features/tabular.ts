import { InputError } from '../errors/index.js';
import { MISSING_CODE, UNKNOWN_CODE } from './codes.js';
import type { FeatureTransform, FieldColumns, InputField, LentInput, PreparedBatch, PrepareOptions, RawColumns } from './transform.js';
import { checkBatchSize, describeType, preview, readBatch, readRow } from './rows.js';
import {
  blockWidth,
  type EncoderStep,
  type FeatureBlock,
  type FieldSpec,
  type NumericStep,
  type OneHotStep,
  type TabularSpec,
} from './spec.js';
import { combineRows, isGroup, type AnyBlock, type Combine } from './groups.js';
import { binOf } from './steps.js';

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

/**
 * Raw values as columns: numbers as Float64Array (NaN = missing), categories as codes into the
 * field's dictionary or, for a field in `translations`, into the batch's own levels.
 */
interface ColumnBatch {
  readonly rows: number;
  readonly numbers: ReadonlyMap<string, Float64Array>;
  readonly categories: ReadonlyMap<string, Int32Array>;
  /** Per field given as `{ codes, levels }`: the dictionary code of each level, at its code + 1 (index 0: missing). */
  readonly translations: ReadonlyMap<string, Int32Array>;
}

interface FieldPlan {
  readonly field: FieldSpec;
  readonly dictionary: ReadonlyMap<string, number>;
  /** Per code + OFFSET: ACCEPTED or the refusal, over every block of the field. */
  readonly refusals: Int8Array;
  /** Number fields: whether null is refused (some block has no impute step). */
  readonly refuseMissing: boolean;
  /** A number field some block of which sends a missing value to the model as NaN (`keep_missing`). */
  readonly toModel: boolean;
}

interface CompiledBlock {
  readonly field: string;
  readonly width: number;
  readonly names: readonly string[];
  readonly kernel: Kernel;
  /** NaN is a value it writes (an ordinal encoding's NaN for unknown or missing), not a refusal. */
  readonly nanOk?: boolean;
  /** A number block that sends a missing value on as NaN (`keep_missing`): NaN is fine where the raw value was missing. */
  readonly keepsMissing?: boolean;
  /** A group's fields (its first is `field`): each of its columns depends on all of them. */
  readonly fields?: readonly string[];
}

/**
 * How a block computes its columns from its field's raw column. The few kinds are run kind by kind
 * over each chunk by top-level functions (`writeChunk`): each call site then sees one function with
 * one shape of arguments, which V8 inlines. A closure per block, called through one site, measured
 * two to four times slower per value.
 */
type Kernel =
  /** (x - a) / b; log1p first when `log`. Missing (NaN) is `fill` first. */
  | { readonly kind: 'standardize'; readonly log: boolean; readonly fill: number; readonly a: number; readonly b: number }
  /** x * a + b, missing is `fill` first. */
  | { readonly kind: 'min_max'; readonly fill: number; readonly a: number; readonly b: number }
  /** Any other numeric steps, as passes over a chunk's worth of the column. */
  | { readonly kind: 'passes'; readonly fill: number; readonly apply: (values: Float64Array, start: number, end: number) => void }
  /** One value per category code + OFFSET (NaN where refused). */
  | { readonly kind: 'lookup'; readonly values: Float64Array }
  /** One output column per category code + OFFSET (-1: all zeros). */
  | { readonly kind: 'one_hot'; readonly width: number; readonly columnOf: Int32Array }
  /** Numeric steps as passes, then one column per bin of `edges` (KBinsDiscretizer's one-hot). */
  | {
      readonly kind: 'bins_one_hot';
      readonly fill: number;
      readonly apply: (values: Float64Array, start: number, end: number) => void;
      readonly edges: readonly number[];
      readonly width: number;
    }
  /** A group: its inputs' blocks into `inner` (a chunk of their own), combined row by row, then each output's passes. */
  | {
      readonly kind: 'group';
      readonly plan: ChunkPlan;
      readonly inner: Float64Array;
      readonly innerWidth: number;
      readonly combine: Combine;
      readonly width: number;
      readonly outputs: readonly (((values: Float64Array, start: number, end: number) => void) | undefined)[];
    };

/** One block's kernel with where it reads (its field) and writes (its first column). */
type Placed<K> = { readonly field: string; readonly start: number; readonly kernel: K };
type KernelOf<T extends Kernel['kind']> = Extract<Kernel, { kind: T }>;

interface ChunkPlan {
  readonly standardize: readonly Placed<KernelOf<'standardize'>>[];
  readonly minMax: readonly Placed<KernelOf<'min_max'>>[];
  readonly passes: readonly Placed<KernelOf<'passes'>>[];
  readonly lookup: readonly Placed<KernelOf<'lookup'>>[];
  readonly oneHot: readonly Placed<KernelOf<'one_hot'>>[];
  readonly binsOneHot: readonly Placed<KernelOf<'bins_one_hot'>>[];
  readonly groups: readonly Placed<KernelOf<'group'>>[];
  /** A chunk's worth of one column, for the blocks run as passes. */
  readonly scratch: Float64Array;
}

/** A placed kernel with the batch's column it reads. */
type Bound<C, K> = { readonly column: C; readonly start: number; readonly kernel: K };

/**
 * The plan for one batch. A category kernel's table is indexed by the batch's code + `offset`: its
 * own (by dictionary code + OFFSET), or composed with the field's translation (by level + 1).
 */
interface BoundPlan {
  readonly standardize: readonly Bound<Float64Array, KernelOf<'standardize'>>[];
  readonly minMax: readonly Bound<Float64Array, KernelOf<'min_max'>>[];
  readonly passes: readonly Bound<Float64Array, KernelOf<'passes'>>[];
  readonly lookup: readonly Bound<Int32Array, { readonly values: Float64Array; readonly offset: number }>[];
  readonly oneHot: readonly Bound<Int32Array, { readonly columnOf: Int32Array; readonly offset: number; readonly width: number }>[];
  readonly binsOneHot: readonly Bound<Float64Array, KernelOf<'bins_one_hot'>>[];
  /** A group's kernel with its inputs' plan bound to the batch. */
  readonly groups: readonly { readonly start: number; readonly kernel: KernelOf<'group'>; readonly inner: BoundPlan }[];
  readonly scratch: Float64Array;
}

/**
 * Rows computed at a time. Each block fills its columns of a row-major float64 chunk that stays in
 * cache (CHUNK_ROWS x width x 8 bytes; striding across the whole matrix instead is several times
 * slower), which one native `set` then copies into the matrix (twice as fast as a loop in JS).
 */
const CHUNK_ROWS = 256;
/**
 * The largest pooled model input kept between batches (bytes): `prepare(..., { pooled: true })`
 * reuses one buffer instead of allocating (and the OS zero-filling) tens of MB per large batch.
 */
const MAX_POOLED_BYTES = 64 * 1024 * 1024;

export function compileTabular(spec: TabularSpec): FeatureTransform {
  const dictionaries = buildDictionaries(spec);
  const compiled = spec.features.map((block) => compileAny(block, spec, dictionaries));
  const plans = fieldPlans(
    spec,
    compiled.flatMap((c) => c.parts),
    dictionaries,
  );
  const blocks = compiled.map((c) => c.compiled);
  const width = blocks.reduce((sum, b) => sum + b.width, 0);
  const known = new Set(spec.fields.map((f) => f.name));
  /** Fields some block reads: a value of a field no block reads is never seen by a kernel. */
  const feeding = new Set(blocks.flatMap((b) => b.fields ?? [b.field]));
  /** Columns as a batch: trusted (no pass over the values), or checked. */
  const read = (columns: unknown, trust: boolean): ColumnBatch & { readonly checked: boolean } =>
    fromColumnar(columns, spec, plans, known, feeding, trust);
  const writer = new MatrixWriter(planChunks(blocks), width);
  const pool = new InputPool(spec.output.dtype === 'float32');

  const matrix: MatrixContext = { width, writer, pool, blocks, input: spec.output.input };
  const transform = (batch: ColumnBatch, valueAt: ValueAt, pooled: boolean, strict?: () => ColumnBatch): PreparedBatch =>
    prepareMatrix(matrix, batch, valueAt, pooled, strict);

  return {
    spec,
    inputs: inputFields(plans),
    width,
    names: blocks.flatMap((b) => b.names),
    fieldColumns: fieldColumnsOf(spec, blocks),
    levels: new Map(spec.fields.filter((f) => f.type === 'category').map((f) => [f.name, [...dictionaries.get(f.name)!.keys()]])),
    prepare(rows: unknown, options?: PrepareOptions): PreparedBatch {
      const list = rows as readonly Record<string, unknown>[];
      return transform(toColumns(rows, spec, plans, known), (row, field) => list[row]?.[field], options?.pooled === true);
    },
    prepareColumns(columns: unknown, options?: PrepareOptions): PreparedBatch {
      const record = columns as Record<string, unknown>;
      // Read without a pass over every value: the kernels flag what the checks would refuse.
      const trusted = read(columns, true);
      return transform(
        trusted,
        (row, field) => columnValue(record[field], row),
        options?.pooled === true,
        trusted.checked ? undefined : () => read(columns, false),
      );
    },
    readColumns(columns: unknown): { rows: number; raw: RawColumns } {
      const batch = read(columns, true);
      return { rows: batch.rows, raw: rawOf(batch) };
    },
    lendInput(rows: number): LentInput {
      checkBatchSize(rows, spec.limits.maxBatchRows);
      return pool.lend(rows, rows * width);
    },
    prepareColumnsInto(columns: unknown, lent: LentInput, at: number): PreparedBatch {
      const record = columns as Record<string, unknown>;
      const batch = read(columns, true);
      if (!Number.isSafeInteger(at) || at < 0 || at + batch.rows > lent.rows) {
        throw new InputError('INVALID_BATCH', `rows ${at} to ${at + batch.rows} do not fit a batch of ${lent.rows} rows`, {});
      }
      // A value flagged: the checked, unpooled pass over these rows throws its error.
      if (writer.write(batch, lent.data, undefined, at)) {
        transform(batch.checked ? batch : read(columns, false), (row, field) => columnValue(record[field], row), false);
      }
      return { rows: batch.rows, raw: rawOf(batch), inputs: {} };
    },
  };
}

type ValueAt = (row: number, field: string) => unknown;

/** What writing a batch's model input needs: its width, writer, buffer pool, blocks and the input's name. */
interface MatrixContext {
  readonly width: number;
  readonly writer: MatrixWriter;
  readonly pool: InputPool;
  readonly blocks: readonly CompiledBlock[];
  readonly input: string;
}

/**
 * The batch's model input (and, unless `pooled`, its float64 feature matrix). `strict`, for a batch
 * read without checking every value: the batch read with every check, for when a kernel flags a
 * value (it then gets the error it would have had).
 */
function prepareMatrix(
  context: MatrixContext,
  batch: ColumnBatch,
  valueAt: ValueAt,
  pooled: boolean,
  strict?: () => ColumnBatch,
): PreparedBatch {
  const { width, writer, pool } = context;
  const size = batch.rows * width;
  const input = pooled ? pool.take(size) : pool.fresh(size);
  // The float64 matrix itself, unless pooled (then only the model's input is written).
  const features = pooled ? undefined : input instanceof Float32Array ? new Float64Array(size) : input;
  // Every block reports a value that is not finite as it writes it: the full scan (which names the
  // first such row and field) runs only when one did, on an unpooled matrix.
  if (writer.write(batch, input, features, 0)) {
    if (pooled) pool.giveBack(input);
    if (strict !== undefined) return prepareMatrix(context, strict(), valueAt, pooled);
    if (features === undefined) return prepareMatrix(context, batch, valueAt, false);
    checkFinite(features, width, context.blocks, valueAt);
  }
  const raw = rawOf(batch);
  const inputs = { [context.input]: { data: input, dims: [batch.rows, width] } };
  return features === undefined
    ? { rows: batch.rows, raw, inputs, release: () => pool.giveBack(input) }
    : { rows: batch.rows, features, raw, inputs };
}

/** Per field: its dictionary, the refusals of every block reading it, and whether a missing number is refused. */
function fieldPlans(
  spec: TabularSpec,
  compiled: readonly { block: FeatureBlock; refusal?: Int8Array }[],
  dictionaries: ReadonlyMap<string, Map<string, number>>,
): Map<string, FieldPlan> {
  return new Map(
    spec.fields.map((field): [string, FieldPlan] => {
      const blocks = compiled.filter((b) => b.block.field === field.name);
      const dictionary = dictionaries.get(field.name)!;
      const refusals = new Int8Array(dictionary.size + OFFSET);
      for (const { refusal } of blocks) refusal?.forEach((why, i) => (refusals[i] ||= why));
      // A missing indicator reads a null as 1: only the other blocks may refuse it.
      const refuseMissing = field.type === 'number' && blocks.some(({ block }) => !MISSING_TAKEN.has(block.steps[0]?.op ?? ''));
      const toModel = field.type === 'number' && blocks.some(({ block }) => block.steps[0]?.op === 'keep_missing');
      return [field.name, { field, dictionary, refusals, refuseMissing, toModel }];
    }),
  );
}

/** The raw fields as the app sees them: which categories are accepted, and whether a missing value is. */
function inputFields(plans: ReadonlyMap<string, FieldPlan>): InputField[] {
  return [...plans.values()].map(({ field, dictionary, refusals, refuseMissing, toModel }): InputField => {
    const missing = (field.type === 'number' ? refuseMissing : refusals[MISSING + OFFSET] !== ACCEPTED) ? 'error' : 'impute';
    if (field.type === 'number') return { name: field.name, type: 'number', missing: missing === 'impute' && toModel ? 'model' : missing };
    const categories = [...dictionary.keys()].filter((c) => refusals[dictionary.get(c)! + OFFSET] === ACCEPTED);
    return { name: field.name, type: 'category', categories, missing, acceptsUnknown: refusals[UNKNOWN + OFFSET] === ACCEPTED };
  });
}

/** Which columns of the matrix each field's blocks write. */
function fieldColumnsOf(spec: TabularSpec, blocks: readonly CompiledBlock[]): FieldColumns[] {
  const fieldColumns = spec.fields.map((field) => ({ field: field.name, columns: [] as number[] }));
  let start = 0;
  for (const block of blocks) {
    // A group's columns are listed under each of its fields.
    for (const field of block.fields ?? [block.field]) {
      const entry = fieldColumns.find((f) => f.field === field)!;
      for (let k = 0; k < block.width; k++) entry.columns.push(start + k);
    }
    start += block.width;
  }
  return fieldColumns;
}

/**
 * The model input buffer kept between batches: `prepare(..., { pooled: true })` reuses one buffer
 * instead of allocating (and the OS zero-filling) tens of MB per large batch.
 */
class InputPool {
  readonly #float32: boolean;
  /** The pooled model input, while no batch holds it. */
  #spare: Float64Array | Float32Array | undefined;

  constructor(float32: boolean) {
    this.#float32 = float32;
  }

  fresh(size: number): Float64Array | Float32Array {
    return this.#float32 ? new Float32Array(size) : new Float64Array(size);
  }

  /** A model input for `size` values: the pooled buffer when it is free and big enough, else a new one. */
  take(size: number): Float64Array | Float32Array {
    const spare = this.#spare;
    if (spare !== undefined && spare.length >= size) {
      this.#spare = undefined;
      return spare.subarray(0, size);
    }
    return this.fresh(size);
  }

  /** Keeps the larger of the returned buffer and the spare, up to MAX_POOLED_BYTES. */
  giveBack(input: Float64Array | Float32Array): void {
    const spare = this.#spare;
    if (input.buffer.byteLength <= MAX_POOLED_BYTES && (spare === undefined || spare.byteLength < input.buffer.byteLength)) {
      this.#spare = input instanceof Float32Array ? new Float32Array(input.buffer) : new Float64Array(input.buffer);
    }
  }

  /** A buffer lent for a batch written part by part; released once, whatever calls `release`. */
  lend(rows: number, size: number): LentInput {
    const data = this.take(size);
    let lent = true;
    return {
      rows,
      data,
      release: () => {
        if (lent) this.giveBack(data);
        lent = false;
      },
    };
  }
}

/** Writes a batch's model input chunk by chunk (CHUNK_ROWS rows), through the kernels of its plan. */
class MatrixWriter {
  readonly #plan: ChunkPlan;
  readonly #width: number;
  readonly #chunk: Float64Array;

  constructor(plan: ChunkPlan, width: number) {
    this.#plan = plan;
    this.#width = width;
    this.#chunk = new Float64Array(CHUNK_ROWS * width);
  }

  /** The batch's rows from row `at` of `input` (and of `features`); true if a value is not finite. */
  write(batch: ColumnBatch, input: Float64Array | Float32Array, features: Float64Array | undefined, at: number): boolean {
    const width = this.#width;
    const chunk = this.#chunk;
    let nonFinite = false;
    const bound = bindPlan(this.#plan, batch);
    for (let from = 0; from < batch.rows; from += CHUNK_ROWS) {
      const to = Math.min(batch.rows, from + CHUNK_ROWS);
      if (writeChunk(bound, chunk, width, from, to)) nonFinite = true;
      // Into a Float32Array, `set` rounds as the Float32Array constructor does: the same input as converting the whole matrix.
      const filled = to - from === CHUNK_ROWS ? chunk : chunk.subarray(0, (to - from) * width);
      input.set(filled, (at + from) * width);
      if (features !== undefined && features !== input) features.set(filled, (at + from) * width);
    }
    return nonFinite;
  }
}

function buildDictionaries(spec: TabularSpec): Map<string, Map<string, number>> {
  const dictionaries = new Map<string, Map<string, number>>();
  for (const field of spec.fields) dictionaries.set(field.name, new Map());
  // Encoder categories first, so a field's categories are listed in the model's own order.
  for (const pass of ['encoders', 'others'] as const) {
    for (const block of oneFieldBlocks(spec.features)) {
      const dictionary = dictionaries.get(block.field)!;
      const add = (level: string): void => void (dictionary.has(level) || dictionary.set(level, dictionary.size));
      for (const step of block.steps) {
        if (pass === 'encoders' && (step.op === 'one_hot' || step.op === 'ordinal')) step.categories.forEach(add);
        if (pass === 'encoders' && step.op === 'one_hot') step.infrequent?.forEach(add);
        if (pass === 'others' && step.op === 'impute' && typeof step.value === 'string') add(step.value);
        if (pass === 'others' && step.op === 'rare_label') [...step.keep, step.label].forEach(add);
      }
    }
  }
  return dictionaries;
}

type CompiledOf = { block: FeatureBlock; compiled: CompiledBlock; refusal?: Int8Array };

/** The one-field blocks, those inside groups included. */
function oneFieldBlocks(blocks: readonly AnyBlock[]): FeatureBlock[] {
  return blocks.flatMap((block) => (isGroup(block) ? oneFieldBlocks(block.inputs) : [block]));
}

/** A block (a group's inputs compiled as blocks of their own), and every one-field block in it. */
function compileAny(
  block: AnyBlock,
  spec: TabularSpec,
  dictionaries: ReadonlyMap<string, Map<string, number>>,
): { compiled: CompiledBlock; parts: CompiledOf[] } {
  if (!isGroup(block)) {
    const one = compileBlock(
      block,
      spec.fields.find((f) => f.name === block.field)!,
      dictionaries.get(block.field)!,
    );
    return { compiled: one.compiled, parts: [one] };
  }
  const inputs = block.inputs.map((input) => compileAny(input, spec, dictionaries));
  const blocks = inputs.map((input) => input.compiled);
  const innerWidth = blocks.reduce((sum, b) => sum + b.width, 0);
  const innerNames = blocks.flatMap((b) => b.names);
  const width = blockWidth(block);
  const { combine } = block;
  const names =
    combine.op === 'polynomial'
      ? combine.terms.map((term) => (term.length === 0 ? '1' : term.map((i) => innerNames[i]).join(' ')))
      : innerNames.map((name) => `${name}/${combine.norm}`);
  const outputs = Array.from({ length: width }, (_, k) => {
    const steps = block.outputs?.[k] ?? [];
    return steps.length === 0 ? undefined : compileNumeric(steps);
  });
  const fields = [...new Set(blocks.flatMap((b) => b.fields ?? [b.field]))];
  const plan = planChunks(blocks);
  const kernel: Kernel = { kind: 'group', plan, inner: new Float64Array(CHUNK_ROWS * innerWidth), innerWidth, combine, width, outputs };
  return { compiled: { field: fields[0]!, fields, width, names, kernel }, parts: inputs.flatMap((input) => input.parts) };
}

const EXTRA_NUMERIC = new Set(['log', 'sqrt', 'exp', 'expm1', 'clip', 'bins']);
/** First steps after which a missing number is no error: filled, indicated, or sent to the model as NaN. */
const MISSING_TAKEN: ReadonlySet<string> = new Set(['impute', 'missing_indicator', 'keep_missing']);

function isNumeric(step: FeatureBlock['steps'][number]): step is NumericStep {
  return step.op === 'log1p' || step.op === 'standardize' || step.op === 'min_max' || EXTRA_NUMERIC.has(step.op);
}

function compileBlock(block: FeatureBlock, field: FieldSpec, dictionary: ReadonlyMap<string, number>): CompiledOf {
  const numeric = block.steps.filter(isNumeric);
  const last = numeric[numeric.length - 1];
  // A one-hot of bins is a kernel of its own, after the numeric steps before it.
  const bins = last?.op === 'bins' && last.encode === 'one_hot' ? last : undefined;
  const before = bins === undefined ? numeric : numeric.slice(0, -1);
  const indicator = block.steps[0]?.op === 'missing_indicator';
  const applyInPlace = compileNumeric(before, indicator);
  const impute = block.steps[0]?.op === 'impute' ? block.steps[0].value : undefined;

  if (field.type === 'number') {
    // An indicator sees missing as NaN (fill NaN), which its first pass turns into 1.
    const fill = typeof impute === 'number' ? impute : Number.NaN;
    if (bins !== undefined) {
      const width = bins.edges.length + 1;
      const names = Array.from({ length: width }, (_, k) => `${field.name}=bin${k}`);
      return {
        block,
        compiled: {
          field: field.name,
          width,
          names,
          kernel: { kind: 'bins_one_hot', fill, apply: applyInPlace, edges: bins.edges, width },
        },
      };
    }
    const kernel = (indicator ? undefined : numberKernel(fill, before)) ?? { kind: 'passes', fill, apply: applyInPlace };
    const keepsMissing = block.steps[0]?.op === 'keep_missing' ? { keepsMissing: true } : {};
    return {
      block,
      compiled: { field: field.name, width: 1, names: [indicator ? `${field.name}:missing` : field.name], kernel, ...keepsMissing },
    };
  }
  const one = new Float64Array(1);
  const applyNumeric = (x: number): number => {
    one[0] = x;
    applyInPlace(one, 0, 1);
    return one[0];
  };
  if (indicator) {
    // Every code is accepted; the indicator's pass makes NaN (missing) 1 and any other value 0.
    const values = new Float64Array(dictionary.size + OFFSET).fill(applyNumeric(0));
    values[MISSING + OFFSET] = applyNumeric(Number.NaN);
    return { block, compiled: { field: field.name, width: 1, names: [`${field.name}:missing`], kernel: { kind: 'lookup', values } } };
  }
  return compileCategory(block, field, dictionary, typeof impute === 'string' ? impute : undefined, applyNumeric);
}

/** A category block: every possible code resolved once, through impute and rare_label, to the encoder's output. */
function compileCategory(
  block: FeatureBlock,
  field: FieldSpec,
  dictionary: ReadonlyMap<string, number>,
  impute: string | undefined,
  applyNumeric: (x: number) => number,
): CompiledOf {
  const rare = block.steps.find((s) => s.op === 'rare_label');
  const encoder = block.steps.find((s): s is EncoderStep => s.op === 'one_hot' || s.op === 'ordinal')!;
  // An ordinal encoder's `missing` encodes a null (no impute step comes first).
  const missingValue = encoder.op === 'ordinal' && impute === undefined ? encoder.missing : undefined;
  const levels = [...dictionary.keys()];
  const refusal = new Int8Array(dictionary.size + OFFSET);
  const resolved = new Array<string | undefined>(dictionary.size + OFFSET);
  for (let code = UNKNOWN; code < dictionary.size; code++) {
    let level = code >= 0 ? levels[code] : undefined;
    if (code === MISSING) {
      if (missingValue !== undefined) continue;
      if (impute === undefined) {
        refusal[code + OFFSET] = REFUSE_MISSING;
        continue;
      }
      level = impute;
    }
    if (rare !== undefined && (level === undefined || !rare.keep.includes(level))) level = rare.label;
    resolved[code + OFFSET] = level;
  }
  if (encoder.op === 'one_hot') return compileOneHot(block, field, encoder, resolved, refusal);

  const position = new Map(encoder.categories.map((c, i) => [c, i]));
  const valueOf = new Float64Array(dictionary.size + OFFSET).fill(Number.NaN);
  for (let i = 0; i < valueOf.length; i++) {
    if (refusal[i] !== ACCEPTED) continue;
    const index = resolved[i] === undefined ? undefined : position.get(resolved[i]!);
    if (i === MISSING + OFFSET && missingValue !== undefined) valueOf[i] = applyNumeric(missingValue);
    else if (index !== undefined) valueOf[i] = applyNumeric(index);
    else if (encoder.unknown === 'value') valueOf[i] = applyNumeric(encoder.unknownValue!);
    else refusal[i] = REFUSE_UNKNOWN;
  }
  const nanOk = Number.isNaN(encoder.unknownValue) || Number.isNaN(missingValue);
  const kernel: Kernel = { kind: 'lookup', values: valueOf };
  return { block, refusal, compiled: { field: field.name, width: 1, names: [field.name], kernel, ...(nanOk ? { nanOk } : {}) } };
}

/**
 * OneHotEncoder's columns: the categories', then one for the infrequent levels (and unknown ones, with
 * unknown "infrequent"); the dropped column is left out and those after it move left by one.
 */
function compileOneHot(
  block: FeatureBlock,
  field: FieldSpec,
  encoder: OneHotStep,
  resolved: readonly (string | undefined)[],
  refusal: Int8Array,
): CompiledOf {
  const rareColumn = encoder.categories.length;
  const position = new Map<string, number>(encoder.categories.map((c, i) => [c, i]));
  encoder.infrequent?.forEach((level) => position.set(level, rareColumn));
  const columnOf = new Int32Array(resolved.length).fill(-1);
  for (let i = 0; i < columnOf.length; i++) {
    if (refusal[i] !== ACCEPTED) continue;
    let column = resolved[i] === undefined ? undefined : position.get(resolved[i]!);
    if (column === undefined && encoder.unknown === 'infrequent') column = rareColumn;
    if (column === undefined) {
      if (encoder.unknown === 'error') refusal[i] = REFUSE_UNKNOWN;
      continue;
    }
    const drop = encoder.drop;
    columnOf[i] = drop === undefined || column < drop ? column : column === drop ? -1 : column - 1;
  }
  const all = [...encoder.categories, ...(encoder.infrequent === undefined ? [] : ['infrequent_sklearn'])];
  const names = all.filter((_, k) => k !== encoder.drop).map((c) => `${field.name}=${c}`);
  const width = names.length;
  return { block, refusal, compiled: { field: field.name, width, names, kernel: { kind: 'one_hot', width, columnOf } } };
}

/**
 * The commonest numeric blocks (standardize, log1p then standardize, min_max) as one kernel from the
 * raw column into the chunk, the same operations in the same order as the passes; undefined for any
 * other sequence of steps.
 */
function numberKernel(fill: number, steps: readonly NumericStep[]): Kernel | undefined {
  const [first, second] = steps;
  if (steps.length === 1 && first!.op === 'standardize') return { kind: 'standardize', log: false, fill, a: first!.mean, b: first!.scale };
  if (steps.length === 2 && first!.op === 'log1p' && second!.op === 'standardize')
    return { kind: 'standardize', log: true, fill, a: second!.mean, b: second!.scale };
  if (steps.length === 1 && first!.op === 'min_max' && first!.clip === undefined)
    return { kind: 'min_max', fill, a: first!.scale, b: first!.min };
  return undefined;
}

function planChunks(blocks: readonly CompiledBlock[]): ChunkPlan {
  const plan = {
    standardize: [],
    minMax: [],
    passes: [],
    lookup: [],
    oneHot: [],
    binsOneHot: [],
    groups: [],
    scratch: new Float64Array(CHUNK_ROWS),
  };
  const list: Record<Kernel['kind'], Placed<Kernel>[]> = {
    standardize: plan.standardize,
    min_max: plan.minMax,
    passes: plan.passes,
    lookup: plan.lookup,
    one_hot: plan.oneHot,
    bins_one_hot: plan.binsOneHot,
    group: plan.groups,
  };
  let column = 0;
  for (const block of blocks) {
    list[block.kernel.kind].push({ field: block.field, start: column, kernel: block.kernel });
    column += block.width;
  }
  return plan as ChunkPlan;
}

/** A batch's raw values as the transform's users read them (translations only where there are some). */
function rawOf(batch: ColumnBatch): RawColumns {
  const { numbers, categories, translations } = batch;
  return translations.size === 0 ? { numbers, categories } : { numbers, categories, translations };
}

/** The plan's kernels with the batch's columns, and category tables composed with its translations. */
function bindPlan(plan: ChunkPlan, batch: ColumnBatch): BoundPlan {
  const numbers = <K>({ field, start, kernel }: Placed<K>): Bound<Float64Array, K> => ({
    column: batch.numbers.get(field)!,
    start,
    kernel,
  });
  return {
    standardize: plan.standardize.map(numbers),
    minMax: plan.minMax.map(numbers),
    passes: plan.passes.map(numbers),
    lookup: plan.lookup.map(({ field, start, kernel }) => {
      const translation = batch.translations.get(field);
      const column = batch.categories.get(field)!;
      if (translation === undefined) return { column, start, kernel: { values: kernel.values, offset: OFFSET } };
      return { column, start, kernel: { values: Float64Array.from(translation, (code) => kernel.values[code + OFFSET]!), offset: 1 } };
    }),
    oneHot: plan.oneHot.map(({ field, start, kernel }) => {
      const translation = batch.translations.get(field);
      const column = batch.categories.get(field)!;
      const { columnOf, width } = kernel;
      if (translation === undefined) return { column, start, kernel: { columnOf, offset: OFFSET, width } };
      return { column, start, kernel: { columnOf: Int32Array.from(translation, (code) => columnOf[code + OFFSET]!), offset: 1, width } };
    }),
    binsOneHot: plan.binsOneHot.map(numbers),
    groups: plan.groups.map(({ start, kernel }) => ({ start, kernel, inner: bindPlan(kernel.plan, batch) })),
    scratch: plan.scratch,
  };
}

/**
 * Fills the row-major chunk (`stride` values per row) with rows [from, to): row `from + i`, column j
 * of a block at `i * stride + start + j`. True if a kernel flagged a value: one written that is not
 * finite (x - x is 0 only for a finite x), an infinite raw number, or a code outside its table.
 */
function writeChunk(plan: BoundPlan, chunk: Float64Array, stride: number, from: number, to: number): boolean {
  let flagged = false;
  for (const { column, start, kernel } of plan.standardize) {
    const { fill, a, b } = kernel;
    if (
      kernel.log
        ? log1pStandardize(column, chunk, start, stride, from, to, fill, a, b)
        : standardize(column, chunk, start, stride, from, to, fill, a, b)
    )
      flagged = true;
  }
  for (const { column, start, kernel } of plan.minMax) {
    if (minMax(column, chunk, start, stride, from, to, kernel.fill, kernel.a, kernel.b)) flagged = true;
  }
  for (const { column, start, kernel } of plan.passes) {
    const values = plan.scratch;
    if (fillScratch(column, values, from, to, kernel.fill)) flagged = true;
    kernel.apply(values, 0, to - from);
    for (let i = 0, o = start; i < to - from; i++, o += stride) {
      const value = values[i]!;
      chunk[o] = value;
      if (value - value !== 0) flagged = true;
    }
  }
  for (const { column, start, kernel } of plan.binsOneHot) {
    const values = plan.scratch;
    if (fillScratch(column, values, from, to, kernel.fill)) flagged = true;
    kernel.apply(values, 0, to - from);
    if (binsOneHot(values, kernel.edges, kernel.width, chunk, start, stride, to - from)) flagged = true;
  }
  for (const { start, kernel, inner } of plan.groups) {
    if (writeGroup(kernel, inner, chunk, start, stride, from, to)) flagged = true;
  }
  for (const { column, start, kernel } of plan.lookup) {
    if (lookup(column, kernel.values, kernel.offset, chunk, start, stride, from, to)) flagged = true;
  }
  for (const { column, start, kernel } of plan.oneHot) {
    if (oneHot(column, kernel.columnOf, kernel.offset, kernel.width, chunk, start, stride, from, to)) flagged = true;
  }
  return flagged;
}

/** A group's rows: its inputs into its own chunk, combined into `chunk`, then each output's passes. */
function writeGroup(
  kernel: KernelOf<'group'>,
  inner: BoundPlan,
  chunk: Float64Array,
  start: number,
  stride: number,
  from: number,
  to: number,
): boolean {
  const count = to - from;
  let flagged = writeChunk(inner, kernel.inner, kernel.innerWidth, from, to);
  combineRows(kernel.combine, kernel.inner, kernel.innerWidth, count, chunk, start, stride);
  const column = inner.scratch;
  for (let k = 0; k < kernel.width; k++) {
    const apply = kernel.outputs[k];
    if (apply !== undefined) {
      for (let i = 0, o = start + k; i < count; i++, o += stride) column[i] = chunk[o]!;
      apply(column, 0, count);
      for (let i = 0, o = start + k; i < count; i++, o += stride) chunk[o] = column[i]!;
    }
    for (let i = 0, o = start + k; i < count; i++, o += stride) {
      const value = chunk[o]!;
      if (value - value !== 0) flagged = true;
    }
  }
  return flagged;
}

/** A chunk of a raw column into `values`, missing as `fill`; true if a raw value is infinite. */
function fillScratch(column: Float64Array, values: Float64Array, from: number, to: number, fill: number): boolean {
  let flagged = false;
  for (let r = from, i = 0; r < to; r++, i++) {
    const raw = column[r]!;
    // An infinite raw value is refused even where a clip would make it finite.
    if (raw - raw !== 0 && raw === raw) flagged = true;
    values[i] = raw !== raw ? fill : raw;
  }
  return flagged;
}

/** One column per bin of each value; true (and all zeros) for a value that is not finite. */
function binsOneHot(
  values: Float64Array,
  edges: readonly number[],
  width: number,
  chunk: Float64Array,
  start: number,
  stride: number,
  count: number,
): boolean {
  let flagged = false;
  for (let i = 0, o = start; i < count; i++, o += stride) {
    for (let j = 0; j < width; j++) chunk[o + j] = 0;
    const value = values[i]!;
    if (value - value !== 0) flagged = true;
    else chunk[o + binOf(edges, value)] = 1;
  }
  return flagged;
}

function standardize(
  column: Float64Array,
  chunk: Float64Array,
  start: number,
  stride: number,
  from: number,
  to: number,
  fill: number,
  mean: number,
  scale: number,
): boolean {
  let finite = true;
  for (let r = from, o = start; r < to; r++, o += stride) {
    const raw = column[r]!;
    const value = ((raw !== raw ? fill : raw) - mean) / scale;
    chunk[o] = value;
    if (value - value !== 0) finite = false;
  }
  return !finite;
}

/** standardize with log1p first: a loop of its own, so that no other column's loop holds a call. */
function log1pStandardize(
  column: Float64Array,
  chunk: Float64Array,
  start: number,
  stride: number,
  from: number,
  to: number,
  fill: number,
  mean: number,
  scale: number,
): boolean {
  let finite = true;
  for (let r = from, o = start; r < to; r++, o += stride) {
    const raw = column[r]!;
    const value = (Math.log1p(raw !== raw ? fill : raw) - mean) / scale;
    chunk[o] = value;
    if (value - value !== 0) finite = false;
  }
  return !finite;
}

function minMax(
  column: Float64Array,
  chunk: Float64Array,
  start: number,
  stride: number,
  from: number,
  to: number,
  fill: number,
  scale: number,
  min: number,
): boolean {
  let finite = true;
  for (let r = from, o = start; r < to; r++, o += stride) {
    const raw = column[r]!;
    const value = (raw !== raw ? fill : raw) * scale + min;
    chunk[o] = value;
    if (value - value !== 0) finite = false;
  }
  return !finite;
}

function lookup(
  codes: Int32Array,
  values: Float64Array,
  offset: number,
  chunk: Float64Array,
  start: number,
  stride: number,
  from: number,
  to: number,
): boolean {
  let finite = true;
  const size = values.length;
  for (let r = from, o = start; r < to; r++, o += stride) {
    const index = codes[r]! + offset;
    // A code outside the table is NaN: flagged like a refused one.
    const value = index >= 0 && index < size ? values[index]! : Number.NaN;
    chunk[o] = value;
    if (value - value !== 0) finite = false;
  }
  return !finite;
}

function oneHot(
  codes: Int32Array,
  columnOf: Int32Array,
  offset: number,
  width: number,
  chunk: Float64Array,
  start: number,
  stride: number,
  from: number,
  to: number,
): boolean {
  let flagged = false;
  const size = columnOf.length;
  for (let r = from, o = start; r < to; r++, o += stride) {
    for (let j = 0; j < width; j++) chunk[o + j] = 0;
    const index = codes[r]! + offset;
    if (index < 0 || index >= size) flagged = true;
    else {
      const column = columnOf[index]!;
      if (column >= 0) chunk[o + column] = 1;
    }
  }
  return flagged;
}

/**
 * Numeric steps as passes over a buffer, one step at a time in the spec's order: float64, the same
 * operations in the same order as scikit-learn (each pass a tight loop, not a call per value).
 */
function compileNumeric(steps: readonly NumericStep[], indicator = false): (values: Float64Array, start: number, end: number) => void {
  const numeric = steps.map((step): ((values: Float64Array, start: number, end: number) => void) => {
    switch (step.op) {
      case 'log1p':
        return (values, start, end) => {
          for (let i = start; i < end; i++) values[i] = Math.log1p(values[i]!);
        };
      case 'standardize': {
        const { mean, scale } = step;
        return (values, start, end) => {
          for (let i = start; i < end; i++) values[i] = (values[i]! - mean) / scale;
        };
      }
      case 'min_max': {
        const { scale, min, clip } = step;
        if (clip === undefined) {
          return (values, start, end) => {
            for (let i = start; i < end; i++) values[i] = values[i]! * scale + min;
          };
        }
        const [low, high] = clip;
        return (values, start, end) => {
          for (let i = start; i < end; i++) values[i] = Math.min(Math.max(values[i]! * scale + min, low), high);
        };
      }
      default:
        return extraPass(step);
    }
  });
  // A missing indicator first: 1 where the value is missing (NaN), else 0.
  const first: ((values: Float64Array, start: number, end: number) => void)[] = indicator
    ? [
        (values, start, end) => {
          for (let i = start; i < end; i++) values[i] = values[i] !== values[i] ? 1 : 0;
        },
      ]
    : [];
  const passes = [...first, ...numeric];
  return (values, start, end) => {
    for (const pass of passes) pass(values, start, end);
  };
}

/** The passes of the ops models/README.md added for FunctionTransformer and KBinsDiscretizer. */
function extraPass(
  step: Exclude<NumericStep, { op: 'log1p' | 'standardize' | 'min_max' }>,
): (values: Float64Array, start: number, end: number) => void {
  switch (step.op) {
    case 'log':
    case 'sqrt':
    case 'exp':
    case 'expm1': {
      const f = Math[step.op];
      return (values, start, end) => {
        for (let i = start; i < end; i++) values[i] = f(values[i]!);
      };
    }
    case 'clip': {
      // np.clip is minimum(maximum(x, a_min), a_max); NaN stays NaN (Math.max/min give NaN).
      const low = step.min ?? Number.NEGATIVE_INFINITY;
      const high = step.max ?? Number.POSITIVE_INFINITY;
      return (values, start, end) => {
        for (let i = start; i < end; i++) values[i] = Math.min(Math.max(values[i]!, low), high);
      };
    }
    case 'bins': {
      const { edges } = step;
      return (values, start, end) => {
        for (let i = start; i < end; i++) values[i] = binOf(edges, values[i]!);
      };
    }
  }
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
  return { rows: n, numbers, categories, translations: new Map() };
}

/**
 * Columnar input: `{ field: Float64Array | Float32Array | Int32Array | (number | null)[] }` for
 * numbers (NaN in a typed array means missing), and for categories `(string | null)[]` or, dictionary
 * encoded, `{ codes: Int32Array, levels: string[] }` (code -1 missing, else an index into `levels`);
 * all of one length. Typed arrays are read in place, without a row object per row.
 *
 * A value refused gets the error the same value gets in a row object, and of several refusals the
 * one of the lowest row (then the first field) is thrown: the error `prepare` would throw for the
 * same rows.
 *
 * Checked, every value is validated and codes become dictionary codes. Trusted (`trust`; then
 * `checked` is false in the result), a Float64Array of a field some block reads is taken as it is,
 * and `{ codes, levels }` keeps its codes with a translation: no pass over the values. A value the
 * checks would refuse is then flagged by the kernels, and the caller reads the columns again,
 * checked, for its error. What the checks find in a column as a whole is thrown either way.
 */
function fromColumnar(
  columns: unknown,
  spec: TabularSpec,
  plans: ReadonlyMap<string, FieldPlan>,
  known: ReadonlySet<string>,
  feeding: ReadonlySet<string>,
  trust: boolean,
): ColumnBatch & { readonly checked: boolean } {
  const record = readColumnarObject(columns, known);
  const shapes = [...plans.values()].map((plan) => readShape(record[plan.field.name], plan));
  const n = shapes[0]?.length ?? 0;
  const uneven = shapes.find((shape) => shape.length !== n);
  if (uneven) {
    throw new InputError(
      'INVALID_BATCH',
      `column "${uneven.plan.field.name}" has ${uneven.length} values but "${shapes[0]!.plan.field.name}" has ${n}`,
      {
        field: uneven.plan.field.name,
      },
    );
  }
  checkBatchSize(n, spec.limits.maxBatchRows);
  const numbers = new Map<string, Float64Array>();
  const categories = new Map<string, Int32Array>();
  const translations = new Map<string, Int32Array>();
  const maxLength = spec.limits.maxStringLength;
  let first: InputError | undefined;
  let checked = true;
  for (const shape of shapes) {
    const { plan } = shape;
    const name = plan.field.name;
    try {
      if (shape.kind === 'numbers') {
        if (trust && shape.column instanceof Float64Array && feeding.has(name)) {
          numbers.set(name, shape.column);
          checked = false;
        } else numbers.set(name, numberColumn(shape.column, n, plan));
      } else if (shape.kind === 'strings') categories.set(name, stringColumn(shape.column, n, plan, maxLength));
      else {
        const table = levelTable(shape.levels, plan, maxLength);
        if (trust && !table.includes(REFUSED)) {
          categories.set(name, shape.codes);
          translations.set(name, table);
          checked = false;
        } else categories.set(name, dictionaryColumn(shape.codes, shape.levels, table, n, plan, maxLength));
      }
    } catch (error) {
      // A refusal naming no row is about the column itself: thrown at once.
      if (!(error instanceof InputError) || typeof error.details.row !== 'number') throw error;
      if (first === undefined || error.details.row < (first.details.row as number)) first = error;
    }
  }
  if (first !== undefined) {
    // Refused rows in a trusted read: the checked read finds the first one over every column.
    if (!checked) return fromColumnar(columns, spec, plans, known, feeding, false);
    throw first;
  }
  return { rows: n, numbers, categories, translations, checked };
}

type ColumnShape =
  | { readonly kind: 'numbers'; readonly plan: FieldPlan; readonly length: number; readonly column: ArrayLike<unknown> }
  | { readonly kind: 'strings'; readonly plan: FieldPlan; readonly length: number; readonly column: readonly unknown[] }
  | {
      readonly kind: 'dictionary';
      readonly plan: FieldPlan;
      readonly length: number;
      readonly codes: Int32Array;
      readonly levels: readonly unknown[];
    };

/** What kind of column a field was given, and its length; a column of the wrong kind is refused here. */
function readShape(column: unknown, plan: FieldPlan): ColumnShape {
  const name = plan.field.name;
  const typed = ArrayBuffer.isView(column) && !(column instanceof DataView);
  if (plan.field.type === 'number') {
    if (Array.isArray(column) || typed)
      return { kind: 'numbers', plan, length: (column as ArrayLike<unknown>).length, column: column as ArrayLike<unknown> };
    throw new InputError('WRONG_TYPE', `column "${name}" must be an array or a typed array, got ${describeType(column)}`, { field: name });
  }
  if (Array.isArray(column)) return { kind: 'strings', plan, length: column.length, column };
  const dictionary = typed ? undefined : readDictionary(column, name);
  if (dictionary === undefined) {
    throw new InputError(
      'WRONG_TYPE',
      `column "${name}" must be an array of strings (or null) or { codes: Int32Array, levels: string[] }, got ${describeType(column)}`,
      {
        field: name,
        expected: 'string',
      },
    );
  }
  return { kind: 'dictionary', plan, length: dictionary.codes.length, ...dictionary };
}

/** `{ codes, levels }` as own properties of a plain object; undefined when `column` is not one. */
function readDictionary(column: unknown, name: string): { codes: Int32Array; levels: readonly unknown[] } | undefined {
  if (typeof column !== 'object' || column === null || Array.isArray(column)) return undefined;
  const proto: unknown = Object.getPrototypeOf(column);
  if ((proto !== Object.prototype && proto !== null) || !Object.hasOwn(column, 'codes') || !Object.hasOwn(column, 'levels'))
    return undefined;
  const { codes, levels } = column as { codes: unknown; levels: unknown };
  if (!(codes instanceof Int32Array))
    throw new InputError('WRONG_TYPE', `column "${name}": codes must be an Int32Array, got ${describeType(codes)}`, { field: name });
  if (!Array.isArray(levels))
    throw new InputError('WRONG_TYPE', `column "${name}": levels must be an array of strings, got ${describeType(levels)}`, {
      field: name,
    });
  return { codes, levels };
}

/** A Float64Array is used as it is (it is only read from here on); other columns are copied into one. */
function numberColumn(column: ArrayLike<unknown>, n: number, plan: FieldPlan): Float64Array {
  if (column instanceof Float64Array || column instanceof Float32Array || column instanceof Int32Array) {
    const values = column instanceof Float64Array ? column : new Float64Array(column);
    for (let r = 0; r < n; r++) {
      const value = values[r]!;
      // Only NaN (missing) and the infinities fail x - x === 0: each gets what a row would get.
      if (value - value !== 0) encodeNumber(value !== value ? null : value, r, plan);
    }
    return values;
  }
  const typed = ArrayBuffer.isView(column);
  const out = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    const value = column[r];
    out[r] = encodeNumber(typed && Number.isNaN(value) ? null : value, r, plan);
  }
  return out;
}

function stringColumn(column: readonly unknown[], n: number, plan: FieldPlan, maxLength: number): Int32Array {
  const out = new Int32Array(n);
  for (let r = 0; r < n; r++) out[r] = encodeCategory(column[r], r, plan, maxLength);
  return out;
}

/** Marks a level whose rows are refused, in the table from level to code. */
const REFUSED = UNKNOWN - 1;

/**
 * A dictionary column's levels, each (and missing) through `encodeCategory` once: `table[code + 1]`
 * is the dictionary code of code (index 0: missing), or REFUSED. A level that is not a string is
 * refused here.
 */
function levelTable(levels: readonly unknown[], plan: FieldPlan, maxLength: number): Int32Array {
  const name = plan.field.name;
  const count = levels.length;
  for (let i = 0; i < count; i++) {
    const level = levels[i];
    // Missing is code -1, never a level: a null level would be a second way to say it.
    if (typeof level !== 'string') {
      throw new InputError('WRONG_TYPE', `column "${name}": level ${i} must be a string, got ${describeType(level)}`, {
        field: name,
        level: i,
        expected: 'string',
      });
    }
  }
  // table[code + 1]: the dictionary code of a level (index 0: missing), or REFUSED.
  const table = new Int32Array(count + 1);
  const resolve = (value: unknown): number => {
    try {
      return encodeCategory(value, 0, plan, maxLength);
    } catch (error) {
      if (error instanceof InputError) return REFUSED;
      throw error;
    }
  };
  table[0] = resolve(null);
  for (let i = 0; i < count; i++) table[i + 1] = resolve(levels[i]);
  return table;
}

/**
 * Dictionary codes, through the levels' table in one pass. A refused level fails at the first row
 * that has it, with the error that row would get as a row object. Every level must be a string
 * within the limit, even one no row has.
 */
function dictionaryColumn(
  codes: Int32Array,
  levels: readonly unknown[],
  table: Int32Array,
  n: number,
  plan: FieldPlan,
  maxLength: number,
): Int32Array {
  const name = plan.field.name;
  const count = levels.length;
  const out = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const code = codes[r]!;
    if (code < -1 || code >= count) {
      throw new InputError('INVALID_BATCH', `column "${name}" has code ${code}; codes run from -1 (missing) to ${count - 1}`, {
        row: r,
        field: name,
      });
    }
    const resolved = table[code + 1]!;
    // Throws what the row would get.
    out[r] = resolved === REFUSED ? encodeCategory(code === -1 ? null : levels[code], r, plan, maxLength) : resolved;
  }
  // Refused levels left are those no row has: only their length is still wrong.
  for (let i = 0; i < count; i++) {
    const level = levels[i] as string;
    if (table[i + 1] === REFUSED && level.length > maxLength) {
      throw new InputError('VALUE_TOO_LONG', `column "${name}": level ${i} is ${level.length} characters long; the limit is ${maxLength}`, {
        field: name,
        level: i,
        length: level.length,
        limit: maxLength,
      });
    }
  }
  return out;
}

/** A value of a column as a row object would have had it (for error messages): missing is null. */
function columnValue(column: unknown, row: number): unknown {
  if (Array.isArray(column)) return column[row];
  if (ArrayBuffer.isView(column) && !(column instanceof DataView)) {
    const value: unknown = (column as unknown as ArrayLike<unknown>)[row];
    return typeof value === 'number' && Number.isNaN(value) ? null : value;
  }
  const dictionary = typeof column === 'object' && column !== null ? (column as { codes?: unknown; levels?: unknown }) : undefined;
  if (dictionary?.codes instanceof Int32Array && Array.isArray(dictionary.levels)) {
    const code = dictionary.codes[row];
    return code === undefined || code === -1 ? null : (dictionary.levels as unknown[])[code];
  }
  return undefined;
}

function readColumnarObject(columns: unknown, known: ReadonlySet<string>): Record<string, unknown> {
  if (typeof columns !== 'object' || columns === null || Array.isArray(columns) || ArrayBuffer.isView(columns)) {
    throw new InputError('INVALID_BATCH', `expected columns ({ field: values }), got ${describeType(columns)}`, {});
  }
  return readRow(columns, 0, known);
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
    throw new InputError(
      'UNKNOWN_CATEGORY',
      `field "${name}" has unknown category "${preview(String(value))}"; expected one of ${expected.join(', ')}`,
      {
        row,
        field: name,
        value: preview(String(value)),
        expected,
      },
    );
  }
  return code;
}

function missingValue(row: number, field: string): InputError {
  return new InputError('MISSING_VALUE', `field "${field}" may not be null: the model has no imputation for it`, { row, field });
}

function readNumberValue(value: unknown, row: number, field: string): number {
  if (typeof value !== 'number') {
    throw new InputError('WRONG_TYPE', `field "${field}" must be a number or null, got ${describeType(value)}`, {
      row,
      field,
      expected: 'number',
    });
  }
  if (!Number.isFinite(value)) {
    throw new InputError('NOT_FINITE', `field "${field}" must be finite, got ${value} (use null for a missing value)`, { row, field });
  }
  return value;
}

function readCategoryValue(value: unknown, row: number, field: string, plan: FieldPlan, maxLength: number): number {
  if (typeof value !== 'string') {
    throw new InputError('WRONG_TYPE', `field "${field}" must be a string or null, got ${describeType(value)}`, {
      row,
      field,
      expected: 'string',
    });
  }
  if (value.length > maxLength) {
    throw new InputError('VALUE_TOO_LONG', `field "${field}" is ${value.length} characters long; the limit is ${maxLength}`, {
      row,
      field,
      length: value.length,
      limit: maxLength,
    });
  }
  return plan.dictionary.get(value) ?? UNKNOWN;
}

/** A missing raw value: null (rows), or NaN (typed columns). */
function isMissingValue(value: unknown): boolean {
  return value === null || value === undefined || (typeof value === 'number' && Number.isNaN(value));
}

/** A value the transform cannot take (log1p of -5, say) gives NaN or Infinity: refused, naming the row and field. */
function checkFinite(
  features: Float64Array,
  width: number,
  blocks: readonly CompiledBlock[],
  valueAt: (row: number, field: string) => unknown,
): void {
  for (let i = 0; i < features.length; i++) {
    const value = features[i]!;
    if (Number.isFinite(value)) continue;
    const row = Math.floor(i / width);
    let column = i % width;
    const block = blocks.find((b) => (column -= b.width) < 0)!;
    // An encoding's NaN is a value the model takes (as missing); the flag only sent it through this scan.
    if (value !== value && block.nanOk === true) continue;
    if (value !== value && block.keepsMissing === true && isMissingValue(valueAt(row, block.field))) continue;
    throw new InputError(
      'OUT_OF_DOMAIN',
      `field "${block.field}" = ${String(valueAt(row, block.field))} is outside what the feature spec can transform`,
      {
        row,
        field: block.field,
      },
    );
  }
}

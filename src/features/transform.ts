import type { InputTensor } from '../runtimes/index.js';
import { compileTabular } from './tabular.js';
import { compileTensor } from './tensor.js';
import type { FeatureSpec, TensorDtype } from './spec.js';

/** A raw input as an app sees it: what to send, and what happens to null. */
export type InputField = NumberField | CategoryField | TensorField;

export interface NumberField {
  readonly name: string;
  readonly type: 'number';
  /**
   * `impute`: null is replaced by the fitted value; `error`: null is refused; `model`: null reaches
   * the model as NaN (a model that takes missing values itself, e.g. XGBoost).
   */
  readonly missing: 'impute' | 'error' | 'model';
}

export interface CategoryField {
  readonly name: string;
  readonly type: 'category';
  /** The categories the model accepts by name. */
  readonly categories: readonly string[];
  readonly missing: 'impute' | 'error';
  /** Whether other categories are accepted too (grouped as rare, or ignored). */
  readonly acceptsUnknown: boolean;
}

export interface TensorField {
  readonly name: string;
  readonly type: 'tensor';
  readonly dtype: TensorDtype;
  readonly shape: readonly (number | string)[];
}

/** Rows validated and turned into the model's inputs. */
export interface PreparedBatch {
  readonly rows: number;
  /** Tabular specs, unless pooled: `rows x width` features in float64, before the cast to the model's dtype. */
  readonly features?: Float64Array;
  /**
   * Pooled batches: hands the model input's buffer back to the transform, for a later pooled batch
   * to reuse. Call it once, after the runtime has read the inputs (it copies them); not before.
   */
  readonly release?: () => void;
  /** Tabular specs: the validated raw values, column by column (what drift monitoring reads). */
  readonly raw?: RawColumns;
  readonly inputs: Readonly<Record<string, InputTensor>>;
}

/**
 * Raw values as validated: numbers as float64 (NaN = missing), categories as codes into the
 * field's `levels` (`MISSING_CODE` for null, `UNKNOWN_CODE` for a level no step of the spec names).
 * A field given as `{ codes, levels }` keeps the caller's codes, with a translation to the field's
 * (no pass over the rows to rewrite them): `categoryCodes` reads them as the field's.
 */
export interface RawColumns {
  readonly numbers: ReadonlyMap<string, Float64Array>;
  readonly categories: ReadonlyMap<string, Int32Array>;
  /** Per field whose codes are the caller's: the field's code of each, at its code + 1 (index 0: missing). */
  readonly translations?: ReadonlyMap<string, Int32Array>;
}

/** Every row's code into the field's `levels`: the column itself, or a translated copy. */
export function categoryCodes(raw: RawColumns, field: string): Int32Array | undefined {
  const codes = raw.categories.get(field);
  const translation = raw.translations?.get(field);
  return codes === undefined || translation === undefined ? codes : codes.map((code) => translation[code + 1]!);
}

export { MISSING_CODE, UNKNOWN_CODE } from './codes.js';

/** Where a raw field's feature columns sit in a row of the feature matrix. */
export interface FieldColumns {
  readonly field: string;
  /** Its columns, ascending (a field may feed several blocks). */
  readonly columns: readonly number[];
}

export interface FeatureTransform {
  readonly spec: FeatureSpec;
  readonly inputs: readonly InputField[];
  /** Feature columns per row (tabular; 0 for tensor specs). */
  readonly width: number;
  /** One name per feature column, e.g. `bill_length_mm` or `island=Dream`. */
  readonly names: readonly string[];
  /** Tabular: the feature columns each raw field feeds, in field order (empty for tensor specs). */
  readonly fieldColumns: readonly FieldColumns[];
  /** Tabular: per category field, its levels in code order (`RawColumns` codes index them). */
  readonly levels: ReadonlyMap<string, readonly string[]>;
  /** Validates raw rows (untrusted input) and builds the model inputs; throws `InputError` naming the row and field. */
  prepare(rows: unknown, options?: PrepareOptions): PreparedBatch;
  /** Tensor specs: an input with no batch dimension, which limits a call to one example. */
  readonly oneExampleBy?: string;
  /**
   * The same from columns: `{ field: typed array or array }`, one value per row (tabular models;
   * NaN in a numeric typed array means missing). Typed arrays are read in place.
   */
  prepareColumns(columns: unknown, options?: PrepareOptions): PreparedBatch;
  /** Tabular: a pooled model input for `rows` rows (at most the spec's batch limit), to fill with `prepareColumnsInto`. */
  lendInput?(rows: number): LentInput;
  /**
   * Tabular: validates columns as `prepareColumns` does and writes their model input into `lent`
   * from row `at`. The batch returned has the raw values and no inputs; an error names rows of
   * these columns (row 0 is row `at` of the whole).
   */
  prepareColumnsInto?(columns: unknown, lent: LentInput, at: number): PreparedBatch;
  /**
   * Tabular: the columns' rows and raw values, without computing features: what the columns are as a
   * whole is checked (kinds, lengths, levels), not every value, which `prepareColumns` still checks.
   */
  readColumns?(columns: unknown): { readonly rows: number; readonly raw: RawColumns };
}

/** A model input lent by a tabular transform, filled part by part (`prepareColumnsInto`), then scored. */
export interface LentInput {
  readonly rows: number;
  /** `rows x width`, row-major, in the model's input type. */
  readonly data: Float64Array | Float32Array;
  /** Hands the buffer back for later batches; call once the runtime has read it. */
  release(): void;
}

export interface PrepareOptions {
  /** Tensor specs: a session's state inputs, fed in place of their initial values. */
  readonly state?: Readonly<Record<string, InputTensor>>;
  /**
   * Tabular specs: write only the model input, into a buffer the transform lends (and takes back
   * through `release`), instead of a new matrix per batch. The batch then has no `features`.
   */
  readonly pooled?: boolean;
}

export function compileFeatureSpec(spec: FeatureSpec): FeatureTransform {
  return spec.kind === 'tabular' ? compileTabular(spec) : compileTensor(spec);
}

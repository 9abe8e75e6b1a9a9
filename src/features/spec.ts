import { BundleError } from '../errors/index.js';
import { readArray, readLiteral, readNumber, readRecord, readString, type Fail } from '../util/json.js';
import { isGroup, parseGroup, type AnyBlock, type GroupReader } from './groups.js';
import {
  EXTRA_OPS,
  parseExtraStep,
  parseOneHotExtras,
  readNumberOrNaN,
  readOrdinalMissing,
  type ExtraStep,
  type OneHotExtras,
} from './steps.js';

/**
 * The feature spec: a declarative, versioned description of the fitted preprocessing, written by the
 * research pipeline (see models/README.md and models/ondevice_export/) and executed by
 * `compileFeatureSpec`. Two kinds: tabular (raw fields -> a feature matrix) and tensor (named
 * tensors passed straight to the model).
 */
export type FeatureSpec = TabularSpec | TensorSpec;

interface SpecHeader {
  readonly format: 'ondevice/feature-spec';
  readonly formatVersion: 1;
  readonly name: string;
  readonly version: string;
  readonly limits: FeatureLimits;
}

export interface TabularSpec extends SpecHeader {
  readonly kind: 'tabular';
  /** The raw input fields a row must carry, in no particular order. */
  readonly fields: readonly FieldSpec[];
  /** Output blocks (one field's, or a group's), concatenated in this order into one row of model input per input row. */
  readonly features: readonly AnyBlock[];
  /** The model input the features feed, and its element type (the transform itself runs in float64). */
  readonly output: { readonly input: string; readonly dtype: FeatureDtype };
}

export interface TensorSpec extends SpecHeader {
  readonly kind: 'tensor';
  readonly tensors: readonly TensorInputSpec[];
}

export type FeatureDtype = 'float32' | 'float64';
/** Element types of a tensor input: int64 goes as a `BigInt64Array`, bool as a `Uint8Array` of 0 and 1. */
export const TENSOR_DTYPES = ['float32', 'float64', 'float16', 'int32', 'int64', 'int8', 'uint8', 'bool'] as const;
export type TensorDtype = (typeof TENSOR_DTYPES)[number];

export interface TensorInputSpec {
  readonly name: string;
  readonly dtype: TensorDtype;
  /**
   * The model input's shape: a number (fixed) or a name (dynamic, equal within a batch). The batch
   * dimension may stand anywhere (`batchAxis`); a scalar is `[]`.
   */
  readonly shape: readonly (number | string)[];
  /**
   * Where in `shape` the batch dimension stands; undefined: the input has none, and a call scores
   * one example. In the JSON: `"batch": "<dimension name>"` or `null`; by default the dimension named
   * `batch`, else the first when it is a name.
   */
  readonly batchAxis?: number;
  /** Fed by the library (one example's values, flat): the caller never sends it. */
  readonly constant?: readonly number[];
  /**
   * A state the model carries from call to call: in a session (`model.session()`) it is fed the
   * output `from` of the previous step, and `initial` (one example's values, or one value for all)
   * on the first; a plain call feeds `initial` unless the row gives it.
   */
  readonly state?: { readonly from: string; readonly initial: readonly number[] };
  /**
   * The input is an image: the caller may send pixels (`ImageData`, an `ImageBitmap`, or
   * `{ data, width, height, channels? }`) and the worker runs the publisher's preprocessing.
   */
  readonly image?: ImagePreprocessing;
}

/** The publisher's image preprocessing (src/features/image.ts), as the spec's `tensors[i].image` declares it. */
export interface ImagePreprocessing {
  /** Where the channels stand in the model input (without its batch dimension): last (NHWC) or first (NCHW). */
  readonly layout: 'NHWC' | 'NCHW';
  /** The model's channels, from the pixels' RGB(A): `RGB`, `BGR`, or `L` (ITU-R 601 luminance). */
  readonly channels: 'RGB' | 'BGR' | 'L';
  /** @defaultValue `'bilinear'` (half-pixel centres, no antialiasing) */
  readonly resize: 'bilinear' | 'nearest';
  /** Corner pixels aligned instead of half-pixel centres (TensorFlow's `align_corners=True`, as nsfwjs resizes). @defaultValue false */
  readonly alignCorners: boolean;
  /** Each 0-255 value is multiplied by it first (1/255 for 0..1). @defaultValue 1 */
  readonly scale: number;
  /** Per channel, subtracted after scaling. @defaultValue 0 */
  readonly mean: readonly number[];
  /** Per channel, divided by after the mean. @defaultValue 1 */
  readonly std: readonly number[];
}

/** The spec's `limits`, each optional in the JSON: a missing one takes its default. */
export interface FeatureLimits {
  /**
   * Longest category string accepted.
   * @defaultValue `1024` (`DEFAULT_LIMITS.maxStringLength`)
   */
  readonly maxStringLength: number;
  /**
   * Most rows in one batch.
   * @defaultValue `100000` (`DEFAULT_LIMITS.maxBatchRows`)
   */
  readonly maxBatchRows: number;
}

export type FieldType = 'number' | 'category';

export interface FieldSpec {
  readonly name: string;
  readonly type: FieldType;
}

export interface FeatureBlock {
  readonly field: string;
  readonly steps: readonly FeatureStep[];
}

export type FeatureStep = ImputeStep | RareLabelStep | OneHotStep | OrdinalStep | Log1pStep | StandardizeStep | MinMaxStep | ExtraStep;

/** Replace a missing value (null) by a fitted constant; without it, a missing value is an error. */
export interface ImputeStep {
  readonly op: 'impute';
  readonly strategy: string;
  readonly value: number | string;
}

/** Levels outside `keep` (rare in training, or never seen) become `label`. */
export interface RareLabelStep {
  readonly op: 'rare_label';
  readonly keep: readonly string[];
  readonly label: string;
}

/** One output column per category, as scikit-learn's OneHotEncoder (see OneHotExtras for drop and infrequent). */
export interface OneHotStep extends OneHotExtras {
  readonly op: 'one_hot';
  readonly categories: readonly string[];
  /** `error`: an unseen category is refused; `ignore`: it encodes as all zeros; `infrequent`: as an infrequent level. */
  readonly unknown: 'error' | 'ignore' | 'infrequent';
}

/** The category's index in `categories`, as scikit-learn's OrdinalEncoder. */
export interface OrdinalStep {
  readonly op: 'ordinal';
  readonly categories: readonly string[];
  /** `error`: an unseen category is refused; `value`: it encodes as `unknownValue`. */
  readonly unknown: 'error' | 'value';
  /** NaN (null in the JSON) for a model that takes missing values. */
  readonly unknownValue?: number;
  /** What a null encodes to (NaN from null), when no impute step comes first; without it a null is refused. */
  readonly missing?: number;
}

/** log(1 + x), as FunctionTransformer(np.log1p). */
export interface Log1pStep {
  readonly op: 'log1p';
}

/** (x - mean) / scale, as scikit-learn's StandardScaler. */
export interface StandardizeStep {
  readonly op: 'standardize';
  readonly mean: number;
  readonly scale: number;
}

/** x * scale + min, then optionally clipped, as scikit-learn's MinMaxScaler. */
export interface MinMaxStep {
  readonly op: 'min_max';
  readonly scale: number;
  readonly min: number;
  readonly clip?: readonly [number, number];
}

export type NumericStep = Log1pStep | StandardizeStep | MinMaxStep | Exclude<ExtraStep, { op: 'missing_indicator' | 'keep_missing' }>;
export type EncoderStep = OneHotStep | OrdinalStep;

/** The limits a feature spec's JSON leaves out. */
export const DEFAULT_LIMITS: FeatureLimits = { maxStringLength: 1024, maxBatchRows: 100_000 };

/**
 * The most a feature spec may ask for, whatever it says (`pack` refuses past them too): its limits,
 * how many fields, blocks and tensors it has, the levels of one encoder, the columns of the feature
 * matrix and the values of one tensor example. A bundle cannot make the worker allocate without bound.
 */
export const SPEC_CEILINGS = {
  maxBatchRows: 1_000_000,
  maxStringLength: 65_536,
  fields: 10_000,
  blocks: 10_000,
  levels: 100_000,
  width: 100_000,
  tensors: 64,
  tensorValues: 1 << 24,
} as const;

const fail: Fail = (path, why) => {
  throw new BundleError('INVALID_FEATURE_SPEC', `feature spec: ${path} ${why}`, { path });
};

const NUMERIC_OPS = new Set(['log1p', 'standardize', 'min_max', 'log', 'sqrt', 'exp', 'expm1', 'clip', 'bins']);

/** Reads a feature spec from untrusted JSON, checking every step fits its field and its place. */
export function parseFeatureSpec(json: unknown): FeatureSpec {
  const root = readRecord(json, '(root)', fail);
  readLiteral(root.format, ['ondevice/feature-spec'], 'format', fail);
  readLiteral(root.formatVersion, [1], 'formatVersion', fail);
  const limits = root.limits === undefined ? {} : readRecord(root.limits, 'limits', fail);
  const header: SpecHeader = {
    format: 'ondevice/feature-spec',
    formatVersion: 1,
    name: readString(root.name, 'name', fail),
    version: readString(root.version, 'version', fail),
    limits: {
      maxStringLength:
        limits.maxStringLength === undefined
          ? DEFAULT_LIMITS.maxStringLength
          : readCount(limits.maxStringLength, 'limits.maxStringLength', SPEC_CEILINGS.maxStringLength),
      maxBatchRows:
        limits.maxBatchRows === undefined
          ? DEFAULT_LIMITS.maxBatchRows
          : readCount(limits.maxBatchRows, 'limits.maxBatchRows', SPEC_CEILINGS.maxBatchRows),
    },
  };
  if (root.tensors !== undefined) {
    if (root.fields !== undefined || root.features !== undefined) fail('tensors', 'cannot be combined with fields and features');
    return { ...header, kind: 'tensor', tensors: parseTensors(root.tensors) };
  }

  const fieldList = readArray(root.fields, 'fields', fail);
  if (fieldList.length > SPEC_CEILINGS.fields)
    fail('fields', `has ${fieldList.length} entries; a spec has at most ${SPEC_CEILINGS.fields}`);
  const fields = fieldList.map((value, i): FieldSpec => {
    const field = readRecord(value, `fields[${i}]`, fail);
    return {
      name: readString(field.name, `fields[${i}].name`, fail),
      type: readLiteral(field.type, ['number', 'category'] as const, `fields[${i}].type`, fail),
    };
  });
  const types = new Map<string, FieldType>();
  for (const [i, field] of fields.entries()) {
    if (types.has(field.name)) fail(`fields[${i}].name`, `repeats "${field.name}"`);
    if (isForbiddenKey(field.name)) fail(`fields[${i}].name`, `may not be "${field.name}"`);
    types.set(field.name, field.type);
  }

  const features = parseBlocks(root.features, types);
  const width = features.reduce((sum, block) => sum + blockWidth(block), 0);
  if (width > SPEC_CEILINGS.width) fail('features', `make ${width} model inputs; a spec makes at most ${SPEC_CEILINGS.width}`);

  const output = readRecord(root.output, 'output', fail);
  return {
    ...header,
    kind: 'tabular',
    fields,
    features,
    output: {
      input: readString(output.input, 'output.input', fail),
      dtype: readLiteral(output.dtype, ['float32', 'float64'] as const, 'output.dtype', fail),
    },
  };
}

function parseBlocks(value: unknown, types: ReadonlyMap<string, FieldType>): AnyBlock[] {
  const blockList = readArray(value, 'features', fail);
  if (blockList.length > SPEC_CEILINGS.blocks)
    fail('features', `has ${blockList.length} blocks; a spec has at most ${SPEC_CEILINGS.blocks}`);
  let count = 0;
  const reader: GroupReader = {
    fail,
    block: (item: unknown, path: string, depth: number): AnyBlock => {
      // Blocks inside groups count toward the ceiling too.
      if (++count > SPEC_CEILINGS.blocks) fail(path, `is past ${SPEC_CEILINGS.blocks} blocks, the most a spec has`);
      const block = readRecord(item, path, fail);
      if (block.combine !== undefined || block.inputs !== undefined) return parseGroup(block, path, depth, reader);
      const field = readString(block.field, `${path}.field`, fail);
      const type = types.get(field) ?? fail(`${path}.field`, `names "${field}", which is not in fields`);
      const steps = readArray(block.steps, `${path}.steps`, fail).map((step, j) => parseStep(step, type, `${path}.steps[${j}]`));
      checkStepOrder(steps, type, path);
      return { field, steps };
    },
    numericStep: (item: unknown, path: string): NumericStep => {
      const step = parseStep(item, 'number', path);
      if (!NUMERIC_OPS.has(step.op) || (step.op === 'bins' && step.encode === 'one_hot'))
        fail(`${path}.op`, 'of a group output must be a one-column numeric op');
      return step as NumericStep;
    },
    width: blockWidth,
    maxWidth: SPEC_CEILINGS.width,
  };
  const features = blockList.map((item, i) => reader.block(item, `features[${i}]`, 0));
  if (features.length === 0) fail('features', 'must not be empty');
  return features;
}

/**
 * A block reads: [impute] then, for a category, [rare_label] and one encoder (one_hot last, or
 * ordinal followed by numeric steps); for a number, numeric steps only.
 */
function checkStepOrder(steps: readonly FeatureStep[], type: FieldType, path: string): void {
  let stage: 'start' | 'category' | 'numeric' | 'done' = type === 'number' ? 'numeric' : 'start';
  for (const [j, step] of steps.entries()) {
    const at = `${path}.steps[${j}]`;
    if (step.op === 'impute') {
      if (j !== 0) fail(at, 'impute may only be the first step');
    } else if (step.op === 'rare_label') {
      if (stage !== 'start') fail(at, 'rare_label must come before the encoder, on a category field');
      stage = 'category';
    } else if (step.op === 'keep_missing') {
      if (j !== 0 || type !== 'number') fail(at, 'keep_missing may only be the first step, of a number field');
    } else if (step.op === 'missing_indicator') {
      // Reads only whether the value is missing: a number follows, whatever the field's type.
      if (j !== 0) fail(at, 'missing_indicator may only be the first step');
      stage = 'numeric';
    } else if (step.op === 'one_hot' || step.op === 'ordinal') {
      if (stage !== 'start' && stage !== 'category') fail(at, `${step.op} applies to category fields only, once`);
      stage = step.op === 'one_hot' ? 'done' : 'numeric';
    } else if (NUMERIC_OPS.has(step.op)) {
      if (stage !== 'numeric')
        fail(at, `${step.op} needs a number: on a category field it must follow an ordinal encoder, and nothing may follow one_hot`);
      if (step.op === 'bins' && step.encode === 'one_hot') {
        // The one-hot columns of bins are computed from a number field's values only.
        if (type === 'category') fail(at, 'bins with encode one_hot applies to number fields only');
        stage = 'done';
      }
    }
  }
  if (type === 'category' && stage !== 'done' && stage !== 'numeric')
    fail(`${path}.steps`, 'of a category field must include one encoder (one_hot or ordinal)');
  const impute = steps[0];
  if (impute?.op === 'impute' && typeof impute.value !== (type === 'number' ? 'number' : 'string')) {
    fail(`${path}.steps[0].value`, `must be a ${type === 'number' ? 'number' : 'string'} for a ${type} field`);
  }
  // An imputed level the encoder refuses would turn every missing value into an error.
  const encoder = steps.find((s) => s.op === 'one_hot' || s.op === 'ordinal');
  const grouped = steps.some((s) => s.op === 'rare_label');
  if (
    impute?.op === 'impute' &&
    encoder !== undefined &&
    !grouped &&
    encoder.unknown === 'error' &&
    !encoder.categories.includes(String(impute.value)) &&
    !(encoder.op === 'one_hot' && encoder.infrequent?.includes(String(impute.value)) === true)
  ) {
    fail(`${path}.steps[0].value`, `"${impute.value}" is not one of the encoded categories`);
  }
}

function parseStep(value: unknown, type: FieldType, path: string): FeatureStep {
  const step = readRecord(value, path, fail);
  const op = readLiteral(
    step.op,
    ['impute', 'rare_label', 'one_hot', 'ordinal', 'log1p', 'standardize', 'min_max', ...EXTRA_OPS] as const,
    `${path}.op`,
    fail,
  );
  switch (op) {
    case 'missing_indicator':
    case 'keep_missing':
    case 'log':
    case 'sqrt':
    case 'exp':
    case 'expm1':
    case 'clip':
    case 'bins':
      return parseExtraStep(step, op, path, fail, SPEC_CEILINGS.levels);
    case 'impute': {
      const fill = type === 'number' ? readNumber(step.value, `${path}.value`, fail) : readString(step.value, `${path}.value`, fail);
      return { op, strategy: typeof step.strategy === 'string' ? step.strategy : 'constant', value: fill };
    }
    case 'rare_label':
      return { op, keep: readCategories(step.keep, `${path}.keep`), label: readString(step.label, `${path}.label`, fail) };
    case 'one_hot': {
      const categories = readCategories(step.categories, `${path}.categories`);
      return { op, categories, ...parseOneHotExtras(step, categories, path, fail, readCategories) };
    }
    case 'ordinal': {
      const unknown = readLiteral(step.unknown, ['error', 'value'] as const, `${path}.unknown`, fail);
      const categories = readCategories(step.categories, `${path}.categories`);
      const missing = readOrdinalMissing(step, path, fail);
      if (unknown === 'error') return { op, categories, unknown, ...missing };
      return { op, categories, unknown, unknownValue: readNumberOrNaN(step.unknownValue, `${path}.unknownValue`, fail), ...missing };
    }
    case 'log1p':
      return { op };
    case 'standardize': {
      const scale = readNumber(step.scale, `${path}.scale`, fail);
      if (scale === 0) fail(`${path}.scale`, 'must not be zero');
      return { op, mean: readNumber(step.mean, `${path}.mean`, fail), scale };
    }
    case 'min_max': {
      const parsed = { op, scale: readNumber(step.scale, `${path}.scale`, fail), min: readNumber(step.min, `${path}.min`, fail) };
      if (step.clip === undefined || step.clip === null) return parsed;
      const clip = readArray(step.clip, `${path}.clip`, fail).map((v, k) => readNumber(v, `${path}.clip[${k}]`, fail));
      if (clip.length !== 2 || clip[0]! > clip[1]!) fail(`${path}.clip`, 'must be [low, high]');
      return { ...parsed, clip: [clip[0]!, clip[1]!] };
    }
  }
}

/** The columns a block writes: one per column of a one-hot encoding (of levels or bins), one per group output, else one. */
export function blockWidth(block: AnyBlock): number {
  if (isGroup(block)) {
    const { combine } = block;
    return combine.op === 'polynomial' ? combine.terms.length : block.inputs.reduce((sum, input) => sum + blockWidth(input), 0);
  }
  const last = block.steps[block.steps.length - 1];
  if (last?.op === 'one_hot') return last.categories.length + (last.infrequent === undefined ? 0 : 1) - (last.drop === undefined ? 0 : 1);
  return last?.op === 'bins' && last.encode === 'one_hot' ? last.edges.length + 1 : 1;
}

function readCategories(value: unknown, path: string): string[] {
  const list = readArray(value, path, fail);
  if (list.length > SPEC_CEILINGS.levels) fail(path, `has ${list.length} levels; an encoder has at most ${SPEC_CEILINGS.levels}`);
  const categories = list.map((c, k) => readString(c, `${path}[${k}]`, fail));
  if (new Set(categories).size !== categories.length) fail(path, 'must not repeat');
  return categories;
}

function parseTensors(value: unknown): TensorInputSpec[] {
  const list = readArray(value, 'tensors', fail);
  if (list.length > SPEC_CEILINGS.tensors) fail('tensors', `has ${list.length} entries; a spec has at most ${SPEC_CEILINGS.tensors}`);
  const tensors = list.map((item, i) => parseTensor(item, `tensors[${i}]`));
  if (tensors.length === 0) fail('tensors', 'must not be empty');
  if (new Set(tensors.map((t) => t.name)).size !== tensors.length) fail('tensors', 'names must not repeat');
  if (tensors.every((t) => t.constant !== undefined || t.state !== undefined)) fail('tensors', 'must have an input the caller sends');
  return tensors;
}

function parseTensor(item: unknown, path: string): TensorInputSpec {
  const tensor = readRecord(item, path, fail);
  const shape = readArray(tensor.shape, `${path}.shape`, fail).map((d, k) => {
    if (typeof d === 'string' && d.length > 0) return d;
    const size = readNumber(d, `${path}.shape[${k}]`, fail);
    if (!Number.isInteger(size) || size < 1) fail(`${path}.shape[${k}]`, 'must be a positive whole number or a dimension name');
    return size;
  });
  const values = shape.reduce<number>((product, d) => (typeof d === 'number' ? product * d : product), 1);
  if (values > SPEC_CEILINGS.tensorValues)
    fail(`${path}.shape`, `makes ${values} values per example; at most ${SPEC_CEILINGS.tensorValues}`);
  const name = readString(tensor.name, `${path}.name`, fail);
  if (isForbiddenKey(name)) fail(`${path}.name`, `may not be "${name}"`);
  const dtype = readLiteral(tensor.dtype, TENSOR_DTYPES, `${path}.dtype`, fail);
  const batchAxis = readBatchAxis(tensor.batch, shape, path);
  const parsed: TensorInputSpec = { name, dtype, shape, ...(batchAxis === undefined ? {} : { batchAxis }) };
  const example = exampleValues(shape, batchAxis);
  if (tensor.constant !== undefined) {
    if (example === undefined) fail(`${path}.constant`, 'needs every dimension but the batch fixed');
    return { ...parsed, constant: readValues(tensor.constant, `${path}.constant`, dtype, example) };
  }
  if (tensor.image !== undefined) return { ...parsed, image: parseImage(tensor.image, parsed, `${path}.image`) };
  if (tensor.state === undefined) return parsed;
  const state = readRecord(tensor.state, `${path}.state`, fail);
  const from = readString(state.from, `${path}.state.from`, fail);
  if (example === undefined) fail(`${path}.state`, 'needs every dimension but the batch fixed');
  const initial = state.initial === undefined ? [0] : readValues(state.initial, `${path}.state.initial`, dtype, example);
  return { ...parsed, state: { from, initial } };
}

function readFlag(value: unknown, path: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') fail(path, 'must be true or false');
  return value as boolean;
}

function parseImage(value: unknown, tensor: TensorInputSpec, path: string): ImagePreprocessing {
  const image = readRecord(value, path, fail);
  if (tensor.dtype !== 'float32' && tensor.dtype !== 'float64') fail(`${path}`, 'needs a float32 or float64 tensor');
  const dims = tensor.shape.filter((_, k) => k !== tensor.batchAxis);
  if (dims.length !== 3 || dims.some((d) => typeof d !== 'number'))
    fail(`${tensor.name} shape`, 'of an image must be three fixed sizes besides the batch');
  const layout = image.layout === undefined ? 'NHWC' : readLiteral(image.layout, ['NHWC', 'NCHW'] as const, `${path}.layout`, fail);
  const channels = readLiteral(image.channels ?? 'RGB', ['RGB', 'BGR', 'L'] as const, `${path}.channels`, fail);
  const count = channels === 'L' ? 1 : 3;
  if (dims[layout === 'NHWC' ? 2 : 0] !== count)
    fail(`${path}.layout`, `puts ${String(dims[layout === 'NHWC' ? 2 : 0])} channels where ${channels} has ${count}`);
  const perChannel = (key: 'mean' | 'std', fallback: number): number[] => {
    if (image[key] === undefined) return new Array<number>(count).fill(fallback);
    const list = readArray(image[key], `${path}.${key}`, fail).map((v, k) => readNumber(v, `${path}.${key}[${k}]`, fail));
    if (list.length !== count) fail(`${path}.${key}`, `has ${list.length} values for ${count} channels`);
    return list;
  };
  const std = perChannel('std', 1);
  if (std.some((s) => s === 0)) fail(`${path}.std`, 'must not be 0');
  return {
    layout,
    channels,
    resize: readLiteral(image.resize ?? 'bilinear', ['bilinear', 'nearest'] as const, `${path}.resize`, fail),
    alignCorners: readFlag(image.alignCorners, `${path}.alignCorners`),
    scale: image.scale === undefined ? 1 : readNumber(image.scale, `${path}.scale`, fail),
    mean: perChannel('mean', 0),
    std,
  };
}

/** The batch dimension's index: named by `"batch"`, or `null` for none; by default "batch", else a leading name. */
function readBatchAxis(value: unknown, shape: readonly (number | string)[], path: string): number | undefined {
  if (value === null) return undefined;
  if (value === undefined) {
    const named = shape.indexOf('batch');
    if (named >= 0) return named;
    return typeof shape[0] === 'string' ? 0 : undefined;
  }
  const name = readString(value, `${path}.batch`, fail);
  const axis = shape.indexOf(name);
  if (axis < 0) fail(`${path}.batch`, `names no dimension of the shape [${shape.join(', ')}]`);
  return axis;
}

/** Values in one example (the shape without its batch dimension), or undefined when a dimension is dynamic. */
function exampleValues(shape: readonly (number | string)[], batchAxis: number | undefined): number | undefined {
  let size = 1;
  for (let k = 0; k < shape.length; k++) {
    if (k === batchAxis) continue;
    const d = shape[k]!;
    if (typeof d === 'string') return undefined;
    size *= d;
  }
  return size;
}

/** A flat list of one example's values (or a single value for all of them), each valid for the dtype. */
function readValues(value: unknown, path: string, dtype: TensorDtype, size: number): number[] {
  const list = typeof value === 'number' ? [value] : readArray(value, path, fail);
  if (list.length !== 1 && list.length !== size) fail(path, `has ${list.length} values; one example has ${size}`);
  return list.map((v, k) => {
    const n = readNumber(v, `${path}[${k}]`, fail);
    if (dtype.startsWith('float')) return n;
    if (!Number.isSafeInteger(n)) fail(`${path}[${k}]`, `must be a whole number for ${dtype}`);
    return n;
  });
}

function readCount(value: unknown, path: string, ceiling: number): number {
  const count = readNumber(value, path, fail);
  if (!Number.isInteger(count) || count < 1) fail(path, 'must be a positive whole number');
  if (count > ceiling) fail(path, `is ${count}; the library allows at most ${ceiling}`);
  return count;
}

/** Keys that would reach an object's prototype chain if copied naively. */
export function isForbiddenKey(key: string): boolean {
  return key === '__proto__' || key === 'constructor' || key === 'prototype';
}

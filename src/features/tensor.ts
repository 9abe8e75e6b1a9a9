import { InputError } from '../errors/index.js';
import type { InputTensor, TensorData } from '../runtimes/index.js';
import { describeType, readBatch } from './rows.js';
import type { TensorInputSpec, TensorSpec } from './spec.js';
import { preprocess, readPixels } from './image.js';
import { checkValues, fillTyped, typedFor } from './tensor-values.js';
import type { FeatureTransform, PrepareOptions, PreparedBatch } from './transform.js';

/**
 * Tensor inputs passed straight to the model. A row is one example: per input the caller sends,
 * the data of one example (without the batch dimension), flat when every other dimension is fixed,
 * or `{ data, dims }`. Constants are the spec's; states come from the session (or their initial
 * value). Shapes and dtypes are checked on every call; examples are stacked along each input's
 * batch dimension. An input without one takes one example per call.
 */
export function compileTensor(spec: TensorSpec): FeatureTransform {
  const sent = spec.tensors.filter((t) => t.constant === undefined);
  const required = new Set(sent.filter((t) => t.state === undefined).map((t) => t.name));
  const optional = new Set(sent.filter((t) => t.state !== undefined).map((t) => t.name));
  const constants = new Set(spec.tensors.filter((t) => t.constant !== undefined).map((t) => t.name));
  const oneExample = spec.tensors.find((t) => t.batchAxis === undefined && t.constant === undefined && t.state === undefined);
  return {
    spec,
    inputs: sent
      .filter((t) => t.state === undefined)
      .map((t) => ({ name: t.name, type: 'tensor', dtype: t.dtype, shape: exampleShape(t) })),
    width: 0,
    names: [],
    fieldColumns: [],
    levels: new Map(),
    ...(oneExample === undefined ? {} : { oneExampleBy: oneExample.name }),
    prepareColumns(): PreparedBatch {
      throw new InputError('INVALID_BATCH', 'a tensor model takes rows of tensors ({ input: data }), not columns', {});
    },
    prepare(rows: unknown, options?: PrepareOptions): PreparedBatch {
      const list = readBatch(rows, spec.limits.maxBatchRows);
      if (oneExample !== undefined && list.length > 1) {
        throw new InputError('INVALID_BATCH', `input "${oneExample.name}" has no batch dimension: send one row per call`, {
          rows: list.length,
          field: oneExample.name,
        });
      }
      // In a session (a state given, even empty) the session feeds the states: a row may not.
      const inSession = options?.state !== undefined;
      const examples = list.map((row, r) =>
        readTensorRow(
          row,
          r,
          inSession ? { required, optional: new Set(), constants, sessionFed: optional } : { required, optional, constants },
        ),
      );
      const named = new Map<string, number>();
      const inputs: Record<string, InputTensor> = {};
      for (const tensor of spec.tensors) {
        const given = options?.state?.[tensor.name];
        if (given !== undefined && tensor.state !== undefined) {
          inputs[tensor.name] = checkedState(given, tensor, list.length);
          continue;
        }
        const parts = examples.map((example, r) => exampleOf(example[tensor.name], tensor, r, named));
        inputs[tensor.name] = stack(parts, tensor, named);
      }
      return { rows: list.length, inputs };
    },
  };
}

/** The shape of one example as the caller sends it: the spec's shape without its batch dimension. */
function exampleShape(tensor: TensorInputSpec): (number | string)[] {
  return tensor.shape.filter((_, k) => k !== tensor.batchAxis);
}

interface RowKeys {
  readonly required: ReadonlySet<string>;
  readonly optional: ReadonlySet<string>;
  readonly constants: ReadonlySet<string>;
  /** States a session feeds (refused in its rows). */
  readonly sessionFed?: ReadonlySet<string>;
}

function readTensorRow(row: unknown, r: number, keys: RowKeys): Record<string, unknown> {
  if (typeof row !== 'object' || row === null || Array.isArray(row) || ArrayBuffer.isView(row)) {
    throw new InputError('INVALID_ROW', `expected an object with the model's inputs, got ${describeType(row)}`, { row: r });
  }
  const proto: unknown = Object.getPrototypeOf(row);
  if (proto !== Object.prototype && proto !== null) throw new InputError('INVALID_ROW', `expected a plain object`, { row: r });
  for (const key of Reflect.ownKeys(row)) {
    if (typeof key !== 'string') throw new InputError('INVALID_ROW', `symbol keys are not accepted`, { row: r });
    if (keys.constants.has(key)) {
      throw new InputError('CONSTANT_INPUT', `input "${key}" is a constant the bundle sets; leave it out`, { row: r, field: key });
    }
    if (!keys.required.has(key) && !keys.optional.has(key)) {
      if (keys.sessionFed?.has(key)) {
        throw new InputError('UNEXPECTED_FIELD', `input "${key}" is a state the session feeds; leave it out`, { row: r, field: key });
      }
      const field = key.length > 40 ? `${key.slice(0, 40)}…` : key;
      throw new InputError('UNEXPECTED_FIELD', `field "${field}" is not one of the model's inputs`, { row: r, field });
    }
  }
  const record = row as Record<string, unknown>;
  for (const name of keys.required) {
    if (!Object.hasOwn(record, name)) throw new InputError('MISSING_FIELD', `input "${name}" is missing`, { row: r, field: name });
  }
  return record;
}

/** One example's values for `tensor`: the row's, or the spec's constant or initial state (filled to size, made once). */
function exampleOf(value: unknown, tensor: TensorInputSpec, row: number, named: Map<string, number>): TensorData {
  if (tensor.constant === undefined && (value !== undefined || tensor.state === undefined)) return readExample(value, tensor, row, named);
  let fixed = FIXED_VALUES.get(tensor);
  if (fixed === undefined) {
    const size = exampleShape(tensor).reduce<number>((a, d) => a * (d as number), 1);
    fixed = fillTyped(tensor, tensor.constant ?? tensor.state!.initial, size);
    FIXED_VALUES.set(tensor, fixed);
  }
  return fixed;
}

/** Constants and initial states by their spec entry: read-only once made (stacking copies them). */
const FIXED_VALUES = new WeakMap<TensorInputSpec, TensorData>();

/** Examples stacked along the batch dimension (interleaved when it is not the first), or the one example. */
function stack(parts: readonly TensorData[], tensor: TensorInputSpec, named: ReadonlyMap<string, number>): InputTensor {
  const dims = tensor.shape.map((d) => (typeof d === 'number' ? d : (named.get(d) ?? 0)));
  if (tensor.batchAxis === undefined) return { data: parts[0] ?? typedFor(tensor.dtype, 0), dims };
  dims[tensor.batchAxis] = parts.length;
  // One example is its own batch: the runtime copies its inputs into its memory anyway.
  if (parts.length === 1) return { data: parts[0]!, dims };
  const inner = dims.slice(tensor.batchAxis + 1).reduce((a, b) => a * b, 1);
  const outer = dims.slice(0, tensor.batchAxis).reduce((a, b) => a * b, 1);
  const data = typedFor(tensor.dtype, outer * inner * parts.length);
  if (outer === 1) parts.forEach((part, r) => setPart(data, part, r * inner));
  else
    parts.forEach((part, r) => {
      for (let o = 0; o < outer; o++) setPart(data, part.subarray(o * inner, (o + 1) * inner), (o * parts.length + r) * inner);
    });
  return { data, dims };
}

function setPart(target: TensorData, part: TensorData, at: number): void {
  (target as { set(values: ArrayLike<unknown>, offset: number): void }).set(part as ArrayLike<unknown>, at);
}

/** A session's state for `tensor`: the dtype and shape the spec declares, for a batch of `rows`. */
function checkedState(state: InputTensor, tensor: TensorInputSpec, rows: number): InputTensor {
  const expected = tensor.shape.map((d, k) => (k === tensor.batchAxis ? rows : d));
  const fits = state.dims.length === expected.length && expected.every((d, k) => typeof d === 'string' || d === state.dims[k]);
  if (!fits || state.data.constructor !== typedFor(tensor.dtype, 0).constructor) {
    throw new InputError(
      'TENSOR_SHAPE',
      `state "${tensor.name}" is [${state.dims.join(', ')}] where the model takes [${expected.join(', ')}] (${tensor.dtype}): a session keeps the batch size it started with`,
      { field: tensor.name, expected: expected.map(String), actual: [...state.dims] },
    );
  }
  return state;
}

function readExample(value: unknown, tensor: TensorInputSpec, row: number, named: Map<string, number>): TensorData {
  const field = tensor.name;
  const pixels = tensor.image === undefined ? undefined : readPixels(value, field, row);
  if (pixels !== undefined) {
    const size = exampleShape(tensor).reduce<number>((a, d) => a * (d as number), 1);
    return preprocess(pixels, tensor, tensor.image!, tensor.dtype === 'float64' ? new Float64Array(size) : new Float32Array(size));
  }
  const expectedShape = exampleShape(tensor);
  let data: unknown = value;
  let dims: readonly number[] | undefined;
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value)) {
    const record = value as Record<string, unknown>;
    data = record.data;
    if (!Array.isArray(record.dims) || !record.dims.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
      throw shapeError(row, tensor, `"dims" must be a list of whole numbers`, []);
    }
    dims = record.dims as number[];
  } else if (expectedShape.some((d) => typeof d === 'string')) {
    throw shapeError(row, tensor, 'has dynamic dimensions: send { data, dims }', []);
  }
  dims ??= expectedShape as number[];
  checkDims(dims, tensor, row, named);
  const size = dims.reduce((a, b) => a * b, 1);
  if (!ArrayBuffer.isView(data) && !Array.isArray(data) && !(expectedShape.length === 0 && isScalar(data))) {
    throw new InputError('WRONG_TYPE', `input "${field}" must be a typed array or an array of numbers, got ${describeType(data)}`, {
      row,
      field,
      expected: tensor.dtype,
    });
  }
  const values = (isScalar(data) ? [data] : data) as ArrayLike<unknown>;
  if (values.length !== size) throw shapeError(row, tensor, `has ${values.length} values, expected ${size}`, dims);
  return checkValues(values, tensor, row);
}

function isScalar(value: unknown): value is number | bigint | boolean {
  return typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean';
}

function checkDims(dims: readonly number[], tensor: TensorInputSpec, row: number, named: Map<string, number>): void {
  const expectedShape = exampleShape(tensor);
  if (dims.length !== expectedShape.length)
    throw shapeError(row, tensor, `has ${dims.length} dimensions, expected ${expectedShape.length}`, dims);
  dims.forEach((d, k) => {
    const want = expectedShape[k]!;
    if (typeof want === 'number' && d !== want) throw shapeError(row, tensor, `dimension ${k + 1} is ${d}, expected ${want}`, dims);
    if (typeof want === 'string') {
      const seen = named.get(want);
      if (seen !== undefined && seen !== d)
        throw shapeError(row, tensor, `dimension "${want}" is ${d} here but ${seen} elsewhere in the batch`, dims);
      named.set(want, d);
    }
  });
}

function shapeError(row: number, tensor: TensorInputSpec, why: string, actual: readonly number[]): InputError {
  const expected = exampleShape(tensor);
  const whole = tensor.batchAxis === undefined ? expected : tensor.shape.map((d, k) => (k === tensor.batchAxis ? 'batch' : d));
  return new InputError(
    'TENSOR_SHAPE',
    `input "${tensor.name}" ${why} (one example is [${expected.join(', ')}]; the model takes [${whole.join(', ')}])`,
    {
      row,
      field: tensor.name,
      expected: expected.map(String),
      actual: [...actual],
    },
  );
}

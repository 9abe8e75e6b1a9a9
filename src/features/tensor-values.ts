import { InputError } from '../errors/index.js';
import type { TensorData } from '../runtimes/index.js';
import { describeType } from './rows.js';
import type { TensorDtype, TensorInputSpec } from './spec.js';

/**
 * The typed array each dtype travels in, as onnxruntime-web takes it: int64 in a `BigInt64Array`,
 * bool in a `Uint8Array` of 0 and 1, float16 as its bits in a `Uint16Array` (JavaScript's
 * `Float16Array` is not in every engine yet).
 */
const ARRAY_OF = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
} as const satisfies Record<TensorDtype, { new (length: number): TensorData; readonly name: string }>;

const INTEGER_RANGE: Partial<Record<TensorDtype, readonly [number, number]>> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  int8: [-128, 127],
  uint8: [0, 255],
  bool: [0, 1],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

export function typedFor(dtype: TensorDtype, length: number): TensorData {
  return new ARRAY_OF[dtype](length);
}

/** The spec's values (a constant, an initial state) as one example's typed array; one value fills it. */
export function fillTyped(tensor: TensorInputSpec, values: readonly number[], size: number): TensorData {
  const filled = values.length === 1 ? new Array<number>(size).fill(values[0]!) : values;
  return toTyped(filled, tensor.dtype, tensor.name, 0);
}

/**
 * One example's values checked for its dtype: a typed array of the dtype's own kind goes as it is
 * (floats checked finite); an array is checked value by value and converted.
 */
export function checkValues(values: ArrayLike<unknown>, tensor: TensorInputSpec, row: number): TensorData {
  const Expected = ARRAY_OF[tensor.dtype];
  if (ArrayBuffer.isView(values)) {
    if (!(values instanceof Expected)) {
      throw new InputError(
        'TENSOR_DTYPE',
        `input "${tensor.name}" must be a ${Expected.name} (${tensor.dtype}), got ${describeType(values)}`,
        { row, field: tensor.name, expected: tensor.dtype, actual: values.constructor.name },
      );
    }
    if (values instanceof Float32Array || values instanceof Float64Array) checkFinite(values, tensor.name, row);
    if (tensor.dtype === 'bool') checkRange(values as Uint8Array, tensor, row);
    return values as TensorData;
  }
  return toTyped(values, tensor.dtype, tensor.name, row);
}

function checkFinite(values: Float32Array | Float64Array, field: string, row: number): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    // v - v is 0 for a finite number, NaN for NaN and Infinity: one comparison per value.
    if (v - v !== 0) throw new InputError('NOT_FINITE', `input "${field}" value ${i} is ${v}`, { row, field, index: i });
  }
}

function checkRange(values: Uint8Array, tensor: TensorInputSpec, row: number): void {
  const bad = values.findIndex((v) => v > 1);
  if (bad >= 0) throw valueError(tensor.name, tensor.dtype, row, bad, values[bad]);
}

function toTyped(values: ArrayLike<unknown>, dtype: TensorDtype, field: string, row: number): TensorData {
  const out = new ARRAY_OF[dtype](values.length);
  if (dtype === 'int64') {
    for (let i = 0; i < values.length; i++) (out as BigInt64Array)[i] = toBigInt(values[i], field, row, i);
    return out;
  }
  const range = INTEGER_RANGE[dtype];
  const numbers = dtype === 'float16' ? new Float64Array(values.length) : (out as Exclude<TensorData, BigInt64Array>);
  for (let i = 0; i < values.length; i++) {
    let v = values[i];
    if (dtype === 'bool' && typeof v === 'boolean') v = v ? 1 : 0;
    if (typeof v !== 'number') throw valueError(field, dtype, row, i, v);
    if (range === undefined ? !Number.isFinite(v) : !Number.isInteger(v) || v < range[0] || v > range[1]) {
      if (range === undefined) throw new InputError('NOT_FINITE', `input "${field}" value ${i} is ${v}`, { row, field, index: i });
      throw valueError(field, dtype, row, i, v);
    }
    numbers[i] = v;
  }
  return dtype === 'float16' ? halfBits(numbers as Float64Array, field, row) : out;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** An int64 value: a bigint in range, or a number that is a safe integer (beyond 2^53 numbers are not exact). */
function toBigInt(v: unknown, field: string, row: number, index: number): bigint {
  if (typeof v === 'bigint' && v >= INT64_MIN && v <= INT64_MAX) return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  const why =
    typeof v === 'number' && Number.isInteger(v)
      ? `${v} is beyond the safe integer range (±2^53): send it as a bigint`
      : `must be a whole number or a bigint, got ${describeType(v)}`;
  throw new InputError('WRONG_TYPE', `input "${field}" value ${index} ${why}`, { row, field, index, expected: 'int64' });
}

/** Numbers as float16 bits, where the engine has `Float16Array` to round them as onnxruntime does. */
function halfBits(values: Float64Array, field: string, row: number): Uint16Array {
  const Half = (globalThis as { Float16Array?: new (values: ArrayLike<number>) => ArrayBufferView }).Float16Array;
  if (Half === undefined) {
    throw new InputError(
      'TENSOR_DTYPE',
      `input "${field}" is float16 and this engine has no Float16Array: send the half-precision bits as a Uint16Array`,
      { row, field, expected: 'float16' },
    );
  }
  const half = new Half(values);
  return new Uint16Array(half.buffer, half.byteOffset, values.length);
}

function valueError(field: string, dtype: TensorDtype, row: number, index: number, v: unknown): InputError {
  const what = dtype === 'bool' ? 'true, false, 0 or 1' : dtype.startsWith('float') ? 'a number' : `a whole number that fits ${dtype}`;
  return new InputError('WRONG_TYPE', `input "${field}" value ${index} must be ${what}, got ${describeType(v)}`, {
    row,
    field,
    index,
    expected: dtype,
  });
}

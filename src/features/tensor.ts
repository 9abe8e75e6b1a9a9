import { InputError } from '../errors/index.js';
import type { InputTensor } from '../runtimes/index.js';
import { describeType, readBatch, readRow } from './rows.js';
import type { TensorDtype, TensorInputSpec, TensorSpec } from './spec.js';
import type { FeatureTransform, PreparedBatch } from './transform.js';

type TypedData = Float32Array | Float64Array | Int32Array;

const ARRAY_OF: Record<TensorDtype, { new (length: number): TypedData; readonly name: string }> = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
};

/**
 * Tensor inputs passed straight to the model. A row is one example: per input, the data of one
 * example (without the batch dimension), flat when every other dimension is fixed, or
 * `{ data, dims }`. Shapes and dtypes are checked on every call; examples are stacked into one batch.
 */
export function compileTensor(spec: TensorSpec): FeatureTransform {
  const known = new Set(spec.tensors.map((t) => t.name));
  return {
    spec,
    inputs: spec.tensors.map((t) => ({ name: t.name, type: 'tensor', dtype: t.dtype, shape: t.shape })),
    width: 0,
    names: [],
    fieldColumns: [],
    levels: new Map(),
    prepareColumns(): PreparedBatch {
      throw new InputError('INVALID_BATCH', 'a tensor model takes rows of tensors ({ input: data }), not columns', {});
    },
    prepare(rows: unknown): PreparedBatch {
      const list = readBatch(rows, spec.limits.maxBatchRows);
      const examples = list.map((row, r) => readRow(row, r, known));
      // Named dimensions must agree across every example and input of the batch.
      const named = new Map<string, number>();
      const inputs: Record<string, InputTensor> = {};
      for (const tensor of spec.tensors) {
        const parts = examples.map((example, r) => readExample(example[tensor.name], tensor, r, named));
        const size = parts[0]?.length ?? exampleSize(tensor, named);
        const data = new ARRAY_OF[tensor.dtype](size * parts.length);
        parts.forEach((part, r) => data.set(part, r * size));
        inputs[tensor.name] = {
          data,
          dims: [parts.length, ...tensor.shape.slice(1).map((d) => (typeof d === 'number' ? d : (named.get(d) ?? 0)))],
        };
      }
      return { rows: list.length, inputs };
    },
  };
}

function readExample(value: unknown, tensor: TensorInputSpec, row: number, named: Map<string, number>): ArrayLike<number> {
  const field = tensor.name;
  const expectedShape = tensor.shape.slice(1);
  let data: unknown = value;
  let dims: readonly number[] | undefined;
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value)) {
    const record = value as Record<string, unknown>;
    data = record.data;
    if (!Array.isArray(record.dims) || !record.dims.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
      throw shapeError(row, field, `"dims" must be a list of whole numbers`, expectedShape, []);
    }
    dims = record.dims as number[];
  } else if (expectedShape.some((d) => typeof d === 'string')) {
    throw shapeError(row, field, 'has dynamic dimensions: send { data, dims }', expectedShape, []);
  }
  dims ??= expectedShape as number[];
  if (dims.length !== expectedShape.length)
    throw shapeError(row, field, `has ${dims.length} dimensions, expected ${expectedShape.length}`, expectedShape, dims);
  dims.forEach((d, k) => {
    const want = expectedShape[k]!;
    if (typeof want === 'number' && d !== want)
      throw shapeError(row, field, `dimension ${k + 1} is ${d}, expected ${want}`, expectedShape, dims!);
    if (typeof want === 'string') {
      const seen = named.get(want);
      if (seen !== undefined && seen !== d)
        throw shapeError(row, field, `dimension "${want}" is ${d} here but ${seen} elsewhere in the batch`, expectedShape, dims!);
      named.set(want, d);
    }
  });
  const size = dims.reduce((a, b) => a * b, 1);

  const Expected = ARRAY_OF[tensor.dtype];
  if (ArrayBuffer.isView(data)) {
    if (!(data instanceof Expected)) {
      throw new InputError('TENSOR_DTYPE', `input "${field}" must be a ${Expected.name} (${tensor.dtype}), got ${describeType(data)}`, {
        row,
        field,
        expected: tensor.dtype,
        actual: data.constructor.name,
      });
    }
  } else if (!Array.isArray(data)) {
    throw new InputError('WRONG_TYPE', `input "${field}" must be a ${Expected.name} or an array of numbers, got ${describeType(data)}`, {
      row,
      field,
      expected: tensor.dtype,
    });
  }
  const values = data as ArrayLike<unknown>;
  if (values.length !== size) throw shapeError(row, field, `has ${values.length} values, expected ${size}`, expectedShape, dims);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number') {
      throw new InputError('WRONG_TYPE', `input "${field}" value ${i} must be a number, got ${describeType(v)}`, {
        row,
        field,
        index: i,
        expected: tensor.dtype,
      });
    }
    if (!Number.isFinite(v)) throw new InputError('NOT_FINITE', `input "${field}" value ${i} is ${v}`, { row, field, index: i });
    if (tensor.dtype === 'int32' && (!Number.isInteger(v) || v !== (v | 0))) {
      throw new InputError('WRONG_TYPE', `input "${field}" value ${i} must be a 32-bit integer, got ${v}`, {
        row,
        field,
        index: i,
        expected: 'int32',
      });
    }
  }
  return values as ArrayLike<number>;
}

function exampleSize(tensor: TensorInputSpec, named: ReadonlyMap<string, number>): number {
  return tensor.shape.slice(1).reduce<number>((a, d) => a * (typeof d === 'number' ? d : (named.get(d) ?? 0)), 1);
}

function shapeError(
  row: number,
  field: string,
  why: string,
  expected: readonly (number | string)[],
  actual: readonly number[],
): InputError {
  return new InputError('TENSOR_SHAPE', `input "${field}" ${why} (expected shape [batch, ${expected.join(', ')}])`, {
    row,
    field,
    expected: expected.map(String),
    actual: [...actual],
  });
}

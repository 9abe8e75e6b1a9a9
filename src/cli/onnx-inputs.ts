import { describeUnknown } from '../errors/index.js';
import type { FeatureSpec } from '../features/index.js';
import { CliError } from './errors.js';
import { shown } from './files.js';

/**
 * The graph inputs of an ONNX model, read from its protobuf bytes without a dependency: the few
 * fields needed (onnx.proto: ModelProto.graph = 7; GraphProto.input = 11, .initializer = 5;
 * ValueInfoProto.name = 1, .type = 2; TypeProto.tensor_type = 1; Tensor.elem_type = 1; TensorProto.name = 8),
 * everything else skipped by its length, so a large model costs one pass over its tags, no copies.
 */
export interface OnnxGraphInputs {
  /** Each graph input, with its element type as a dtype name (`undefined`: not a tensor). */
  readonly inputs: readonly OnnxValueInfo[];
  /** Initializer names: older exporters list them as inputs too, though nothing must feed them. */
  readonly initializers: ReadonlySet<string>;
  /** The graph's output names (GraphProto.output = 12). */
  readonly outputs: readonly string[];
}

export interface OnnxValueInfo {
  readonly name: string;
  readonly dtype: string | undefined;
  /** Each dimension: a size, a name (dynamic), or undefined (unknown); undefined when the graph states no shape. */
  readonly shape?: readonly (number | string | undefined)[];
}

/** TensorProto.DataType, named as the feature spec names dtypes. */
const ELEMENT_TYPES: Readonly<Record<number, string>> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  16: 'bfloat16',
};

interface ProtoField {
  readonly number: number;
  /** Varints (wire type 0); exact up to 2^53, which covers every enum and length read here. */
  readonly varint?: number;
  /** Length-delimited fields (wire type 2), as a view on the bytes. */
  readonly bytes?: Uint8Array;
}

export function readOnnxInputs(model: Uint8Array): OnnxGraphInputs {
  const graph = [...protoFields(model)].find((f) => f.number === 7 && f.bytes !== undefined)?.bytes;
  if (graph === undefined) throw new Error('it has no graph');
  const inputs: OnnxValueInfo[] = [];
  const initializers = new Set<string>();
  const outputs: string[] = [];
  for (const field of protoFields(graph)) {
    if (field.number === 11 && field.bytes !== undefined) inputs.push(readValueInfo(field.bytes));
    if (field.number === 12 && field.bytes !== undefined) outputs.push(readValueInfo(field.bytes).name);
    if (field.number === 5 && field.bytes !== undefined) initializers.add(stringField(field.bytes, 8) ?? '');
  }
  return { inputs, initializers, outputs };
}

function readValueInfo(bytes: Uint8Array): OnnxValueInfo {
  const type = messageField(bytes, 2);
  const tensor = type === undefined ? undefined : messageField(type, 1);
  const elementType = tensor === undefined ? undefined : [...protoFields(tensor)].find((f) => f.number === 1)?.varint;
  // Tensor.shape = 2: TensorShapeProto.dim = 1, each Dimension's dim_value = 1 or dim_param = 2.
  const shape = tensor === undefined ? undefined : messageField(tensor, 2);
  return {
    name: stringField(bytes, 1) ?? '',
    dtype: elementType === undefined ? undefined : (ELEMENT_TYPES[elementType] ?? `type ${elementType}`),
    ...(shape === undefined
      ? {}
      : { shape: [...protoFields(shape)].filter((f) => f.number === 1 && f.bytes !== undefined).map((f) => readDimension(f.bytes!)) }),
  };
}

function readDimension(bytes: Uint8Array): number | string | undefined {
  for (const field of protoFields(bytes)) {
    if (field.number === 1 && field.varint !== undefined) return field.varint;
    if (field.number === 2 && field.bytes !== undefined) return new TextDecoder().decode(field.bytes);
  }
  return undefined;
}

function messageField(bytes: Uint8Array, number: number): Uint8Array | undefined {
  for (const field of protoFields(bytes)) if (field.number === number && field.bytes !== undefined) return field.bytes;
  return undefined;
}

function stringField(bytes: Uint8Array, number: number): string | undefined {
  const value = messageField(bytes, number);
  return value === undefined ? undefined : new TextDecoder().decode(value);
}

/** The fields of one protobuf message, in order; a truncated or unknown encoding throws. */
function* protoFields(bytes: Uint8Array): Generator<ProtoField> {
  let at = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (at >= bytes.length) throw new Error('it ends inside a field');
      const byte = bytes[at++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    throw new Error('it has a malformed varint');
  };
  while (at < bytes.length) {
    const tag = varint();
    const wire = tag % 8;
    const number = Math.floor(tag / 8);
    if (wire === 0) yield { number, varint: varint() };
    else if (wire === 2) {
      const length = varint();
      if (at + length > bytes.length) throw new Error('it ends inside a field');
      yield { number, bytes: bytes.subarray(at, at + length) };
      at += length;
    } else if (wire === 1 || wire === 5) at += wire === 1 ? 8 : 4;
    else throw new Error(`it has a field of wire type ${wire}, which ONNX does not use`);
  }
  if (at > bytes.length) throw new Error('it ends inside a field');
}

/** What the browser will feed the model, by input name: the dtype and the feature spec's place that sets it. */
export function specInputs(spec: FeatureSpec): { name: string; dtype: string; path: string; shape?: readonly (number | string)[] }[] {
  if (spec.kind === 'tabular') return [{ name: spec.output.input, dtype: spec.output.dtype, path: 'output.dtype' }];
  return spec.tensors.map((t, i) => ({ name: t.name, dtype: t.dtype, path: `tensors[${i}].dtype`, shape: t.shape }));
}

/** Why the spec's shape cannot feed the graph's (rank, or a fixed size that differs), or undefined. */
function shapeMismatch(
  spec: readonly (number | string)[],
  graph: readonly (number | string | undefined)[] | undefined,
): string | undefined {
  if (graph === undefined) return undefined;
  if (graph.length !== spec.length)
    return `has ${graph.length} dimensions [${graph.map((d) => d ?? '?').join(', ')}], the spec ${spec.length} [${spec.join(', ')}]`;
  const k = spec.findIndex((d, i) => typeof d === 'number' && typeof graph[i] === 'number' && graph[i] !== d);
  return k < 0 ? undefined : `has size ${String(graph[k])} in dimension ${k}, where the spec says ${String(spec[k])}`;
}

/**
 * The ONNX model's inputs against what the feature spec feeds: every input it feeds exists with the
 * same element type (onnxruntime refuses a Float64Array for a float32 input only when scoring, in
 * the browser), and every input the graph needs is fed. `MODEL_INPUT_MISMATCH` names both files.
 */
export function checkModelInputs(model: Uint8Array, file: string, spec: FeatureSpec, specFile: string): void {
  const graph = readGraph(model, file);
  const fed = specInputs(spec);
  const mismatch = (input: string, why: string, more: Record<string, string> = {}): CliError =>
    new CliError('MODEL_INPUT_MISMATCH', `${shown(file)}: ${why}`, { file: shown(file), input, ...more });
  for (const { name, dtype, path, shape } of fed) {
    const input = graph.inputs.find((i) => i.name === name);
    if (input === undefined)
      throw mismatch(
        name,
        `has no input "${name}" (${shown(specFile)} feeds it); its inputs are ${graph.inputs.map((i) => `"${i.name}"`).join(', ') || 'none'}`,
      );
    if (input.dtype !== dtype)
      throw mismatch(
        name,
        `input "${name}" is ${input.dtype ?? 'not a tensor'}, but ${shown(specFile)} (${path}) feeds it ${dtype}: export the model with a ${dtype} input, or change ${path}`,
        { path, expected: dtype, actual: input.dtype ?? 'not a tensor' },
      );
    const shapeWrong = shape === undefined ? undefined : shapeMismatch(shape, input.shape);
    if (shapeWrong !== undefined)
      throw mismatch(name, `input "${name}" ${shapeWrong} (${shown(specFile)} ${path.replace(/dtype$/, 'shape')})`, {
        path: path.replace(/dtype$/, 'shape'),
        expected: String(shape),
        actual: String(input.shape),
      });
  }
  const needed = graph.inputs.filter((i) => !graph.initializers.has(i.name) && !fed.some((f) => f.name === i.name));
  if (needed.length > 0)
    throw mismatch(
      needed[0]!.name,
      `needs input "${needed[0]!.name}", which ${shown(specFile)} does not feed (it feeds ${fed.map((f) => `"${f.name}"`).join(', ')})`,
    );
}

function readGraph(model: Uint8Array, file: string): OnnxGraphInputs {
  try {
    return readOnnxInputs(model);
  } catch (error) {
    throw new CliError('INVALID_MODEL', `${shown(file)} cannot be read as an ONNX model: ${describeUnknown(error)}`, { file: shown(file) });
  }
}

/**
 * The outputs the model card's task reads (`task.probabilities`, `task.value`) against the graph's:
 * a name that is not there is `MODEL_OUTPUT_MISSING` at pack, not a scoring failure in every browser.
 */
export function checkModelOutputs(model: Uint8Array, file: string, task: unknown, cardFile: string, spec?: FeatureSpec): void {
  const graph = readGraph(model, file);
  const record = typeof task === 'object' && task !== null ? (task as Record<string, unknown>) : {};
  const wanted = ['probabilities', 'value', 'output'].flatMap((key) =>
    typeof record[key] === 'string' ? [{ key, name: record[key] }] : [],
  );
  if (Array.isArray(record.outputs))
    record.outputs.forEach((o: unknown, i) => {
      const name = typeof o === 'object' && o !== null ? (o as Record<string, unknown>).name : undefined;
      if (typeof name === 'string') wanted.push({ key: `outputs[${i}].name`, name });
    });
  if (spec?.kind === 'tensor')
    spec.tensors.forEach((t) => t.state !== undefined && wanted.push({ key: `(feature spec) ${t.name}.state.from`, name: t.state.from }));
  for (const { key, name } of wanted) {
    if (!graph.outputs.includes(name))
      throw new CliError(
        'MODEL_OUTPUT_MISSING',
        `${shown(file)} has no output "${name}" (${shown(cardFile)} task.${key} names it); its outputs are ${graph.outputs.map((o) => `"${o}"`).join(', ') || 'none'}`,
        { file: shown(file), output: name, expected: name, actual: graph.outputs.join(', ') },
      );
  }
}

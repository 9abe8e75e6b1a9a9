import { BundleError } from '../errors/index.js';
import type { TensorData } from '../runtimes/index.js';

/**
 * A test set in the safetensors format (huggingface/safetensors: an 8-byte little-endian header
 * length, a JSON header naming each tensor's dtype, shape and byte range, then the bytes): tensor
 * rows at 4 bytes a float instead of about 20 characters of JSON. Written by
 * models/ondevice_export/safetensors.py; read here without a dependency (the format is 20 lines).
 */
export interface SafetensorsFile {
  /** The header's `__metadata__` (strings only, by the format's rule). */
  readonly metadata: Readonly<Record<string, string>>;
  readonly tensors: ReadonlyMap<string, { readonly shape: readonly number[]; readonly data: TensorData }>;
}

/** A header larger than this is refused before it is decoded. */
export const MAX_SAFETENSORS_HEADER = 1 << 20;

const DTYPES = {
  F32: [Float32Array, 4],
  F64: [Float64Array, 8],
  F16: [Uint16Array, 2],
  I32: [Int32Array, 4],
  I64: [BigInt64Array, 8],
  I8: [Int8Array, 1],
  U8: [Uint8Array, 1],
  BOOL: [Uint8Array, 1],
} as const satisfies Record<string, readonly [new (buffer: ArrayBuffer) => TensorData, number]>;

export function readSafetensors(bytes: Uint8Array, file: string): SafetensorsFile {
  const fail = (why: string): never => {
    throw new BundleError('INVALID_SET', `${file}: ${why}`, { file, path: '(safetensors)' });
  };
  if (bytes.byteLength < 8) fail('is too short for a safetensors file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = Number(view.getBigUint64(0, true));
  if (length > MAX_SAFETENSORS_HEADER || 8 + length > bytes.byteLength) fail(`has a header of ${length} bytes, past the file or the cap`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + length)));
  } catch {
    return fail('has a header that is not JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return fail('has a header that is not an object');
  const body = bytes.subarray(8 + length);
  const tensors = new Map<string, { shape: number[]; data: TensorData }>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') metadata = readMetadata(entry, fail);
    else tensors.set(name, readTensor(name, entry, body, fail));
  }
  return { metadata, tensors };
}

function readMetadata(entry: unknown, fail: (why: string) => never): Record<string, string> {
  if (typeof entry !== 'object' || entry === null) return fail('has __metadata__ that is not an object');
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(entry)) {
    if (typeof value !== 'string') fail(`has __metadata__.${key} that is not a string`);
    out[key] = value as string;
  }
  return out;
}

function readTensor(name: string, entry: unknown, body: Uint8Array, fail: (why: string) => never): { shape: number[]; data: TensorData } {
  const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  const kind = typeof dtype === 'string' ? DTYPES[dtype as keyof typeof DTYPES] : undefined;
  if (kind === undefined) return fail(`tensor "${name}" has dtype ${String(dtype)}; readable: ${Object.keys(DTYPES).join(', ')}`);
  const dims =
    Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && d >= 0)
      ? (shape as number[])
      : fail(`tensor "${name}" has a bad shape`);
  const [start, end] =
    Array.isArray(offsets) && offsets.length === 2 ? (offsets as unknown[]) : fail(`tensor "${name}" has bad data_offsets`);
  const [Array_, size] = kind;
  const count = dims.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || (start as number) < 0 || (end as number) > body.byteLength)
    fail(`tensor "${name}" lies outside the file`);
  if ((end as number) - (start as number) !== count * size)
    fail(`tensor "${name}" has ${String(end)} - ${String(start)} bytes for ${count} values of ${size}`);
  // Copied into a buffer of its own: aligned for its type, and safe to transfer. (Not `body.slice`:
  // on a Node Buffer that is a view of the whole file, whose `.buffer` is not the tensor's.)
  const copy = new Uint8Array(body.subarray(start as number, end as number)).buffer;
  return { shape: dims, data: new Array_(copy) };
}

import { InputError } from '../errors/index.js';
import { isForbiddenKey } from '../features/spec.js';
import type { ColumnarInput } from '../worker/protocol.js';

/** Deepest nesting of arrays a row's value may have (a tensor of this rank). */
export const MAX_VALUE_DEPTH = 8;

/**
 * A row as the worker will get it, checked on this thread: a fresh object with the row's own
 * enumerable string keys and their values. Refused here, as an `InputError` naming the row (and the
 * field), is what could not be sent or read: a row that is not a plain object (`INVALID_ROW`), a
 * getter or Proxy that throws (`INVALID_ROW`), a value no field takes and structured clone cannot
 * carry or would recurse into (`WRONG_TYPE`: a function, a symbol, an object, arrays nested past
 * MAX_VALUE_DEPTH, a detached buffer). One such row then fails its own call only, never the calls
 * sent with it. Values are otherwise left to the worker, which checks them against the spec.
 */
export function plainRow(row: unknown, index: number): Record<string, unknown> {
  const invalid = (why: string, field?: string): InputError =>
    new InputError('INVALID_ROW', why, field === undefined ? { row: index } : { row: index, field });
  if (typeof row !== 'object' || row === null || Array.isArray(row))
    throw invalid(`expected an object of field values, got ${describe(row)}`);
  let copy: Record<string, unknown>;
  try {
    const proto: unknown = Object.getPrototypeOf(row);
    if (proto !== Object.prototype && proto !== null) throw invalid(`expected a plain object ({ field: value }), got ${describe(row)}`);
    // One copy of the own enumerable fields (V8's fast path), each getter or Proxy trap run once.
    copy = { ...(row as Record<string, unknown>) };
  } catch (error) {
    if (error instanceof InputError) throw error;
    const field = throwingField(row);
    throw invalid(`reading ${field === undefined ? 'the row' : `field "${field}"`} threw: ${messageOf(error)}`, field);
  }
  for (const key of Object.keys(copy)) {
    // A spread defines an own "__proto__" as data; it is refused here all the same.
    if (isForbiddenKey(key)) throw new InputError('FORBIDDEN_KEY', `key "${key}" is not accepted`, { row: index, field: key });
    const value = copy[key];
    // Numbers, strings and null, nearly every value, need no closer look.
    if (typeof value === 'number' || typeof value === 'string' || value === null) continue;
    // A canvas cannot be cloned: its pixels go instead (an image input's preprocessing runs in the worker).
    const pixels = canvasPixels(value, key, index);
    if (pixels !== undefined) {
      copy[key] = pixels;
      continue;
    }
    const refused = unsendable(value);
    if (refused !== undefined) throw new InputError('WRONG_TYPE', `field "${key}" cannot take ${refused}`, { row: index, field: key });
  }
  return copy;
}

/** The first field whose reading throws (a getter, a Proxy's trap), to name it; undefined when none can be found. */
function throwingField(row: object): string | undefined {
  let keys: string[];
  try {
    keys = Object.keys(row);
  } catch {
    return undefined;
  }
  for (const key of keys) {
    try {
      void (row as Record<string, unknown>)[key];
    } catch {
      return key;
    }
  }
  return undefined;
}

/** Why a value cannot go to the worker as a field's value, or undefined when it can. */
function unsendable(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return undefined;
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
  }
  if (value === null) return undefined;
  if (ArrayBuffer.isView(value)) return isDetached(value.buffer) ? 'a typed array whose buffer was transferred (detached)' : undefined;
  if (Array.isArray(value)) return unsendableArray(value);
  if (isClonedImage(value as object)) return undefined;
  // A tensor with its dims, or pixels with their size: { data, dims } or { data, width, height, channels? }.
  const record = value as Record<string, unknown>;
  if (Object.getPrototypeOf(value) === Object.prototype && 'data' in record && ('dims' in record || 'width' in record)) {
    for (const part of Object.values(record)) {
      const refused =
        typeof part === 'object' && part !== null
          ? unsendable(part)
          : typeof part === 'function' || typeof part === 'symbol'
            ? typeof part
            : undefined;
      if (refused !== undefined) return refused;
    }
    return undefined;
  }
  return describe(value);
}

/** `ImageData` and `ImageBitmap`: structured clone carries them to the worker as they are. */
function isClonedImage(value: object): boolean {
  const { ImageData: Data, ImageBitmap: Bitmap } = globalThis as unknown as {
    ImageData?: abstract new () => object;
    ImageBitmap?: abstract new () => object;
  };
  return (Data !== undefined && value instanceof Data) || (Bitmap !== undefined && value instanceof Bitmap);
}

/** A canvas's pixels as ImageData (a 2D canvas: read here, since a canvas cannot be sent), or undefined for other values. */
function canvasPixels(value: unknown, field: string, row: number): ImageData | undefined {
  const { OffscreenCanvas: Offscreen, HTMLCanvasElement: Element } = globalThis as unknown as {
    OffscreenCanvas?: abstract new () => OffscreenCanvas;
    HTMLCanvasElement?: abstract new () => HTMLCanvasElement;
  };
  const canvas =
    (Offscreen !== undefined && value instanceof Offscreen) || (Element !== undefined && value instanceof Element)
      ? (value as OffscreenCanvas)
      : undefined;
  if (canvas === undefined) return undefined;
  const context = canvas.getContext('2d') as OffscreenCanvasRenderingContext2D | null;
  if (context === null)
    throw new InputError('WRONG_TYPE', `field "${field}": a canvas without a 2D context cannot be read here; send an ImageBitmap of it`, {
      row,
      field,
    });
  return context.getImageData(0, 0, canvas.width, canvas.height);
}

/** An array of numbers (or of arrays, for a tensor), walked without recursion. */
function unsendableArray(root: readonly unknown[]): string | undefined {
  const stack: { array: readonly unknown[]; depth: number }[] = [{ array: root, depth: 1 }];
  while (stack.length > 0) {
    const { array, depth } = stack.pop()!;
    if (depth > MAX_VALUE_DEPTH) return `arrays nested more than ${MAX_VALUE_DEPTH} deep`;
    for (const item of array) {
      if (Array.isArray(item)) stack.push({ array: item, depth: depth + 1 });
      else if (typeof item === 'object' && item !== null) return `an array holding ${describe(item)}`;
      else if (typeof item === 'function' || typeof item === 'symbol') return `an array holding a ${typeof item}`;
    }
  }
  return undefined;
}

/**
 * Columns checked before they are sent: an object of columns, each an array or a typed array whose
 * buffer is still attached. Refused with `INVALID_BATCH` (naming the column) instead of a
 * `TypeError` or `DataCloneError` from the transfer.
 */
export function checkColumnsSendable(columns: unknown): asserts columns is ColumnarInput {
  if (typeof columns !== 'object' || columns === null || Array.isArray(columns)) {
    throw new InputError('INVALID_BATCH', `expected columns ({ field: values }), got ${describe(columns)}`, {});
  }
  for (const [field, column] of Object.entries(columns)) {
    const values: unknown = isDictionary(column) ? column.codes : column;
    if (ArrayBuffer.isView(values) && isDetached(values.buffer)) {
      throw new InputError(
        'INVALID_BATCH',
        `column "${field}" is a typed array whose buffer was transferred (detached): pass a fresh array`,
        { field },
      );
    }
  }
}

function isDictionary(column: unknown): column is { codes: unknown } {
  return typeof column === 'object' && column !== null && !ArrayBuffer.isView(column) && !Array.isArray(column) && 'codes' in column;
}

/** Whether a buffer was transferred away: `detached` where the engine has it, else a zero-length buffer that once had bytes cannot be told, and is let through. */
/**
 * What a failed send of `columns` becomes: `INVALID_BATCH` naming the first column that cannot be
 * structured-cloned (a function, a Symbol, an object with methods in it), when the send failed on
 * cloning; any other error as it is. Looked for only after a failure: a walk over every value up
 * front would cost every large batch.
 */
export function unsendableColumns(columns: ColumnarInput, error: unknown): unknown {
  if (!(typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'DataCloneError')) return error;
  for (const [field, column] of Object.entries(columns)) {
    try {
      structuredClone(column);
    } catch (cloneError) {
      const why = cloneError instanceof Error ? cloneError.message : String(cloneError);
      return new InputError('INVALID_BATCH', `column "${field}" cannot be sent to the worker: ${why}`, { field });
    }
  }
  return new InputError('INVALID_BATCH', `the columns cannot be sent to the worker: ${(error as { message?: unknown }).message}`, {});
}

function isDetached(buffer: ArrayBufferLike): boolean {
  const detached = (buffer as { detached?: boolean }).detached;
  if (detached !== undefined) return detached;
  // Engines before ArrayBuffer.prototype.detached (Node 20, Safari before 17.4): a view on a detached buffer cannot be made.
  if (buffer.byteLength > 0) return false;
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  try {
    if (Array.isArray(value)) return 'an array';
    const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
    return typeof name === 'string' && name !== 'Object' ? `a ${name}` : 'an object';
  } catch {
    // A Proxy whose traps throw.
    return 'an object';
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

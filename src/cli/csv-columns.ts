import type { InputField } from '../features/index.js';
import type { ColumnarInput, DictionaryColumn } from '../worker/protocol.js';
import { cellText, type CsvCells } from './csv.js';

const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const PLUS = 0x2b;
const MINUS = 0x2d;
const DOT = 0x2e;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const SPACE = 0x20;
const TAB = 0x09;
/** Numbers of up to this many digits are read digit by digit: exactly what `Number` gives (below 2^53). */
const EXACT_DIGITS = 15;

/** Where the model's fields are among a file's columns. */
export interface FieldColumn {
  readonly field: InputField;
  readonly index: number;
}

/**
 * A batch's cells laid out as the model's columns: numbers into a Float64Array (a missing-value
 * marker as NaN), categories dictionary-encoded. A number cell that is not a plain number (text,
 * `Inf`) marks the batch `irregular`: it is then sent as row objects, where it gets the error (or
 * the value) it always got.
 */
export class ColumnBuilder {
  readonly #fields: readonly FieldColumn[];
  readonly #na: ReadonlySet<string>;
  /** Per field: its column in the file, and whether it is a number (1) or a category (0). */
  readonly #indexes: Int32Array;
  readonly #isNumber: Uint8Array;
  readonly #numbers: Float64Array[];
  readonly #codes: Int32Array[];
  readonly #levels: Interner[];
  /** A missing-value marker that reads as a number (`--na 0`): every number cell is then read as text first. */
  readonly #numericMarkers: boolean;
  rows = 0;
  irregular = false;

  constructor(fields: readonly FieldColumn[], na: ReadonlySet<string>, capacity: number) {
    this.#fields = fields;
    this.#na = na;
    this.#indexes = Int32Array.from(fields, ({ index }) => index);
    this.#isNumber = Uint8Array.from(fields, ({ field }) => (field.type === 'number' ? 1 : 0));
    this.#numbers = fields.map(({ field }) => new Float64Array(field.type === 'number' ? capacity : 0));
    this.#codes = fields.map(({ field }) => new Int32Array(field.type === 'number' ? 0 : capacity));
    this.#levels = fields.map(() => new Interner(na));
    this.#numericMarkers = [...na].some((marker) => isPlainNumber(Buffer.from(marker), 0, Buffer.byteLength(marker)));
  }

  /** The record whose first cell is `first`. */
  add(bytes: Buffer, cells: CsvCells, first: number): void {
    const r = this.rows++;
    for (let slot = 0; slot < this.#indexes.length; slot++) {
      const cell = first + this.#indexes[slot]!;
      if (this.#isNumber[slot] === 1) this.#numbers[slot]![r] = this.#number(bytes, cells, cell);
      else this.#codes[slot]![r] = this.#levels[slot]!.code(bytes, cells, cell);
    }
  }

  /** The columns of the rows added (copies: the builder starts afresh after). */
  take(): ColumnarInput {
    const columns: Record<string, Float64Array | DictionaryColumn> = {};
    this.#fields.forEach(({ field }, slot) => {
      columns[field.name] =
        field.type === 'number'
          ? this.#numbers[slot]!.slice(0, this.rows)
          : { codes: this.#codes[slot]!.slice(0, this.rows), levels: this.#levels[slot]!.take() };
    });
    this.rows = 0;
    this.irregular = false;
    return columns;
  }

  #number(bytes: Buffer, cells: CsvCells, cell: number): number {
    const start = cells.starts[cell]!;
    const end = cells.ends[cell]!;
    if (cells.quoted[cell] === 0 && !this.#numericMarkers) {
      const exact = shortDecimal(bytes, start, end);
      if (exact !== undefined) return exact;
      if (isPlainNumber(bytes, start, end)) return Number(bytes.toString('latin1', start, end));
    }
    const text = cellText(bytes, cells, cell);
    if (this.#na.has(text) || this.#na.has(text.trim())) return Number.NaN;
    // Text, an infinity, a number in quotes: the row-object path reads it as it always did.
    this.irregular = true;
    return Number.NaN;
  }
}

/**
 * A category column's levels, looked up by the cell's bytes (no string is made for a level seen
 * before) in an open-addressing table: codes into the batch's levels, -1 for a missing-value marker.
 * Written here because a Map keyed by a 32-bit hash boxes half its keys (V8's small integers are
 * 31-bit), and that was most of the time spent reading categories.
 */
class Interner {
  readonly #na: ReadonlySet<string>;
  /** Slot -> entry + 1 (0: empty); the table is kept at most half full. */
  #slots = new Int32Array(64);
  #entries: { bytes: Buffer; quoted: number; code: number }[] = [];
  #levels: string[] = [];

  constructor(na: ReadonlySet<string>) {
    this.#na = na;
  }

  code(bytes: Buffer, cells: CsvCells, cell: number): number {
    const start = cells.starts[cell]!;
    const end = cells.ends[cell]!;
    // A quoted cell may hold an escaped quote: read as text, looked up by its bytes as written.
    const quoted = cells.quoted[cell]!;
    const mask = this.#slots.length - 1;
    let slot = (fnv1a(bytes, start, end) ^ quoted) & mask;
    for (let entry = this.#slots[slot]!; entry !== 0; entry = this.#slots[slot]!) {
      const known = this.#entries[entry - 1]!;
      if (known.quoted === quoted && sameBytes(known.bytes, bytes, start, end)) return known.code;
      slot = (slot + 1) & mask;
    }
    const text = cellText(bytes, cells, cell);
    const code = this.#na.has(text) ? -1 : this.#levels.push(text) - 1;
    this.#entries.push({ bytes: Buffer.from(bytes.subarray(start, end)), quoted, code });
    this.#slots[slot] = this.#entries.length;
    if (this.#entries.length * 2 > this.#slots.length) this.#grow();
    return code;
  }

  /** The levels coded so far; the interner starts afresh (a batch's codes index its own levels). */
  take(): string[] {
    const levels = this.#levels;
    this.#levels = [];
    this.#entries = [];
    this.#slots.fill(0);
    return levels;
  }

  #grow(): void {
    const slots = new Int32Array(this.#slots.length * 2);
    const mask = slots.length - 1;
    this.#entries.forEach((entry, i) => {
      let slot = (fnv1a(entry.bytes, 0, entry.bytes.length) ^ entry.quoted) & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = i + 1;
    });
    this.#slots = slots;
  }
}

function fnv1a(bytes: Buffer, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  return hash;
}

function sameBytes(kept: Buffer, bytes: Buffer, start: number, end: number): boolean {
  if (kept.length !== end - start) return false;
  for (let i = 0; i < kept.length; i++) if (kept[i] !== bytes[start + i]) return false;
  return true;
}

/** Exact powers of ten as doubles (10^22 is the last one a double holds exactly). */
const POWERS_OF_TEN = Float64Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * `[+-]digits[.digits]` with at most 15 digits in all, read exactly as `Number` reads it: the digits
 * as an integer (exact below 2^53) divided by an exact power of ten, one correctly rounded
 * division. Undefined for anything else (the caller then asks `Number`).
 */
function shortDecimal(bytes: Buffer, start: number, end: number): number | undefined {
  let i = start;
  const negative = bytes[i] === MINUS;
  if (negative || bytes[i] === PLUS) i++;
  let value = 0;
  let digits = 0;
  let decimals = -1;
  for (; i < end; i++) {
    const byte = bytes[i]!;
    if (byte === DOT && decimals < 0) decimals = 0;
    else if (byte >= DIGIT_0 && byte <= DIGIT_9) {
      value = value * 10 + (byte - DIGIT_0);
      digits++;
      if (decimals >= 0) decimals++;
    } else return undefined;
  }
  if (digits === 0 || digits > EXACT_DIGITS) return undefined;
  const magnitude = decimals > 0 ? value / POWERS_OF_TEN[decimals]! : value;
  // -0 is what Number('-0') gives.
  return negative ? -magnitude : magnitude;
}

/**
 * Whether bytes [start, end) are a plain decimal number (`[+-]digits[.digits][e[+-]digits]`, spaces
 * around allowed), which `Number` reads exactly as the row path reads it. Anything else (empty, a
 * marker, hex, `Infinity`) takes the slow path.
 */
export function isPlainNumber(bytes: Buffer, start: number, end: number): boolean {
  let i = start;
  while (i < end && (bytes[i] === SPACE || bytes[i] === TAB)) i++;
  let last = end;
  while (last > i && (bytes[last - 1] === SPACE || bytes[last - 1] === TAB)) last--;
  if (i < last && (bytes[i] === PLUS || bytes[i] === MINUS)) i++;
  let digits = 0;
  while (i < last && bytes[i]! >= DIGIT_0 && bytes[i]! <= DIGIT_9) (i++, digits++);
  if (i < last && bytes[i] === DOT) {
    i++;
    while (i < last && bytes[i]! >= DIGIT_0 && bytes[i]! <= DIGIT_9) (i++, digits++);
  }
  if (digits === 0) return false;
  if (i < last && (bytes[i] === LOWER_E || bytes[i] === UPPER_E)) {
    i++;
    if (i < last && (bytes[i] === PLUS || bytes[i] === MINUS)) i++;
    let exponent = 0;
    while (i < last && bytes[i]! >= DIGIT_0 && bytes[i]! <= DIGIT_9) (i++, exponent++);
    if (exponent === 0) return false;
  }
  return i === last;
}

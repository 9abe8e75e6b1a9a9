import { parseJsonBytes } from '../bundle/index.js';
import { BundleError } from '../errors/index.js';
import { shown } from './files.js';

/**
 * A build folder's JSON file read as the browser's loader reads it (`parseJsonBytes`: valid JSON,
 * nested at most MAX_JSON_DEPTH deep), and with no NaN or Infinity anywhere: Python's json writes
 * bare `NaN` / `Infinity` tokens, which JSON refuses, and a literal like 1e999 parses as Infinity.
 * Refused with `INVALID_JSON` naming the file (`details.file`) and, when found, the place (`details.path`).
 */
export function readSourceJson(bytes: Uint8Array, file: string): unknown {
  let json: unknown;
  try {
    json = parseJsonBytes(bytes, shown(file));
  } catch (error) {
    // Not JSON: say where a Python token is, since that is the usual cause; else the parser's own words.
    const found =
      error instanceof BundleError && error.details.limit === undefined ? findBareToken(new TextDecoder().decode(bytes)) : undefined;
    if (found !== undefined) throw nonFinite(file, found.path, found.token);
    // Its message already starts with the file (the name it was given): only the details gain it.
    if (error instanceof BundleError) throw new BundleError(error.code, error.message, { ...error.details, file: shown(file) });
    throw error;
  }
  const path = findNonFinite(json, '(root)');
  if (path !== undefined)
    throw refused(file, path, 'is a number too large for a double (it reads as Infinity); write a finite number or null');
  return json;
}

/** Runs a loader parser on a file of the build folder; its refusal is rethrown naming the file. */
export function inSourceFile<T>(file: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    throw inFile(file, error);
  }
}

/** The library's own code, with the file in the message and details; other errors as they are. */
function inFile(file: string, error: unknown): unknown {
  if (!(error instanceof BundleError) || error.details.file !== undefined) return error;
  return new BundleError(error.code, `${shown(file)}: ${error.message}`, { ...error.details, file: shown(file) });
}

function nonFinite(file: string, path: string, token: string): BundleError {
  return refused(
    file,
    path,
    token === 'NaN'
      ? `is NaN (Python's json writes NaN for a float nan; write null for a missing value)`
      : `is ${token} (Python's json writes it for a float inf, and JSON has no infinity; write null, or a finite number)`,
  );
}

function refused(file: string, path: string, why: string): BundleError {
  return new BundleError('INVALID_JSON', `${shown(file)}: ${path} ${why}`, { file: shown(file), path, url: shown(file) });
}

/** The first number that is not finite (a literal too large for a double), as a path like `rows[3].x`. */
function findNonFinite(value: unknown, path: string): string | undefined {
  // parseJsonBytes has bounded the depth, so recursion is safe here.
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : path;
  if (typeof value !== 'object' || value === null) return undefined;
  const entries: [string, unknown][] = Array.isArray(value)
    ? value.map((item, i) => [`${path === '(root)' ? '' : path}[${i}]`, item])
    : Object.entries(value).map(([key, item]) => [joinKey(path, key), item]);
  for (const [at, item] of entries) {
    const found = findNonFinite(item, at);
    if (found !== undefined) return found;
  }
  return undefined;
}

function joinKey(path: string, key: string): string {
  const step = /^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key);
  if (path === '(root)') return step.startsWith('"') ? `[${step}]` : step;
  return step.startsWith('"') ? `${path}[${step}]` : `${path}.${step}`;
}

/** One level of the text being scanned: an object (with the key last read) or an array (with its index). */
interface Level {
  readonly kind: 'object' | 'array';
  key: string;
  index: number;
  /** Object levels: the next string is a key. */
  expectKey: boolean;
}

/**
 * Scans JSON text that JSON.parse refused for the first bare `NaN`, `Infinity` or `-Infinity` in a
 * value's place, and the path to it. Tolerant: it only tracks where it is, it does not validate.
 */
export function findBareToken(text: string): { token: string; path: string } | undefined {
  const levels: Level[] = [];
  let at = 0;
  while (at < text.length) {
    const char = text[at]!;
    const top = levels[levels.length - 1];
    if (char === '"') {
      const end = stringEnd(text, at);
      if (top?.kind === 'object' && top.expectKey) {
        top.key = decodeKey(text.slice(at, end));
        top.expectKey = false;
      }
      at = end;
    } else if (char === '{' || char === '[') {
      levels.push({ kind: char === '{' ? 'object' : 'array', key: '', index: 0, expectKey: true });
      at++;
    } else if (char === '}' || char === ']') {
      levels.pop();
      at++;
    } else if (char === ',') {
      if (top?.kind === 'array') top.index++;
      else if (top !== undefined) top.expectKey = true;
      at++;
    } else if (/[-\w.+]/.test(char)) {
      const token = /^[-\w.+]+/.exec(text.slice(at, at + 64))![0];
      if (/^(NaN|-?Infinity)$/.test(token)) return { token, path: pathOf(levels) };
      at += token.length;
    } else at++;
  }
  return undefined;
}

/** Where a string starting at `start` (its opening quote) ends, past its closing quote. */
function stringEnd(text: string, start: number): number {
  let at = start + 1;
  while (at < text.length && text[at] !== '"') at += text[at] === '\\' ? 2 : 1;
  return at + 1;
}

function decodeKey(literal: string): string {
  try {
    return String(JSON.parse(literal));
  } catch {
    return literal.slice(1, -1);
  }
}

function pathOf(levels: readonly Level[]): string {
  let path = '(root)';
  for (const level of levels) path = level.kind === 'array' ? `${path === '(root)' ? '' : path}[${level.index}]` : joinKey(path, level.key);
  return path;
}

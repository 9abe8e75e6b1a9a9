/** Small readers for untrusted JSON: each returns the typed value or throws via `fail(path, why)`. */

export type Fail = (path: string, why: string) => never;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function readRecord(value: unknown, path: string, fail: Fail): Record<string, unknown> {
  if (!isRecord(value)) fail(path, 'must be an object');
  return value;
}

export function readString(value: unknown, path: string, fail: Fail): string {
  if (typeof value !== 'string' || value.length === 0) fail(path, 'must be a non-empty string');
  return value;
}

export function readNumber(value: unknown, path: string, fail: Fail): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(path, 'must be a finite number');
  return value;
}

export function readArray(value: unknown, path: string, fail: Fail): unknown[] {
  if (!Array.isArray(value)) fail(path, 'must be an array');
  return value;
}

export function readLiteral<T extends string | number>(value: unknown, allowed: readonly T[], path: string, fail: Fail): T {
  if (!allowed.includes(value as T)) fail(path, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
  return value as T;
}

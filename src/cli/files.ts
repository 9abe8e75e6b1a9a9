import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';
import { BundleError, describeUnknown } from '../errors/index.js';

/** A path as a person wants to read it: relative to the working folder when inside it. */
export function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

export async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** The file's bytes, or a `FETCH_FAILED` naming it (the code the browser gives a file it cannot get). */
export async function readBytes(path: string, what = 'file'): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    const missing = (error as { code?: unknown }).code === 'ENOENT';
    throw new BundleError(
      'FETCH_FAILED',
      missing ? `${shown(path)} is missing (${what})` : `could not read ${shown(path)}: ${describeUnknown(error)}`,
      { url: shown(path) },
    );
  }
}

export function parseJsonFile(bytes: Uint8Array, path: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch (error) {
    throw new BundleError('FETCH_FAILED', `${shown(path)} is not valid JSON: ${describeUnknown(error)}`, { url: shown(path) });
  }
}

/**
 * Writes through a temporary file in the same folder and renames it into place, so a reader (a
 * web server, a browser) never sees half a file, and an interrupted write leaves the old one.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode?: number): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, data, mode === undefined ? {} : { mode });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

export const jsonText = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

import { readFile } from 'node:fs/promises';
import { FILE_ROLES, type FileRole } from '../src/bundle/index.js';
import { SOURCE_FILES } from '../src/cli/pack.js';

export const PENGUINS_BUILD = new URL('../models/penguins/build/', import.meta.url);

export async function readJson<T = unknown>(url: URL): Promise<T> {
  return JSON.parse(await readFile(url, 'utf8')) as T;
}

/** The training script's outputs, by bundle role. */
export async function penguinFiles(): Promise<Record<FileRole, Uint8Array>> {
  const files = {} as Record<FileRole, Uint8Array>;
  for (const role of FILE_ROLES) files[role] = new Uint8Array(await readFile(new URL(SOURCE_FILES[role], PENGUINS_BUILD)));
  return files;
}

export interface PenguinE2E {
  rows: Record<string, unknown>[];
  expected: { features: number[][]; probabilities: number[][]; label: string[] };
}

/** Catches what `fn` throws, so a test can inspect the error itself. */
export async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, none was thrown');
}

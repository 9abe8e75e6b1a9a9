import { readFile } from 'node:fs/promises';
import type { BundleBytes } from '../src/bundle/index.js';
import { MODEL_FILES, SOURCE_FILES } from '../src/cli/pack.js';

export const PENGUINS_BUILD = new URL('../models/penguins/build/', import.meta.url);

export async function readJson<T = unknown>(url: URL): Promise<T> {
  return JSON.parse(await readFile(url, 'utf8')) as T;
}

/** The penguins training script's outputs, by bundle role. */
export async function penguinFiles(): Promise<BundleBytes> {
  const read = async (name: string): Promise<Uint8Array> => new Uint8Array(await readFile(new URL(name, PENGUINS_BUILD)));
  return {
    model: await read(MODEL_FILES['onnxruntime-web'].model!),
    featureSpec: await read(SOURCE_FILES.featureSpec),
    e2eSet: await read(SOURCE_FILES.e2eSet),
    confidenceSet: await read(SOURCE_FILES.confidenceSet),
  };
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

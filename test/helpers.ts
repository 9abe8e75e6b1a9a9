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

/**
 * A tabular feature spec using every kind of step: log1p (out of domain below -1), min_max with
 * clip, rare_label, ordinal and one_hot; `age` and `roof` refuse null.
 */
export function everyOpSpec(name: string): unknown {
  return {
    format: 'ondevice/feature-spec',
    formatVersion: 1,
    name,
    version: '1.0.0',
    fields: [
      { name: 'area', type: 'number' },
      { name: 'age', type: 'number' },
      { name: 'zone', type: 'category' },
      { name: 'roof', type: 'category' },
    ],
    features: [
      {
        field: 'area',
        steps: [{ op: 'impute', strategy: 'median', value: 9 }, { op: 'log1p' }, { op: 'standardize', mean: 2, scale: 0.5 }],
      },
      { field: 'age', steps: [{ op: 'min_max', scale: 0.1, min: -0.5, clip: [0, 1] }] },
      {
        field: 'zone',
        steps: [
          { op: 'impute', strategy: 'most_frequent', value: 'RL' },
          { op: 'rare_label', keep: ['RL', 'RM'], label: 'Rare' },
          { op: 'ordinal', categories: ['Rare', 'RM', 'RL'], unknown: 'error' },
          { op: 'standardize', mean: 1, scale: 2 },
        ],
      },
      { field: 'roof', steps: [{ op: 'ordinal', categories: ['Flat', 'Gable'], unknown: 'value', unknownValue: -1 }] },
      { field: 'roof', steps: [{ op: 'one_hot', categories: ['Flat', 'Gable'], unknown: 'ignore' }] },
    ],
    output: { input: 'x', dtype: 'float64' },
  };
}

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseManifest, presentRoles, type BundleBytes, type Manifest } from '../src/bundle/index.js';
import { findBuildFolders } from '../src/cli/pack.js';
import type { Prediction } from '../src/scoring/index.js';

/** What the research pipeline gave for every confidence row (models/README.md, parity.json). */
export interface ParityFile {
  readonly features: number[][] | null;
  readonly predictions: (number | number[])[];
  /** Per model variant: its predictions as the training script computed them (numpy, the ONNX operators' definitions). */
  readonly variants?: Record<string, (number | number[])[]>;
}

/** A streaming model's parity (models/tone-detector): one stream, and the research outputs at every step. */
export interface StreamParityFile {
  readonly stream: {
    readonly rows: Record<string, unknown>[];
    /** Per output name, each step's values (a number, or the step's flat values). */
    readonly [output: string]: unknown;
  };
}

export interface ConfidenceFile {
  readonly rows: Record<string, unknown>[];
  readonly labels?: string[];
  readonly targets?: number[];
}

export interface ParityReport {
  readonly rows: number;
  /** max |browser - research| over every feature of every row; null for tensor models. */
  readonly maxFeatureDifference: number | null;
  /** max |browser - research| / max(1, |research|) over every predicted value. */
  readonly maxPredictionDifference: number;
}

export const MODELS_DIR = new URL('../models/', import.meta.url).pathname;

/** Every committed build folder, with what the tests need from it. */
export async function buildFolders(): Promise<
  { folder: string; name: string; card: { name: string; runtime?: string }; confidence: ConfidenceFile; parity: ParityFile }[]
> {
  const folders = await findBuildFolders(MODELS_DIR);
  const all = await Promise.all(
    folders.map(async (folder) => ({
      folder,
      ...(await readCard(folder)),
      parity: JSON.parse(await readFile(join(folder, 'parity.json'), 'utf8')) as ParityFile | StreamParityFile | PretrainedParityFile,
    })),
  );
  // Streaming models are compared step by step through a session (`streamFolders`); pretrained ones
  // against their reference runtime (test/nsfw-mobilenet.test.ts, e2e/nsfw-mobilenet.spec.ts).
  const kept = all.filter((f): f is typeof f & { parity: ParityFile } => !('stream' in f.parity) && !('pretrained' in f.parity));
  return Promise.all(
    kept.map(async (f) => ({
      ...f,
      confidence: JSON.parse(await readFile(join(f.folder, 'confidence-set.json'), 'utf8')) as ConfidenceFile,
    })),
  );
}

/**
 * A pretrained model's parity (models/nsfw-mobilenet): its reference runtime's outputs on the
 * confidence set's rows and on the end-to-end set's (both safetensors files).
 */
export interface PretrainedParityFile {
  readonly pretrained: {
    readonly runtime: string;
    readonly set: string;
    readonly outputs: Readonly<Record<string, number[][]>>;
    readonly e2e: { readonly set: string; readonly probabilities: number[][] };
  };
}

/** Every committed build folder of a streaming model, with its stream parity. */
export async function streamFolders(): Promise<{ folder: string; name: string; parity: StreamParityFile }[]> {
  const folders = await findBuildFolders(MODELS_DIR);
  const all = await Promise.all(
    folders.map(async (folder) => ({
      folder,
      name: (await readCard(folder)).name,
      parity: JSON.parse(await readFile(join(folder, 'parity.json'), 'utf8')) as ParityFile | StreamParityFile,
    })),
  );
  return all.filter((f): f is typeof f & { parity: StreamParityFile } => 'stream' in f.parity);
}

async function readCard(folder: string): Promise<{ name: string; card: { name: string; runtime?: string } }> {
  const card = JSON.parse(await readFile(join(folder, 'model-card.json'), 'utf8')) as { name: string; runtime?: string };
  return { name: card.name, card };
}

/** A packed version folder read back as the browser would hold it. */
export async function readPackedVersion(versionDir: string): Promise<{ manifest: Manifest; files: BundleBytes }> {
  const manifest = parseManifest(JSON.parse(await readFile(join(versionDir, 'manifest.json'), 'utf8')));
  const files: Record<string, Uint8Array> = {};
  for (const role of presentRoles(manifest.files))
    files[role] = new Uint8Array(await readFile(join(versionDir, manifest.files[role]!.path)));
  return { manifest, files: files as unknown as BundleBytes };
}

/** Compares features (row-major, `width` per row) and predictions with the research ones. */
export function compareParity(
  features: ArrayLike<number> | undefined,
  width: number,
  predictions: readonly Prediction[],
  classes: readonly string[] | undefined,
  parity: ParityFile,
): ParityReport {
  let maxFeatureDifference: number | null = null;
  if (parity.features !== null) {
    if (features === undefined) throw new Error('the model gave no features to compare');
    maxFeatureDifference = 0;
    parity.features.forEach((row, r) =>
      row.forEach((expected, c) => {
        const difference = Math.abs(features[r * width + c]! - expected);
        maxFeatureDifference = Number.isNaN(difference) ? Infinity : Math.max(maxFeatureDifference!, difference);
      }),
    );
  }
  let maxPredictionDifference = 0;
  const relative = (actual: number, expected: number): void => {
    const difference = Math.abs(actual - expected) / Math.max(1, Math.abs(expected));
    maxPredictionDifference = Number.isNaN(difference) ? Infinity : Math.max(maxPredictionDifference, difference);
  };
  if (predictions.length !== parity.predictions.length)
    throw new Error(`${predictions.length} predictions for ${parity.predictions.length} research ones`);
  predictions.forEach((prediction, r) => {
    const expected = parity.predictions[r]!;
    if (prediction.kind === 'regression') relative(prediction.value, expected as number);
    else if (prediction.kind === 'classification')
      (expected as number[]).forEach((p, c) => relative(prediction.probabilities[classes![c]!]!, p));
    else throw new Error(`parity reads classification and regression, not ${prediction.kind}`);
  });
  return { rows: predictions.length, maxFeatureDifference, maxPredictionDifference };
}

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseJsonBytes } from '../src/bundle/index.js';
import { readSetFile } from '../src/gate/index.js';
import { load } from '../src/node/index.js';
import type { Prediction } from '../src/scoring/index.js';
import { packToTemp } from './pack-helpers.js';
import type { PretrainedParityFile } from './parity.js';

const BUILD = fileURLToPath(new URL('../models/nsfw-mobilenet/build/', import.meta.url));

/** A set file's rows, as the loader reads them (safetensors). */
async function rowsOf(file: string): Promise<Record<string, unknown>[]> {
  const set = readSetFile(new Uint8Array(await readFile(join(BUILD, file))), file, parseJsonBytes) as { rows: Record<string, unknown>[] };
  return set.rows;
}

/** Largest |ondevice - reference| over every probability of every row. */
function maxDifference(predictions: readonly Prediction[], reference: readonly number[][], classes: readonly string[]): number {
  let max = 0;
  predictions.forEach((prediction, r) => {
    if (prediction.kind !== 'classification') throw new Error(`expected a classification, got ${prediction.kind}`);
    reference[r]!.forEach((p, c) => (max = Math.max(max, Math.abs(prediction.probabilities[classes[c]!]! - p))));
  });
  return max;
}

describe('nsfw-mobilenet: a pretrained TensorFlow.js graph model from the npm registry', () => {
  it('packs, passes its label-free gate on wasm in Node, and matches TensorFlow.js cpu (the reference) within its tolerance', async () => {
    const parity = JSON.parse(await readFile(join(BUILD, 'parity.json'), 'utf8')) as PretrainedParityFile;
    const { out, result } = await packToTemp(BUILD);
    expect(Object.keys(result.manifest.files)).toEqual(
      expect.arrayContaining(['model', 'weights.1', 'weights.2', 'e2eSet', 'confidenceSet', 'featureSpec']),
    );
    const model = await load(join(out, 'nsfw-mobilenet'), { monitor: false, batching: false, shards: 0 });
    try {
      const info = await model.info();
      expect(info.runtime).toMatchObject({ name: 'tensorflow-js', backend: 'wasm', fallbacks: [] });
      expect(info.gate.passed).toBe(true);
      expect(info.gate.checks).toMatchObject({ passed: true });
      const classes = result.manifest.task.kind === 'classification' ? result.manifest.task.classes : [];
      const tolerance = result.manifest.gate.tolerance;
      const confidence = maxDifference(
        await model.predictBatch(await rowsOf(parity.pretrained.set)),
        parity.pretrained.outputs.probabilities!,
        classes,
      );
      const e2e = maxDifference(
        await model.predictBatch(await rowsOf(parity.pretrained.e2e.set)),
        parity.pretrained.e2e.probabilities,
        classes,
      );
      expect(confidence).toBeLessThanOrEqual(tolerance);
      expect(e2e).toBeLessThanOrEqual(tolerance);
      console.log(
        `nsfw-mobilenet in Node (tfjs wasm vs tfjs cpu): max difference ${Math.max(confidence, e2e).toExponential(2)}, tolerance ${tolerance}`,
      );
    } finally {
      await model.dispose();
    }
  }, 60_000);
});

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pack } from '../src/cli/pack.js';
import { prepareModel } from '../src/model/index.js';
import { buildFolders, compareParity, readPackedVersion, type ParityReport } from './parity.js';

const folders = await buildFolders();
const out = await mkdtemp(join(tmpdir(), 'ondevice-parity-'));
const measured: Record<string, ParityReport & { tolerance: number; runtime: string }> = {};

describe('parity with the research pipeline, in Node with the browser’s runtimes (onnxruntime-web WASM, TensorFlow.js)', () => {
  it('finds every committed model', () => {
    expect(folders.map((f) => f.name).sort()).toEqual(
      ['digits', 'house-prices-gradient-boosting', 'house-prices-mlp-onnx', 'house-prices-mlp-tfjs', 'house-prices-random-forest', 'house-prices-ridge', 'house-prices-xgboost', 'penguins'],
    );
  });

  for (const { folder, name, confidence, parity } of folders) {
    it(`${name}: passes its gate; features within 1e-6 and predictions within its tolerance on the whole confidence set`, async () => {
      const result = await pack({ source: folder, out });
      const { manifest, files } = await readPackedVersion(join(out, name, result.manifest.version));
      const model = await prepareModel(manifest, files);
      try {
        expect(model.gate.passed).toBe(true);
        const { scorer } = model;
        const batch = await scorer.score(confidence.rows);
        const classes = manifest.task.kind === 'classification' ? manifest.task.classes : undefined;
        const report = compareParity(batch.features, scorer.transform.width, scorer.predictions(batch), classes, parity);
        measured[name] = { ...report, tolerance: manifest.gate.tolerance, runtime: manifest.runtime };
        if (report.maxFeatureDifference !== null) expect(report.maxFeatureDifference).toBeLessThanOrEqual(1e-6);
        expect(report.maxPredictionDifference).toBeLessThanOrEqual(manifest.gate.tolerance);
      } finally {
        await model.scorer.runtime.dispose();
      }
    });
  }
});

afterAll(() => {
  console.table(measured);
});


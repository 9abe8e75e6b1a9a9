import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pack } from '../src/cli/pack.js';
import { InputError } from '../src/errors/index.js';
import { prepareModel } from '../src/model/index.js';
import { caught } from './helpers.js';
import { buildFolders, compareParity, readPackedVersion, type ParityReport } from './parity.js';

const folders = await buildFolders();
const out = await mkdtemp(join(tmpdir(), 'ondevice-parity-'));
const measured: Record<string, ParityReport & { tolerance: number; runtime: string; versusNumpy?: number }> = {};

describe('parity with the research pipeline, in Node with the browser’s runtimes (onnxruntime-web WASM, TensorFlow.js)', () => {
  it('finds every committed model', () => {
    expect(folders.map((f) => f.name).sort()).toEqual([
      'digits',
      'house-prices-gradient-boosting',
      'house-prices-mlp-onnx',
      'house-prices-mlp-tfjs',
      'house-prices-random-forest',
      'house-prices-ridge',
      'house-prices-xgboost',
      'penguins',
    ]);
  });

  for (const { folder, name, confidence, parity } of folders) {
    it(`${name}: passes its gate; features within 1e-6 and predictions within its tolerance on the whole confidence set`, async () => {
      const result = await pack({ source: folder, out });
      const { manifest, files } = await readPackedVersion(join(out, name, result.manifest.version));
      // The main model here; its variants below.
      const model = await prepareModel(manifest, files, { variant: 'none' });
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

describe('model variants (Manifest.variants)', () => {
  const withVariants = folders.filter((f) => f.parity.variants !== undefined);

  it('the house-prices MLP ships an int8 variant for WASM', () => {
    expect(withVariants.map((f) => [f.name, Object.keys(f.parity.variants!)])).toEqual([['house-prices-mlp-onnx', ['int8']]]);
  });

  for (const { folder, name, confidence, parity } of withVariants) {
    for (const [variant, expected] of Object.entries(parity.variants!)) {
      it(`${name}: by default the ${variant} variant serves on wasm, passes its own gate, and onnxruntime-web's integer kernels give what the training script computed`, async () => {
        const result = await pack({ source: folder, out });
        const { manifest, files } = await readPackedVersion(join(out, name, result.manifest.version));
        const entry = manifest.variants!.find((v) => v.name === variant)!;
        expect(files[`variant.${variant}`]!.byteLength).toBeLessThan(files.model.byteLength / 2);
        const model = await prepareModel(manifest, files);
        try {
          expect(model).toMatchObject({ variant, variantsPassedOver: [] });
          expect(model.scorer.runtime.backend).toBe('wasm');
          expect(model.gate).toMatchObject({ passed: true, endToEnd: { tolerance: entry.gate.tolerance } });
          const batch = await model.scorer.score(confidence.rows);
          const predictions = model.scorer.predictions(batch);
          // The same rounding and saturation, summed in another order: float32 steps, not quantization steps.
          const versusNumpy = compareParity(undefined, 0, predictions, undefined, { features: null, predictions: expected });
          expect(versusNumpy.maxPredictionDifference).toBeLessThan(1e-4);
          // Against the float model's research outputs: within the variant's own tolerance, but not equal.
          const versusResearch = compareParity(undefined, 0, predictions, undefined, { features: null, predictions: parity.predictions });
          expect(versusResearch.maxPredictionDifference).toBeLessThanOrEqual(entry.gate.tolerance);
          expect(versusResearch.maxPredictionDifference).toBeGreaterThan(manifest.gate.tolerance);
          measured[`${name} (${variant})`] = {
            ...versusResearch,
            versusNumpy: versusNumpy.maxPredictionDifference,
            tolerance: entry.gate.tolerance,
            runtime: `${manifest.runtime} ${variant}`,
          };
          // A row's answer does not depend on its batch (the activations' scales are fixed, not per batch).
          const alone = await Promise.all(
            confidence.rows.slice(0, 5).map(async (row) => model.scorer.predictions(await model.scorer.score([row]))[0]),
          );
          expect(alone).toEqual(predictions.slice(0, 5));
        } finally {
          await model.scorer.runtime.dispose();
        }
      });
    }

    it(`${name}: a variant built for other backends, or one that fails its gate, is passed over with the reason and the main model serves`, async () => {
      const result = await pack({ source: folder, out });
      const { manifest, files } = await readPackedVersion(join(out, name, result.manifest.version));
      const webgpuOnly = { ...manifest, variants: manifest.variants!.map((v) => ({ ...v, backends: ['webgpu' as const] })) };
      const elsewhere = await prepareModel(webgpuOnly, files);
      const strict = { ...manifest, variants: manifest.variants!.map((v) => ({ ...v, gate: { ...v.gate, tolerance: 1e-9 } })) };
      const refused = await prepareModel(strict, files);
      const unknown = await prepareModel(manifest, files, { variant: 'fp16' });
      try {
        expect(elsewhere.variant).toBeUndefined();
        expect(elsewhere.variantsPassedOver).toEqual([{ variant: 'int8', reason: 'built for webgpu; this load tries wasm' }]);
        expect(refused.variant).toBeUndefined();
        expect(refused.variantsPassedOver[0]).toMatchObject({ variant: 'int8', reason: expect.stringMatching(/variant int8.*refused/) });
        expect(unknown.variant).toBeUndefined();
        expect(unknown.variantsPassedOver[0]!.reason).toMatch(/no variant "fp16"/);
        expect(refused.gate.passed).toBe(true);
        // A variant option that names nothing a variant could be called is refused, not ignored.
        for (const bad of [42, 'Int 8', ''] as unknown as string[]) {
          const error = await caught(() => prepareModel(manifest, files, { variant: bad }));
          expect(error).toBeInstanceOf(InputError);
          expect(error).toMatchObject({ code: 'INVALID_OPTION', details: { field: 'variant' } });
        }
      } finally {
        for (const m of [elsewhere, refused, unknown]) await m.scorer.runtime.dispose();
      }
    });
  }
});

afterAll(() => {
  console.table(measured);
});

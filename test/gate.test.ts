import { describe, expect, it } from 'vitest';
import { parseManifest, type Manifest } from '../src/bundle/index.js';
import { GateError } from '../src/errors/index.js';
import { prepareModel } from '../src/model/index.js';
import { caught, penguinFiles, readJson, type PenguinE2E } from './helpers.js';
import { packToTemp } from './pack-helpers.js';

const { manifestJson } = await packToTemp();
const manifest = parseManifest(manifestJson);
const files = await penguinFiles();

describe('gate, with onnxruntime-web (WASM) in Node', () => {
  it('passes the penguins model and reproduces the research probabilities to 1e-5', async () => {
    const model = await prepareModel(manifest, files);
    try {
      expect(model.gate.passed).toBe(true);
      expect(model.gate.endToEnd.mismatches).toBe(0);
      expect(model.gate.endToEnd.maxDifference).toBeLessThan(1e-5);
      expect(model.gate.metric).toMatchObject({ name: 'accuracy', rows: 86, passed: true });

      const e2e = await readJson<PenguinE2E>(new URL('../models/penguins/build/e2e-set.json', import.meta.url));
      const predictions = model.scorer.predictions(await model.scorer.score(e2e.rows));
      predictions.forEach((p, r) => {
        if (p.kind !== 'classification') throw new Error('expected a classification');
        expect(p.label).toBe(e2e.expected.label[r]);
        Object.values(p.probabilities).forEach((value, c) =>
          expect(Math.abs(value - e2e.expected.probabilities[r]![c]!)).toBeLessThanOrEqual(1e-5),
        );
      });
    } finally {
      await model.scorer.runtime.dispose();
    }
  });

  it('refuses a version whose end-to-end outputs differ from the research ones, naming the row', async () => {
    const e2e = JSON.parse(new TextDecoder().decode(files.e2eSet)) as PenguinE2E;
    e2e.expected.probabilities[4]![1] = e2e.expected.probabilities[4]![1]! + 0.001;
    const error = await caught(() => prepareModel(manifest, { ...files, e2eSet: new TextEncoder().encode(JSON.stringify(e2e)) }));
    expect(error).toBeInstanceOf(GateError);
    expect((error as GateError).code).toBe('GATE_E2E_MISMATCH');
    expect((error as GateError).details).toMatchObject({ row: 4, mismatches: 1, what: 'probability of Chinstrap' });
  });

  it('refuses a version whose confidence-set metric falls outside its range', async () => {
    const strict: Manifest = { ...manifest, gate: { ...manifest.gate, metric: { name: 'accuracy', range: [0, 0.5] } } };
    const error = await caught(() => prepareModel(strict, files));
    expect(error).toBeInstanceOf(GateError);
    expect((error as GateError).code).toBe('GATE_METRIC_OUT_OF_RANGE');
    expect((error as GateError).details).toMatchObject({ metric: 'accuracy', value: 1 });
  });

  it('refuses a wrong label even when the probabilities are within tolerance', async () => {
    const e2e = JSON.parse(new TextDecoder().decode(files.e2eSet)) as PenguinE2E;
    e2e.expected.label[2] = e2e.expected.label[2] === 'Adelie' ? 'Gentoo' : 'Adelie';
    const error = (await caught(() =>
      prepareModel(manifest, { ...files, e2eSet: new TextEncoder().encode(JSON.stringify(e2e)) }),
    )) as GateError;
    expect(error.code).toBe('GATE_E2E_MISMATCH');
  });
});

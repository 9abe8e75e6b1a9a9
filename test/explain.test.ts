import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Task } from '../src/bundle/index.js';
import { InputError, StateError } from '../src/errors/index.js';
import { explain, partialDependence, permutationImportance, type Explanation, type LinearReference } from '../src/explain/index.js';
import { compileFeatureSpec, parseFeatureSpec } from '../src/features/index.js';
import { parseConfidenceSet, type ConfidenceSet } from '../src/gate/index.js';
import { parseReference } from '../src/monitor/reference.js';
import { createRuntime } from '../src/runtimes/index.js';
import { createScorer, type Scorer } from '../src/scoring/index.js';
import { caught, readJson } from './helpers.js';

interface Loaded {
  readonly scorer: Scorer;
  readonly background: ConfidenceSet;
  readonly rows: Record<string, unknown>[];
}

/** A committed build folder as the worker holds it: compiled spec, onnxruntime-web (WASM) runtime, task. */
async function load(folder: string): Promise<Loaded> {
  const at = (name: string): URL => new URL(`../models/${folder}/${name}`, import.meta.url);
  const card = await readJson<{ task: Task }>(at('model-card.json'));
  const transform = compileFeatureSpec(parseFeatureSpec(await readJson(at('feature-spec.json'))));
  const runtime = await createRuntime('onnxruntime-web', { model: new Uint8Array(await readFile(at('model.onnx'))) });
  const raw = await readJson<{ rows: Record<string, unknown>[] }>(at('confidence-set.json'));
  return { scorer: createScorer(transform, runtime, card.task), background: parseConfidenceSet(raw), rows: raw.rows };
}

interface LinearParity {
  readonly fields: string[];
  readonly coefficients: number[];
  readonly intercept: number;
  readonly featureMeans: number[];
  readonly baseValue: number;
  readonly attributions: number[][];
  readonly outputs: number[];
}

const relative = (actual: number, expected: number): number => Math.abs(actual - expected) / Math.max(1, Math.abs(expected));
const sum = (values: readonly number[]): number => values.reduce((s, v) => s + v, 0);
const figures: Record<string, string | number> = {};

let ridge: Loaded;
let ridgeLog: Scorer;
let gbm: Loaded;
let penguins: Loaded;
let digits: Loaded;
let ridgeReference: LinearReference;
let linear: LinearParity;

beforeAll(async () => {
  [ridge, gbm, penguins, digits] = await Promise.all([
    load('house-prices/build/ridge'),
    load('house-prices/build/gradient-boosting'),
    load('penguins/build'),
    load('digits/build'),
  ]);
  // The ridge graph stops at log1p(price), where it is linear; its task applies expm1.
  expect(ridge.scorer.task).toMatchObject({ kind: 'regression', inverse: 'expm1' });
  ridgeLog = ridge.scorer;
  const folder = new URL('../models/house-prices/build/ridge/', import.meta.url);
  ridgeReference = parseReference(await readJson(new URL('reference.json', folder)), ridge.scorer.transform.width);
  linear = (await readJson<{ linear: LinearParity }>(new URL('parity.json', folder))).linear;
});

afterAll(async () => {
  console.table(figures);
  await Promise.all([ridge, gbm, penguins, digits].map((m) => m?.scorer.runtime.dispose()));
});

describe('explain: exact-linear (ridge, additive)', () => {
  it('gives the research pipeline’s attributions and base value for 20 rows, summing to value - baseValue', async () => {
    expect(ridgeReference.additive).toBe(true);
    expect(linear.fields).toEqual(ridge.scorer.transform.fieldColumns.map((f) => f.field));
    let maxAttribution = 0;
    let maxSum = 0;
    const started = performance.now();
    for (let r = 0; r < linear.attributions.length; r++) {
      const result = await explain(ridgeLog, ridge.rows[r], ridge.background, ridgeReference);
      expect(result.method).toBe('exact-linear');
      expect(result.output).toContain('log1p');
      expect(result.samples).toBe(0);
      expect(result.errorBound).toBe(0);
      expect(relative(result.value, linear.outputs[r]!)).toBeLessThanOrEqual(1e-9);
      expect(relative(result.baseValue, linear.baseValue)).toBeLessThanOrEqual(1e-9);
      result.attributions.forEach((a, j) => {
        expect(a.field).toBe(linear.fields[j]);
        expect(a.value).toEqual(ridge.rows[r]![a.field] ?? null);
        maxAttribution = Math.max(maxAttribution, relative(a.attribution, linear.attributions[r]![j]!));
      });
      const total = sum(result.attributions.map((a) => a.attribution));
      maxSum = Math.max(maxSum, Math.abs(total - (result.value - result.baseValue)));
      expect(result.sumError).toBeCloseTo(Math.abs(total - (result.value - result.baseValue)), 15);
    }
    figures['ridge exact: max |attribution - python| (rel. above 1)'] = maxAttribution;
    figures['ridge exact: max |sum - (value - base)|'] = maxSum;
    figures['ridge exact: ms per explain'] = (performance.now() - started) / linear.attributions.length;
    expect(maxAttribution).toBeLessThanOrEqual(1e-9);
    expect(maxSum).toBeLessThanOrEqual(1e-9);
  });

  it('matches sampling Shapley when the base is the background mean (a linear model has no interactions)', async () => {
    // With every background row used once, sampled attributions of a linear model are exact: coef x (x - mean z).
    const base = await ridgeLog.score(ridge.background.rows);
    const width = ridgeLog.transform.width;
    const means = Array.from({ length: width }, (_, c) => {
      let s = 0;
      for (let r = 0; r < base.rows; r++) s += base.features![r * width + c]!;
      return s / base.rows;
    });
    const exact = await explain(ridgeLog, ridge.rows[3], ridge.background, { featureMeans: means, additive: true });
    const sampled = await explain(ridgeLog, ridge.rows[3], ridge.background, undefined, { samples: ridge.background.rows.length });
    expect(exact.method).toBe('exact-linear');
    expect(sampled.method).toBe('sampling-shapley');
    expect(Math.abs(sampled.baseValue - exact.baseValue)).toBeLessThanOrEqual(1e-9);
    sampled.attributions.forEach((a, j) => expect(Math.abs(a.attribution - exact.attributions[j]!.attribution)).toBeLessThanOrEqual(1e-9));
  });

  it('falls back to sampling when the reference wrongly says additive, and refuses exact-linear on request', async () => {
    const claim: LinearReference = { featureMeans: ridgeReference.featureMeans, additive: true };
    const result = await explain(gbm.scorer, gbm.rows[0], gbm.background, claim, { samples: 64 });
    expect(result.method).toBe('sampling-shapley');
    const forced = await caught(() => explain(gbm.scorer, gbm.rows[0], gbm.background, claim, { method: 'exact-linear', samples: 64 }));
    expect(forced).toBeInstanceOf(StateError);
    expect((forced as StateError).code).toBe('UNSUPPORTED');
    const unclaimed = await caught(() => explain(gbm.scorer, gbm.rows[0], gbm.background, undefined, { method: 'exact-linear' }));
    expect((unclaimed as StateError).code).toBe('UNSUPPORTED');
  });
});

describe('explain: sampling Shapley', () => {
  it('gradient boosting: attributions sum to value - baseValue exactly when samples is a multiple of the background, within a sane bound', async () => {
    const n = gbm.background.rows.length;
    const started = performance.now();
    const result = await explain(gbm.scorer, gbm.rows[5], gbm.background, undefined, { samples: 2 * n, seed: 7 });
    const ms = performance.now() - started;
    expect(result.method).toBe('sampling-shapley');
    expect(result.samples).toBe(2 * n);
    expect(result.attributions.map((a) => a.field)).toEqual(gbm.scorer.transform.fieldColumns.map((f) => f.field));
    const prediction = gbm.scorer.predictions(await gbm.scorer.score([gbm.rows[5]]))[0]!;
    expect(prediction.kind === 'regression' && prediction.value).toBe(result.value);
    const backgroundOutputs = gbm.scorer.columnar(await gbm.scorer.score(gbm.background.rows));
    expect(backgroundOutputs.kind === 'regression' && sum(Array.from(backgroundOutputs.values)) / n).toBeCloseTo(result.baseValue, 6);
    const total = sum(result.attributions.map((a) => a.attribution));
    // Dollars (about 2e5) summed in float64: rounding stays far below 1e-9.
    expect(Math.abs(total - (result.value - result.baseValue))).toBeLessThanOrEqual(1e-9);
    expect(result.sumError).toBeLessThanOrEqual(1e-9);
    for (const a of result.attributions) expect(Number.isFinite(a.error) && a.error >= 0).toBe(true);
    expect(result.errorBound).toBe(Math.max(...result.attributions.map((a) => a.error)));
    // The 95% half-width is a small share of the spread explained.
    expect(result.errorBound).toBeLessThan(0.05 * sum(result.attributions.map((a) => Math.abs(a.attribution))));
    figures[`gbm sampling (samples ${2 * n}): sumError`] = result.sumError;
    figures[`gbm sampling (samples ${2 * n}): errorBound`] = result.errorBound;
    figures[`gbm sampling (samples ${2 * n}): |value - base|`] = Math.abs(result.value - result.baseValue);
    figures[`gbm sampling (samples ${2 * n}): ms`] = ms;
  });

  it('is reproducible for a seed, and a smaller draw stays within its stated bounds of a larger one', async () => {
    const a = await explain(gbm.scorer, gbm.rows[9], gbm.background, undefined, { samples: 300, seed: 3 });
    const b = await explain(gbm.scorer, gbm.rows[9], gbm.background, undefined, { samples: 300, seed: 3 });
    expect(b).toEqual(a);
    const c = await explain(gbm.scorer, gbm.rows[9], gbm.background, undefined, { samples: 300, seed: 4 });
    expect(c.attributions).not.toEqual(a.attributions);
    // Not a multiple of the background: the sum also carries the sampled background mean's error.
    expect(a.sumError).toBeGreaterThan(0);
    expect(a.sumError).toBe(Math.abs(sum(a.attributions.map((x) => x.attribution)) - (a.value - a.baseValue)));
    const started = performance.now();
    const reference = await explain(gbm.scorer, gbm.rows[9], gbm.background, undefined, { seed: 11 });
    figures[`gbm sampling (default samples ${reference.samples}): ms`] = performance.now() - started;
    figures[`gbm sampling (default samples ${reference.samples}): errorBound`] = reference.errorBound;
    figures[`gbm sampling (default samples ${reference.samples}): sumError`] = reference.sumError;
    expect(reference.samples % gbm.background.rows.length).toBe(0);
    // Fixed seeds: deterministic. Both 95% half-widths together cover the gap (with slack for 34 fields).
    const worst = Math.max(
      ...a.attributions.map(
        (x, j) => Math.abs(x.attribution - reference.attributions[j]!.attribution) / (x.error + reference.attributions[j]!.error),
      ),
    );
    figures['gbm: max |phi(300) - phi(default)| / (error sum)'] = worst;
    expect(worst).toBeLessThan(1.5);
  });

  it('penguins: explains a chosen class’s probability, or the predicted class by default', async () => {
    const n = penguins.background.rows.length;
    const row = penguins.rows[0]!;
    const predicted = penguins.scorer.predictions(await penguins.scorer.score([row]))[0]!;
    if (predicted.kind !== 'classification') throw new Error('expected a classification');
    const own = await explain(penguins.scorer, row, penguins.background, undefined, { samples: 4 * n });
    expect(own.class).toBe(predicted.label);
    expect(own.output).toBe(`probability of class "${predicted.label}"`);
    expect(own.value).toBeCloseTo(predicted.probabilities[predicted.label]!, 6);
    const other = predicted.label === 'Adelie' ? 'Chinstrap' : 'Adelie';
    const chosen: Explanation = await explain(penguins.scorer, row, penguins.background, undefined, { samples: 4 * n, class: other });
    expect(chosen.class).toBe(other);
    expect(chosen.value).toBeCloseTo(predicted.probabilities[other]!, 6);
    expect(chosen.sumError).toBeLessThanOrEqual(1e-9);
    expect(chosen.baseValue).toBeGreaterThan(0);
    expect(chosen.baseValue).toBeLessThan(1);
    figures['penguins sampling: errorBound'] = own.errorBound;
  });

  it('reports progress per chunk and stops when cancelled', async () => {
    const progress: { done: number; total: number }[] = [];
    const result = await explain(gbm.scorer, gbm.rows[1], gbm.background, undefined, { samples: 400, onProgress: (p) => progress.push(p) });
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toEqual({ done: result.samples, total: result.samples });
    expect(progress.every((p, i) => i === 0 || p.done > progress[i - 1]!.done)).toBe(true);

    const aborted = await caught(() => explain(gbm.scorer, gbm.rows[1], gbm.background, undefined, { signal: AbortSignal.abort() }));
    expect(aborted).toBeInstanceOf(StateError);
    expect((aborted as StateError).code).toBe('CANCELLED');
    const controller = new AbortController();
    const midway = await caught(() =>
      explain(gbm.scorer, gbm.rows[1], gbm.background, undefined, {
        samples: 2000,
        signal: controller.signal,
        onProgress: () => controller.abort(),
      }),
    );
    expect((midway as StateError).code).toBe('CANCELLED');
  });

  it('refuses bad options, bad rows and tensor models with typed errors', async () => {
    for (const samples of [0, -1, 1.5, 100_001, Number.NaN]) {
      const error = await caught(() => explain(gbm.scorer, gbm.rows[0], gbm.background, undefined, { samples }));
      expect(error).toBeInstanceOf(InputError);
      expect(error).toMatchObject({ code: 'INVALID_OPTION', details: { field: 'samples' } });
    }
    expect(
      await caught(() => explain(penguins.scorer, penguins.rows[0], penguins.background, undefined, { class: 'Emperor' })),
    ).toMatchObject({
      code: 'INVALID_OPTION',
      details: { field: 'class' },
    });
    expect(await caught(() => explain(gbm.scorer, gbm.rows[0], gbm.background, undefined, { seed: -1 }))).toMatchObject({
      code: 'INVALID_OPTION',
      details: { field: 'seed' },
    });
    const { Gr_Liv_Area: _dropped, ...missing } = gbm.rows[0]!;
    const bad = await caught(() => explain(gbm.scorer, missing, gbm.background, undefined));
    expect(bad).toBeInstanceOf(InputError);
    expect(bad).toMatchObject({ code: 'MISSING_FIELD', details: { field: 'Gr_Liv_Area' } });
    for (const call of [
      () => explain(digits.scorer, digits.rows[0], digits.background, undefined),
      () => permutationImportance(digits.scorer, digits.background, 'accuracy'),
      () => partialDependence(digits.scorer, digits.background, 'image'),
    ]) {
      const error = await caught(call);
      expect(error).toBeInstanceOf(StateError);
      expect((error as StateError).code).toBe('UNSUPPORTED');
    }
  });
});

describe('permutationImportance', () => {
  it('penguins: finite, sorted, reproducible; a field that never varies has no importance', async () => {
    const started = performance.now();
    const result = await permutationImportance(penguins.scorer, penguins.background, 'accuracy', { seed: 5 });
    figures['penguins importance: ms'] = performance.now() - started;
    figures['penguins importance: top'] = `${result.features[0]!.field} ${result.features[0]!.importance.toFixed(3)}`;
    expect(result.metric).toBe('accuracy');
    expect(result.repeats).toBe(5);
    expect(result.baseline).toBeGreaterThanOrEqual(0.95);
    expect(result.features.map((f) => f.field).sort()).toEqual(penguins.scorer.transform.fieldColumns.map((f) => f.field).sort());
    for (const f of result.features) expect(Number.isFinite(f.importance) && Number.isFinite(f.std) && f.std >= 0).toBe(true);
    expect(result.features.every((f, i) => i === 0 || f.importance <= result.features[i - 1]!.importance)).toBe(true);
    expect(result.features[0]!.importance).toBeGreaterThan(0);
    expect(await permutationImportance(penguins.scorer, penguins.background, 'accuracy', { seed: 5 })).toEqual(result);

    const constant: ConfidenceSet = {
      rows: penguins.background.rows.map((r) => ({ ...(r as Record<string, unknown>), sex: 'female' })),
      labels: penguins.background.labels!,
    };
    const flat = await permutationImportance(penguins.scorer, constant, 'accuracy', { repeats: 3 });
    expect(flat.features.find((f) => f.field === 'sex')).toEqual({ field: 'sex', importance: 0, std: 0 });
  });

  it('ridge: rmse losses point the right way (larger = more important); bad options are refused', async () => {
    const result = await permutationImportance(ridge.scorer, ridge.background, 'rmse', { repeats: 2 });
    figures['ridge importance (rmse): top'] = `${result.features[0]!.field} ${result.features[0]!.importance.toFixed(0)}`;
    expect(result.features[0]!.importance).toBeGreaterThan(0);
    const r2 = await permutationImportance(ridge.scorer, ridge.background, 'r2', { repeats: 2 });
    expect(r2.features[0]!.importance).toBeGreaterThan(0);
    expect(await caught(() => permutationImportance(ridge.scorer, ridge.background, 'accuracy'))).toMatchObject({
      code: 'INVALID_OPTION',
      details: { field: 'metric' },
    });
    expect(await caught(() => permutationImportance(ridge.scorer, ridge.background, 'rmse', { repeats: 0 }))).toMatchObject({
      code: 'INVALID_OPTION',
      details: { field: 'repeats' },
    });
    expect(
      await caught(() => permutationImportance(ridge.scorer, ridge.background, 'rmse', { signal: AbortSignal.abort() })),
    ).toMatchObject({ code: 'CANCELLED' });
  });
});

describe('partialDependence', () => {
  it('ridge (additive in log1p price): moves exactly by coefficient x change of the field’s features', async () => {
    const field = 'Gr_Liv_Area';
    const result = await partialDependence(ridgeLog, ridge.background, field, { gridSize: 10 });
    expect(result.output).toContain('log1p');
    expect(result.grid.length).toBeGreaterThan(1);
    expect(result.grid.length).toBeLessThanOrEqual(10);
    expect(result.grid.every((v, i) => typeof v === 'number' && (i === 0 || v > (result.grid[i - 1] as number)))).toBe(true);
    const { columns } = ridgeLog.transform.fieldColumns.find((f) => f.field === field)!;
    const width = ridgeLog.transform.width;
    const features = ridgeLog.transform.prepare(result.grid.map((v) => ({ ...ridge.rows[0], [field]: v }))).features!;
    const slope = sum(columns.map((c) => linear.coefficients[c]!));
    expect(slope).toBeGreaterThan(0);
    let worst = 0;
    result.grid.forEach((_, k) => {
      const expected = sum(columns.map((c) => linear.coefficients[c]! * (features[k * width + c]! - features[c]!)));
      worst = Math.max(worst, Math.abs(result.average[k]! - result.average[0]! - expected));
    });
    figures['ridge PD: max |PD(v) - PD(v0) - coef x dF|'] = worst;
    expect(worst).toBeLessThanOrEqual(1e-9);
    expect(result.average.every((v, i) => i === 0 || v > result.average[i - 1]!)).toBe(true);
  });

  it('penguins: a category field’s grid is its accepted categories found in the background; a given grid is used as is', async () => {
    const input = penguins.scorer.transform.inputs.find((i) => i.name === 'island');
    if (input?.type !== 'category') throw new Error('island is a category');
    const result = await partialDependence(penguins.scorer, penguins.background, 'island', { class: 'Gentoo' });
    expect(result.class).toBe('Gentoo');
    expect(result.grid.length).toBeGreaterThan(1);
    expect(result.grid.every((v) => input.categories.includes(v as string))).toBe(true);
    for (const p of result.average) expect(p >= 0 && p <= 1).toBe(true);
    const given = await partialDependence(penguins.scorer, penguins.background, 'flipper_length_mm', { grid: [180, 200, 220] });
    expect(given.grid).toEqual([180, 200, 220]);
    expect(given.average).toHaveLength(3);
    expect(given.class).toBeDefined();
  });

  it('refuses an unknown field, a bad grid and a cancelled call', async () => {
    const unknown = await caught(() => partialDependence(penguins.scorer, penguins.background, 'beak_colour'));
    expect(unknown).toBeInstanceOf(InputError);
    expect(unknown).toMatchObject({ code: 'UNEXPECTED_FIELD', details: { field: 'beak_colour' } });
    expect(await caught(() => partialDependence(penguins.scorer, penguins.background, 'island', { grid: [] }))).toMatchObject({
      code: 'INVALID_OPTION',
      details: { field: 'grid' },
    });
    expect(await caught(() => partialDependence(penguins.scorer, penguins.background, 'island', { grid: [3] }))).toBeInstanceOf(InputError);
    expect(await caught(() => partialDependence(penguins.scorer, penguins.background, 'island', { gridSize: 0 }))).toMatchObject({
      code: 'INVALID_OPTION',
      details: { field: 'gridSize' },
    });
    expect(
      await caught(() => partialDependence(penguins.scorer, penguins.background, 'island', { signal: AbortSignal.abort() })),
    ).toMatchObject({ code: 'CANCELLED' });
  });
});

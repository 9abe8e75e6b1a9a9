import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { openHarness } from './fixtures.js';

// These tests drive the library directly; the demo's service worker would answer for the network.
test.use({ serviceWorkers: 'block' });

const RIDGE = 'bundles/house-prices-ridge/channel.json';
const BOOSTING = 'bundles/house-prices-gradient-boosting/channel.json';
const confidence: { rows: Record<string, unknown>[] } = JSON.parse(
  readFileSync(new URL('../models/house-prices/build/ridge/confidence-set.json', import.meta.url), 'utf8'),
);
const parity: { linear: { attributions: number[][]; baseValue: number; fields: string[] } } = JSON.parse(
  readFileSync(new URL('../models/house-prices/build/ridge/parity.json', import.meta.url), 'utf8'),
);

test('in the worker: exact attributions for the linear model equal the research pipeline coefficient x (value - mean); sampled ones for trees sum to prediction minus base within the bound', async ({
  page,
}) => {
  await openHarness(page);
  const result = await page.evaluate(
    async ({ ridge, boosting, rows }) => {
      const linear = await window.ondevice.load(ridge);
      const exact = [];
      for (const row of rows) exact.push(await linear.explain(row));
      const trees = await window.ondevice.load(boosting);
      const progress: { done: number; total: number }[] = [];
      const sampled = await trees.explain(rows[0]!, { samples: 733 * 2, seed: 3, onProgress: (p) => progress.push(p) });
      await new Promise((resolve) => setTimeout(resolve, 50));
      return { exact, sampled, progress };
    },
    { ridge: RIDGE, boosting: BOOSTING, rows: confidence.rows.slice(0, 5) },
  );

  result.exact.forEach((explanation, r) => {
    expect(explanation.method).toBe('exact-linear');
    expect(explanation.attributions.map((a) => a.field)).toEqual(parity.linear.fields);
    expect(Math.abs(explanation.baseValue - parity.linear.baseValue)).toBeLessThanOrEqual(1e-9 * Math.abs(parity.linear.baseValue));
    explanation.attributions.forEach((a, k) =>
      expect(Math.abs(a.attribution - parity.linear.attributions[r]![k]!)).toBeLessThanOrEqual(1e-9),
    );
    const sum = explanation.attributions.reduce((total, a) => total + a.attribution, 0);
    expect(Math.abs(sum - (explanation.value - explanation.baseValue))).toBeLessThanOrEqual(1e-9);
  });

  const sampled = result.sampled;
  expect(sampled.method).toBe('sampling-shapley');
  const sum = sampled.attributions.reduce((total, a) => total + a.attribution, 0);
  expect(Math.abs(sum - (sampled.value - sampled.baseValue))).toBeLessThanOrEqual(sampled.errorBound);
  expect(Number.isFinite(sampled.errorBound) && sampled.errorBound > 0).toBe(true);
  expect(result.progress.length).toBeGreaterThan(0);
  expect(result.progress.at(-1)!.done).toBe(result.progress.at(-1)!.total);
});

test('explanations of the confidence set run off the main thread: the page keeps ticking, predictions are answered meanwhile, and a cancelled task rejects with StateError CANCELLED', async ({
  page,
}) => {
  await openHarness(page);
  const result = await page.evaluate(
    async ({ channel, row }) => {
      const { load, StateError } = window.ondevice;
      const model = await load(channel);

      // The main thread ticks every 10 ms while the worker computes permutation importance.
      const ticks: number[] = [];
      const timer = setInterval(() => ticks.push(performance.now()), 10);
      const started = performance.now();
      let answeredDuring = false;
      let taskDone = false;
      const importance = model.importance({ repeats: 3, seed: 1 }).then((value) => ((taskDone = true), value));
      await new Promise((resolve) => setTimeout(resolve, 30));
      await model.predict(row);
      answeredDuring = !taskDone;
      const report = await importance;
      const duration = performance.now() - started;
      clearInterval(timer);
      let maxGap = 0;
      for (let i = 1; i < ticks.length; i++) maxGap = Math.max(maxGap, ticks[i]! - ticks[i - 1]!);

      // Cancelled at its first progress report.
      const controller = new AbortController();
      let cancelled: { isStateError: boolean; code: string } | undefined;
      await model
        .importance({ repeats: 20, signal: controller.signal, onProgress: () => controller.abort() })
        .catch((error: { code: string }) => (cancelled = { isStateError: error instanceof StateError, code: error.code }));
      const info = await model.info();
      return { duration, maxGap, ticks: ticks.length, answeredDuring, report, cancelled, stillServing: info.version };
    },
    { channel: BOOSTING, row: confidence.rows[0]! },
  );

  expect(result.report.features.length).toBeGreaterThan(10);
  expect(result.answeredDuring).toBe(true);
  // Bounds relative to the task's own duration, not to a machine's speed.
  expect(result.maxGap).toBeLessThan(Math.max(100, result.duration / 4));
  expect(result.ticks).toBeGreaterThan(result.duration / 10 / 4);
  expect(result.cancelled).toEqual({ isStateError: true, code: 'CANCELLED' });
  expect(result.stillServing).toBe('1.0.0');
});

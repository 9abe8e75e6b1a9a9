import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { CHANNEL, e2eSet, openHarness } from './fixtures.js';
import { workerHeap } from './support/heap.js';

test.use({ serviceWorkers: 'block' });

const housePrices = JSON.parse(readFileSync(new URL('../models/house-prices/build/mlp-tfjs/confidence-set.json', import.meta.url), 'utf8')) as {
  rows: Record<string, unknown>[];
};

test('10,000 concurrent predict() calls go as a few batches, each answered on its own; a bad row fails only its call', async ({ page }) => {
  await openHarness(page);
  const outcome = await page.evaluate(
    async ({ channel, rows }) => {
      const model = await window.ondevice.load(channel, { checkForUpdates: false });
      const calls = Array.from({ length: 10_000 }, (_, i) => (i === 4321 ? { ...rows[0]!, island: 'Atlantis' } : rows[i % rows.length]!));
      const before = (await model.info()).stats!;
      const settled = await Promise.allSettled(calls.map((row) => model.predict(row)));
      const after = (await model.info()).stats!;
      const reference = await model.predictBatch(rows);
      const answer = (p: { probabilities?: unknown; label?: unknown; version?: unknown }) => JSON.stringify([p.label, p.probabilities, p.version]);
      const mismatches = settled.filter((s, i) => i !== 4321 && (s.status !== 'fulfilled' || answer(s.value) !== answer(reference[i % rows.length]!))).length;
      const bad = settled[4321]!;
      const error = bad.status === 'rejected' ? (bad.reason as InstanceType<typeof window.ondevice.InputError>) : undefined;
      return {
        runs: after.runs - before.runs,
        rows: after.rows - before.rows,
        mismatches,
        bad: error && { isInputError: error instanceof window.ondevice.InputError, code: error.code, row: error.details.row, message: error.message },
      };
    },
    { channel: CHANNEL, rows: e2eSet.rows },
  );
  expect(outcome.mismatches).toBe(0);
  expect(outcome.bad).toMatchObject({ isInputError: true, code: 'UNKNOWN_CATEGORY', row: 0 });
  expect(outcome.bad!.message).toMatch(/^row 0: /);
  // ceil(10,000 / 1,024) model runs: the batch holding the bad row is refused before it runs, then
  // scored again without it.
  expect(outcome.runs).toBe(10);
  expect(outcome.rows).toBe(9_999);
});

test('columnar input gives the same predictions as row objects, and its typed arrays are transferred, not copied', async ({ page }) => {
  await openHarness(page);
  const outcome = await page.evaluate(
    async ({ rows }) => {
      const model = await window.ondevice.load('bundles/house-prices-mlp-onnx/channel.json', { checkForUpdates: false });
      const byRow = await model.predictBatch(rows);
      const fields = Object.keys(rows[0]!);
      const columns: Record<string, Float64Array | (string | null)[]> = {};
      for (const field of fields) {
        const values = rows.map((r) => r[field]);
        columns[field] = values.every((v) => v === null || typeof v === 'number') && values.some((v) => typeof v === 'number')
          ? Float64Array.from(values, (v) => (v === null ? Number.NaN : (v as number)))
          : (values as (string | null)[]);
      }
      const numeric = Object.values(columns).find((c): c is Float64Array => c instanceof Float64Array)!;
      const result = await model.predictColumns(columns);
      return {
        rows: result.rows,
        kind: result.kind,
        detached: numeric.byteLength === 0,
        values: result.kind === 'regression' ? Array.from(result.values) : [],
        isFloat64: result.kind === 'regression' && result.values instanceof Float64Array,
        expected: byRow.map((p) => (p.kind === 'regression' ? p.value : Number.NaN)),
      };
    },
    { rows: housePrices.rows },
  );
  expect(outcome).toMatchObject({ rows: housePrices.rows.length, kind: 'regression', detached: true, isFloat64: true });
  expect(outcome.values).toEqual(outcome.expected);
});

test('the prediction cache answers a repeated row on the main thread, without a worker run', async ({ page }) => {
  await openHarness(page);
  const outcome = await page.evaluate(
    async ({ channel, row }) => {
      const model = await window.ondevice.load(channel, { checkForUpdates: false, cache: { maxEntries: 100 } });
      const first = await model.predict(row);
      const runs = (await model.info()).stats!.runs;
      const again = await model.predict({ ...row });
      const reordered = await model.predict(Object.fromEntries(Object.entries(row).reverse()));
      const after = (await model.info()).stats!.runs;
      return { same: JSON.stringify(first) === JSON.stringify(again) && JSON.stringify(first) === JSON.stringify(reordered), extraRuns: after - runs, frozen: Object.isFrozen(again) };
    },
    { channel: CHANNEL, row: e2eSet.rows[2]! },
  );
  expect(outcome).toEqual({ same: true, extraRuns: 0, frozen: true });
});

test('memory stays flat over a million predictions: worker heap (onnxruntime-web, TensorFlow.js) and TF.js tensors', async ({ page, browser }) => {
  test.setTimeout(240_000);
  await openHarness(page);
  const seen = new Set<string>();
  for (const name of ['house-prices-mlp-onnx', 'house-prices-mlp-tfjs']) {
    await page.evaluate(async (name) => {
      window.model = await window.ondevice.load(`bundles/${name}/channel.json`, { checkForUpdates: false });
    }, name);
    const heap = await workerHeap(browser, seen);
    const heaps: number[] = [];
    const tensors: (number | undefined)[] = [];
    for (let quarter = 0; quarter < 5; quarter++) {
      // 250,000 predictions per quarter (25 batches of 10,000 rows); the first quarter warms up.
      if (quarter > 0) {
        await page.evaluate(async (rows) => {
          const batch = Array.from({ length: 10_000 }, (_, i) => rows[i % rows.length]!);
          for (let i = 0; i < 25; i++) await window.model!.predictBatch(batch);
        }, housePrices.rows);
      }
      heaps.push(await heap());
      tensors.push(await page.evaluate(async () => (await window.model!.info()).stats!.tensors));
    }
    const rows = await page.evaluate(async () => (await window.model!.info()).stats!.rows);
    await page.evaluate(() => window.model!.dispose());
    console.log(`${name}: worker heap (MB) ${heaps.map((h) => (h / 1e6).toFixed(1)).join(' -> ')}; TF.js tensors ${tensors.join(' -> ')}`);
    expect(rows, name).toBe(1_000_000);
    // After the first 250,000 (warm-up), at most 8 MB more: a leak of even 8 bytes a prediction would exceed it.
    expect(heaps.at(-1)! - heaps[1]!, name).toBeLessThan(8e6);
    if (name.endsWith('tfjs')) expect(new Set(tensors).size, `${name} tensors ${tensors.join(',')}`).toBe(1);
  }
});

import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { openHarness } from './fixtures.js';

// These tests drive the library directly; the demo's service worker would answer for the network.
test.use({ serviceWorkers: 'block' });

const CHANNEL = 'bundles/house-prices-ridge/channel.json';
const confidence: { rows: Record<string, unknown>[] } = JSON.parse(
  readFileSync(new URL('../models/house-prices/build/ridge/confidence-set.json', import.meta.url), 'utf8'),
);

/** The held-out rows moved the way a new market would move them: bigger, older houses, all in one neighbourhood. */
const SHIFTED_FIELDS = ['Gr_Liv_Area', 'Year_Built', 'Neighborhood'];
const shifted = confidence.rows.map((row) => ({
  ...row,
  Gr_Liv_Area: typeof row.Gr_Liv_Area === 'number' ? row.Gr_Liv_Area * 2.2 : row.Gr_Liv_Area,
  Year_Built: (row.Year_Built as number) - 60,
  Neighborhood: 'Northridge_Heights',
}));

test('held-out data raises no drift; shifted data raises a drift event naming the shifted fields; the statistics survive a reload', async ({
  page,
}) => {
  await openHarness(page);
  const first = await page.evaluate(
    async ({ channel, rows, shifted }) => {
      const model = await window.ondevice.load(channel);
      const events: { features: readonly { field: string }[] }[] = [];
      model.on('drift', (event) => events.push(event));
      // In distribution: the bundle's own held-out rows, as many single calls and batches.
      await Promise.all(rows.slice(0, 200).map((row) => model.predict(row)));
      await model.predictBatch(rows.slice(200));
      const calm = await model.monitor();
      const eventsBefore = events.length;
      await model.predictBatch(shifted);
      const moved = await model.monitor();
      await new Promise((resolve) => setTimeout(resolve, 50));
      return { calm, eventsBefore, moved, events };
    },
    { channel: CHANNEL, rows: confidence.rows, shifted },
  );

  const calm = first.calm.drift!;
  expect(calm.rows).toBe(confidence.rows.length);
  expect(calm.status).toBe('ok');
  expect(calm.drifted).toEqual([]);
  expect(first.eventsBefore).toBe(0);
  for (const feature of calm.features) expect(feature.psi).toBeLessThan(calm.thresholds.psi);
  expect(first.calm.predictions).toBe(confidence.rows.length);

  const moved = first.moved.drift!;
  expect(moved.status).toBe('drift');
  const driftedFields = moved.drifted.filter((f) => f !== 'output');
  expect(new Set(driftedFields)).toEqual(new Set(SHIFTED_FIELDS));
  expect(first.events.length).toBeGreaterThanOrEqual(1);
  expect(new Set(first.events.at(-1)!.features.map((f) => f.field))).toEqual(new Set(SHIFTED_FIELDS));
  const neighborhood = moved.features.find((f) => f.field === 'Neighborhood')!;
  expect(neighborhood.bins.find((b) => b.label === 'Northridge_Heights')!.live).toBeGreaterThan(0.5);

  // A reload: the same counts come back from IndexedDB.
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  const again = await page.evaluate(async (channel) => {
    const model = await window.ondevice.load(channel);
    return { info: await model.info(), report: await model.monitor() };
  }, CHANNEL);
  expect(again.info.source).toBe('cache');
  expect(again.report.drift!.rows).toBe(moved.rows);
  expect(again.report.drift!.drifted).toEqual(moved.drifted);
  expect(again.report.drift!.features.map((f) => f.psi)).toEqual(moved.features.map((f) => f.psi));
});

test('refused rows are counted per error code, and the worker keeps serving', async ({ page }) => {
  await openHarness(page);
  const report = await page.evaluate(
    async ({ channel, row }) => {
      const model = await window.ondevice.load(channel);
      const codes: string[] = [];
      for (const bad of [
        { ...row, Gr_Liv_Area: 'big' },
        { ...row, Gr_Liv_Area: -5 },
        { ...row, Year_Built: null, extra: 1 },
      ]) {
        await model.predict(bad).catch((error: { code: string }) => codes.push(error.code));
      }
      await model.predict(row);
      const unknown = await model
        .monitor('9.9.9')
        .catch((error: { code: string; details: { field?: string } }) => ({ code: error.code, field: error.details.field }));
      return { codes, report: await model.monitor(), unknown };
    },
    { channel: CHANNEL, row: confidence.rows[0]! },
  );
  expect(report.codes).toHaveLength(3);
  expect(report.report.refused).toEqual(
    Object.fromEntries([...new Set(report.codes)].map((code) => [code, report.codes.filter((c) => c === code).length])),
  );
  expect(report.report.predictions).toBe(1);
  // A version this device does not serve is refused, not reported as an empty picture.
  expect(report.unknown).toEqual({ code: 'INVALID_OPTION', field: 'version' });
});

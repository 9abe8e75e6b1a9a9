import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { CHANNEL, e2eSet, openHarness, recordWorkerCalls } from './fixtures.js';
import { test as deploymentTest } from './support/deployment-test.js';
import { workerHeap } from './support/heap.js';

test.use({ serviceWorkers: 'block' });

const housePrices = JSON.parse(
  readFileSync(new URL('../models/house-prices/build/mlp-tfjs/confidence-set.json', import.meta.url), 'utf8'),
) as {
  rows: Record<string, unknown>[];
};

test('10,000 concurrent predict() calls go as a few batches, each answered on its own; a bad row fails only its call', async ({ page }) => {
  await recordWorkerCalls(page);
  await openHarness(page);
  const outcome = await page.evaluate(
    async ({ channel, rows }) => {
      const model = await window.ondevice.load(channel, { checkForUpdates: false });
      const calls = Array.from({ length: 10_000 }, (_, i) => (i === 4321 ? { ...rows[0]!, island: 'Atlantis' } : rows[i % rows.length]!));
      const before = (await model.info()).stats!;
      window.workerCalls!.length = 0;
      const settled = await Promise.allSettled(calls.map((row) => model.predict(row)));
      const methods = [...window.workerCalls!];
      const after = (await model.info()).stats!;
      const reference = await model.predictBatch(rows);
      const answer = (p: { probabilities?: unknown; label?: unknown; version?: unknown }) =>
        JSON.stringify([p.label, p.probabilities, p.version]);
      const mismatches = settled.filter(
        (s, i) => i !== 4321 && (s.status !== 'fulfilled' || answer(s.value) !== answer(reference[i % rows.length]!)),
      ).length;
      const bad = settled[4321]!;
      const error = bad.status === 'rejected' ? (bad.reason as InstanceType<typeof window.ondevice.InputError>) : undefined;
      return {
        methods: Object.fromEntries([...new Set(methods)].map((m) => [m, methods.filter((x) => x === m).length])),
        runs: after.runs - before.runs,
        rows: after.rows - before.rows,
        mismatches,
        bad: error && {
          isInputError: error instanceof window.ondevice.InputError,
          code: error.code,
          row: error.details.row,
          message: error.message,
        },
      };
    },
    { channel: CHANNEL, rows: e2eSet.rows },
  );
  expect(outcome.mismatches).toBe(0);
  expect(outcome.bad).toMatchObject({ isInputError: true, code: 'UNKNOWN_CATEGORY', row: 0 });
  expect(outcome.bad!.message).toMatch(/^row 0: /);
  // Each micro-batch goes as columns; only the one holding the bad row is sent again as rows, answered one by one.
  expect(outcome.methods).toEqual({ 'score:columns/each': 10, 'score:rows/each': 1 });
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
        columns[field] =
          values.every((v) => v === null || typeof v === 'number') && values.some((v) => typeof v === 'number')
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
      return {
        same: JSON.stringify(first) === JSON.stringify(again) && JSON.stringify(first) === JSON.stringify(reordered),
        extraRuns: after - runs,
        frozen: Object.isFrozen(again),
      };
    },
    { channel: CHANNEL, row: e2eSet.rows[2]! },
  );
  expect(outcome).toEqual({ same: true, extraRuns: 0, frozen: true });
});

test('memory stays flat over a million predictions: worker heap (onnxruntime-web, TensorFlow.js) and TF.js tensors', async ({
  page,
  browser,
}) => {
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

const gradientBoosting = JSON.parse(
  readFileSync(new URL('../models/house-prices/build/gradient-boosting/confidence-set.json', import.meta.url), 'utf8'),
) as {
  rows: Record<string, unknown>[];
};

for (const [name, source] of [
  ['house-prices-gradient-boosting', gradientBoosting.rows],
  ['penguins', e2eSet.rows],
] as const) {
  test(`${name}: predictBatch of 1,000 rows goes as columns and answers as 10 batches of 100 rows do; bad rows get the same errors`, async ({
    page,
  }) => {
    await recordWorkerCalls(page);
    await openHarness(page);
    const outcome = await page.evaluate(
      async ({ name, source }) => {
        const calls = window.workerCalls!;
        const model = await window.ondevice.load(`bundles/${name}/channel.json`, { checkForUpdates: false });
        const rows = Array.from({ length: 1000 }, (_, i) => ({ ...source[i % source.length]! }));
        calls.length = 0;
        const fast = await model.predictBatch(rows);
        const fastCalls = [...calls];
        calls.length = 0;
        const slow: typeof fast = [];
        for (let i = 0; i < rows.length; i += 100) slow.push(...(await model.predictBatch(rows.slice(i, i + 100))));
        const slowCalls = [...calls];
        const attempt = window.ondeviceTesting.refusal;
        // One bad row of each kind: refused on the main thread's check (rows sent as they are), or by the worker in columns.
        const errors = [];
        const category = name === 'penguins' ? 'island' : 'Sale_Type';
        const number = name === 'penguins' ? 'body_mass_g' : 'Gr_Liv_Area';
        for (const [field, value] of [
          [number, 'heavy'],
          [category, 'x'.repeat(2000)],
          // Penguins: an unknown island; house prices (every category takes unknowns, log1p of an area): -5.
          name === 'penguins' ? [category, 'Atlantis'] : [number, -5],
        ] as const) {
          const bad = rows.map((row, i) => (i === 537 ? { ...row, [field]: value } : row));
          calls.length = 0;
          // features(rows) validates the rows as objects, as predictBatch did before columns.
          const expected = await attempt(() => model.features(bad));
          const got = await attempt(() => model.predictBatch(bad));
          errors.push({ expected, got, calls: calls.filter((c) => c.startsWith('score')) });
        }
        const strip = (p: { version?: unknown; id?: unknown }) => JSON.stringify({ ...p, id: undefined });
        await model.dispose();
        return {
          fastCalls,
          slowCalls: [...new Set(slowCalls)],
          same: fast.length === slow.length && fast.every((p, i) => strip(p) === strip(slow[i]!)),
          versions: [...new Set([...fast, ...slow].map((p) => p.version))],
          distinctIds: new Set([...fast, ...slow].map((p) => p.id)).size,
          consecutive: fast.every((p, i) => Number(p.id) === Number(fast[0]!.id) + i),
          errors,
        };
      },
      { name, source },
    );
    expect(outcome.fastCalls).toEqual(['score:columns/typed']);
    expect(outcome.slowCalls).toEqual(['score:rows/typed']);
    expect(outcome.same).toBe(true);
    expect(outcome.versions).toHaveLength(1);
    expect(outcome.distinctIds).toBe(2000);
    expect(outcome.consecutive).toBe(true);
    for (const { expected, got } of outcome.errors) {
      expect(expected).toMatchObject({ isInputError: true, row: 537 });
      expect(got).toEqual(expected);
    }
    // A string for a number is left to the worker's row checks; the others are refused in columns.
    expect(outcome.errors.map((e) => e.calls)).toEqual(
      outcome.errors.map((_, i) => (i === 0 ? ['score:rows/typed'] : ['score:columns/typed'])),
    );
    expect(outcome.errors.map((e) => e.expected!.code)).toEqual([
      'WRONG_TYPE',
      'VALUE_TOO_LONG',
      name === 'penguins' ? 'UNKNOWN_CATEGORY' : 'OUT_OF_DOMAIN',
    ]);
  });
}

test('house-prices-gradient-boosting: predictBatch of 30,000 rows goes in parts and answers as one batch sent whole does; bad rows in later parts get the same errors', async ({
  page,
}) => {
  await recordWorkerCalls(page);
  await openHarness(page);
  const outcome = await page.evaluate(async (source) => {
    const calls = window.workerCalls!;
    const model = await window.ondevice.load('bundles/house-prices-gradient-boosting/channel.json', { checkForUpdates: false });
    const rows = Array.from({ length: 30_000 }, (_, i) => ({ ...source[i % source.length]! }));
    calls.length = 0;
    const parts = await model.predictBatch(rows);
    const partCalls = [...calls];
    // The same rows in batches under the parts threshold, each sent whole as columns.
    const whole: typeof parts = [];
    for (let i = 0; i < rows.length; i += 10_000) whole.push(...(await model.predictBatch(rows.slice(i, i + 10_000))));
    const attempt = window.ondeviceTesting.refusal;
    const errors = [];
    // Refused in a part by the worker (an impossible log1p, a level too long; the lower row wins), or
    // irregular for the main thread's layout (a string for a number): the batch then goes as rows.
    for (const bad of [
      { 20_001: { Gr_Liv_Area: -5 } },
      { 29_999: { Gr_Liv_Area: -5 }, 17_000: { Sale_Type: 'x'.repeat(2000) } },
      { 25_000: { Gr_Liv_Area: 'heavy' } },
    ] as Record<number, Record<string, unknown>>[]) {
      const batch = rows.map((row, i) => (bad[i] === undefined ? row : { ...row, ...bad[i] }));
      const expected = await attempt(() => model.features(batch));
      calls.length = 0;
      const got = await attempt(() => model.predictBatch(batch));
      errors.push({ expected, got, calls: [...new Set(calls)] });
    }
    const after = await model.predictBatch(rows.slice(0, 20_000));
    const strip = (p: { version?: unknown; id?: unknown }) => JSON.stringify({ ...p, id: undefined });
    await model.dispose();
    return {
      partCalls: [...new Set(partCalls)],
      parts: partCalls.filter((c) => c === 'addPart').length,
      same: parts.length === whole.length && parts.every((p, i) => strip(p) === strip(whole[i]!)),
      consecutive: parts.every((p, i) => Number(p.id) === Number(parts[0]!.id) + i),
      errors,
      servesAfter: after.length === 20_000 && after.every((p, i) => strip(p) === strip(parts[i]!)),
    };
  }, gradientBoosting.rows);
  expect(outcome.partCalls).toEqual(['openParts', 'addPart', 'score:parts/typed']);
  expect(outcome.parts).toBe(4);
  expect(outcome.same).toBe(true);
  expect(outcome.consecutive).toBe(true);
  expect(outcome.errors.map((e) => [e.expected?.code, e.expected?.row])).toEqual([
    ['OUT_OF_DOMAIN', 20_001],
    ['VALUE_TOO_LONG', 17_000],
    ['WRONG_TYPE', 25_000],
  ]);
  for (const { expected, got } of outcome.errors) expect(got).toEqual(expected);
  // The irregular row: the parts laid out before it are dropped, and the rows go whole.
  expect(outcome.errors[2]!.calls).toEqual(['openParts', 'addPart', 'abortParts', 'score:rows/typed']);
  expect(outcome.servesAfter).toBe(true);
});

test('dictionary-encoded category columns give what string columns and row objects give, and their codes are transferred', async ({
  page,
}) => {
  await openHarness(page);
  const outcome = await page.evaluate(async (rows) => {
    const model = await window.ondevice.load('bundles/penguins/channel.json', { checkForUpdates: false });
    const info = await model.info();
    const numbers = (field: string) => Float64Array.from(rows, (r) => (typeof r[field] === 'number' ? (r[field] as number) : Number.NaN));
    const strings: Record<string, Float64Array | (string | null)[]> = {};
    const codes: Record<string, Float64Array | { codes: Int32Array; levels: string[] }> = {};
    for (const field of info.inputs) {
      if (field.type === 'number') {
        strings[field.name] = numbers(field.name);
        codes[field.name] = numbers(field.name);
        continue;
      }
      const values = rows.map((r) => (typeof r[field.name] === 'string' ? (r[field.name] as string) : null));
      strings[field.name] = values;
      // Levels in reverse order of appearance, one that no row has: any order is fine.
      const levels = ['Unused', ...new Set(values.filter((v): v is string => v !== null))].reverse();
      codes[field.name] = { codes: Int32Array.from(values, (v) => (v === null ? -1 : levels.indexOf(v))), levels };
    }
    const sent = (codes.island as { codes: Int32Array }).codes;
    const byStrings = await model.predictColumns(strings);
    const byCodes = await model.predictColumns(codes);
    const byRows = await model.predictBatch(rows);
    await model.dispose();
    return {
      detached: sent.byteLength === 0,
      // Labels are sent as class indices and named on the main thread: the same as the row objects'.
      labels:
        byCodes.kind === 'classification' &&
        JSON.stringify(byCodes.labels) === JSON.stringify(byRows.map((p) => (p.kind === 'classification' ? p.label : ''))),
      same:
        byStrings.kind === 'classification' &&
        byCodes.kind === 'classification' &&
        JSON.stringify(byStrings.labels) === JSON.stringify(byCodes.labels) &&
        byStrings.probabilities.every((p, i) => Object.is(p, byCodes.probabilities[i])),
      rows: byCodes.rows,
    };
  }, e2eSet.rows);
  expect(outcome).toEqual({ detached: true, labels: true, same: true, rows: e2eSet.rows.length });
});

deploymentTest(
  'shadow: a batch sent as columns is answered by the live version, and the candidate scores the same rows afterwards',
  async ({ page, deployment, server, channelUrl }) => {
    await deployment.publish('1.0.0');
    await deployment.publish('1.1.0', { promote: false });
    const current = await deployment.channel();
    await deployment.writeChannel({
      sequence: current.sequence + 1,
      candidates: [await deployment.entry('1.1.0')],
      rollout: { strategy: 'shadow', candidate: '1.1.0' },
    } as never);
    await page.goto(`${server.origin}/harness.html`);
    await page.waitForFunction(() => document.body.dataset.ready === 'true');
    const outcome = await page.evaluate(
      async ({ channelUrl, source }) => {
        const model = await window.ondevice.load(channelUrl, { checkForUpdates: false });
        const rows = Array.from({ length: 300 }, (_, i) => ({ ...source[i % source.length]! }));
        const predictions = await model.predictBatch(rows);
        let info = await model.info();
        for (let i = 0; i < 100 && (info.rollout.shadow?.comparisons ?? 0) < rows.length; i++) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          info = await model.info();
        }
        await model.dispose();
        return {
          versions: [...new Set(predictions.map((p) => p.version))],
          labels: predictions.map((p) => (p.kind === 'classification' ? p.label : '')),
          rollout: info.rollout,
        };
      },
      { channelUrl, source: e2eSet.rows },
    );
    expect(outcome.versions).toEqual(['1.0.0']);
    expect(outcome.labels).toEqual(outcome.labels.map((_, i) => e2eSet.expected.label[i % e2eSet.rows.length]));
    expect(outcome.rollout).toMatchObject({ strategy: 'shadow', candidate: '1.1.0', shadow: { comparisons: 300, agreement: 1 } });
    expect(outcome.rollout.shadow!.meanAbsoluteDifference).toBeLessThan(1e-6);
  },
);

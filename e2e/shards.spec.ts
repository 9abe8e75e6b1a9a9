import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { e2eSet, openHarness } from './fixtures.js';
import { test as deploymentTest } from './support/deployment-test.js';

test.use({ serviceWorkers: 'block' });

const gradientBoosting = JSON.parse(
  readFileSync(new URL('../models/house-prices/build/gradient-boosting/confidence-set.json', import.meta.url), 'utf8'),
) as {
  rows: Record<string, unknown>[];
};

test('a large batch, as rows or as typed columns, is split across shard workers once they have checked themselves, and answers exactly as the worker alone does; a refused value gets its typed error at its row', async ({
  page,
}) => {
  await openHarness(page);
  const outcome = await page.evaluate(async (source) => {
    const channel = 'bundles/house-prices-gradient-boosting/channel.json';
    const model = await window.ondevice.load(channel, { checkForUpdates: false });
    const alone = await window.ondevice.load(channel, { checkForUpdates: false, shards: 0 });
    const rows = Array.from({ length: 20_000 }, (_, i) => ({ ...source[i % source.length]! }));
    const shardsOf = async () => (await model.info()).runtime.shards;
    const before = await shardsOf();
    const small = await model.predictBatch(rows.slice(0, 8_000));
    const afterSmall = await shardsOf();
    // The first large batch starts the shards and is scored by the worker itself.
    const first = await model.predictBatch(rows);
    let waited = 0;
    while ((await shardsOf())?.state === 'starting' && waited < 20_000) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      waited += 50;
    }
    const ready = await shardsOf();
    const sharded = await model.predictBatch(rows);
    const reference = await alone.predictBatch(rows);
    const afterSharded = await shardsOf();
    const value = (p: unknown) => (p as { value?: unknown }).value;
    const same = (a: readonly unknown[], b: readonly unknown[]) => a.length === b.length && a.every((p, i) => value(p) === value(b[i]));
    // Typed columns: their features are computed in the shards too.
    const columnsOf = (batch: Record<string, unknown>[]) => {
      const out: Record<string, Float64Array | { codes: Int32Array; levels: string[] }> = {};
      for (const field of Object.keys(batch[0]!)) {
        const values = batch.map((row) => row[field]);
        if (values.some((v) => typeof v === 'number'))
          out[field] = Float64Array.from(values, (v) => (v === null ? Number.NaN : (v as number)));
        else {
          const levels = [...new Set(values.filter((v): v is string => typeof v === 'string'))];
          out[field] = { codes: Int32Array.from(values, (v) => (typeof v === 'string' ? levels.indexOf(v) : -1)), levels };
        }
      }
      return out;
    };
    const byColumns = await model.predictColumns(columnsOf(rows));
    const afterColumns = await shardsOf();
    const columnsSame = byColumns.kind === 'regression' && byColumns.values.every((v, i) => v === value(reference[i]));
    const badColumns = columnsOf(rows);
    (badColumns.Gr_Liv_Area as Float64Array)[15_000] = -5;
    const refusedColumns = (await model.predictColumns(badColumns).catch((e: unknown) => e)) as InstanceType<
      typeof window.ondevice.InputError
    >;
    const refused = await model
      .predictBatch(rows.map((row, i) => (i === 15_000 ? { ...row, Gr_Liv_Area: -5 } : row)))
      .catch((error: unknown) => error);
    const error = refused as InstanceType<typeof window.ondevice.InputError>;
    const servesAfter = same(await model.predictBatch(rows), reference);
    const aloneInfo = (await alone.info()).runtime;
    const finalShards = await shardsOf();
    await model.dispose();
    await alone.dispose();
    return {
      before,
      afterSmall,
      ready,
      afterSharded,
      firstSame: same(first, reference),
      shardedSame: same(sharded, reference),
      refused: { isInputError: error instanceof window.ondevice.InputError, code: error.code, row: error.details?.row },
      afterColumns,
      columnsSame,
      refusedColumns: {
        isInputError: refusedColumns instanceof window.ondevice.InputError,
        code: refusedColumns.code,
        row: refusedColumns.details?.row,
      },
      finalShards,
      servesAfter,
      aloneShards: aloneInfo.shards ?? null,
    };
  }, gradientBoosting.rows);
  // Chromium here reports 2 cores: two shards, started by the first batch of 8,192 rows or more.
  expect(outcome.before).toMatchObject({ workers: 2, state: 'idle', minRows: 8192, batches: 0 });
  expect(outcome.afterSmall).toMatchObject({ state: 'idle', batches: 0 });
  expect(outcome.ready).toMatchObject({ state: 'ready', batches: 0 });
  expect(outcome.afterSharded).toMatchObject({ state: 'ready', batches: 1 });
  expect(outcome.firstSame).toBe(true);
  expect(outcome.shardedSame).toBe(true);
  // A refused row in a large batch: the same typed error, at its row, and the shards keep serving.
  expect(outcome.refused).toEqual({ isInputError: true, code: 'OUT_OF_DOMAIN', row: 15_000 });
  expect(outcome.servesAfter).toBe(true);
  expect(outcome.afterColumns).toMatchObject({ state: 'ready', batches: 2 });
  expect(outcome.columnsSame).toBe(true);
  expect(outcome.refusedColumns).toEqual({ isInputError: true, code: 'OUT_OF_DOMAIN', row: 15_000 });
  // The rows after the refusals: one more batch sharded (a refused batch never reaches a model run), and none failed.
  expect(outcome.finalShards).toMatchObject({ state: 'ready', batches: 3 });
  expect(outcome.aloneShards).toBeNull();
});

test('the shard workers are real workers of their own, and dispose() ends them', async ({ page }) => {
  await openHarness(page);
  const shardWorkers = () => page.workers().filter((w) => w.url().includes('shard-entry')).length;
  await page.evaluate(async (source) => {
    const model = await window.ondevice.load('bundles/house-prices-gradient-boosting/channel.json', { checkForUpdates: false });
    (window as unknown as { shardModel: typeof model }).shardModel = model;
    const rows = Array.from({ length: 10_000 }, (_, i) => source[i % source.length]!);
    await model.predictBatch(rows);
    while ((await model.info()).runtime.shards?.state === 'starting') await new Promise((resolve) => setTimeout(resolve, 50));
  }, gradientBoosting.rows);
  await expect.poll(shardWorkers).toBe(2);
  await page.evaluate(() => (window as unknown as { shardModel: { dispose(): Promise<void> } }).shardModel.dispose());
  await expect.poll(shardWorkers).toBe(0);
});

test('a shards option that is not a whole number from 0 to 16 is refused with a typed error', async ({ page }) => {
  await openHarness(page);
  const refused = await page.evaluate(async () => {
    const error = await window.ondevice
      .load('bundles/penguins/channel.json', { checkForUpdates: false, shards: 2.5 })
      .catch((e: unknown) => e);
    const typed = error as InstanceType<typeof window.ondevice.InputError>;
    return { isInputError: typed instanceof window.ondevice.InputError, code: typed.code, field: typed.details?.field };
  });
  expect(refused).toEqual({ isInputError: true, code: 'INVALID_OPTION', field: 'shards' });
});

for (const lost of [false, true]) {
  deploymentTest(
    lost
      ? 'shard workers whose script does not load turn the shards off, with the reason; large batches are then scored by the worker alone, with the same answers'
      : 'on a page without cross-origin isolation (one onnxruntime-web thread), large batches are still split across shard workers',
    async ({ page, deployment, server, channelUrl }) => {
      await deployment.publish('1.0.0');
      if (lost) server.faults.missingApp = 'shard-entry-';
      await page.goto(`${server.origin}/harness.html`);
      await page.waitForFunction(() => document.body.dataset.ready === 'true');
      const outcome = await page.evaluate(
        async ({ channelUrl, source }) => {
          const model = await window.ondevice.load(channelUrl, { checkForUpdates: false });
          const rows = Array.from({ length: 10_000 }, (_, i) => source[i % source.length]!);
          const first = await model.predictBatch(rows);
          let shards = (await model.info()).runtime.shards;
          for (let waited = 0; shards?.state === 'starting' && waited < 20_000; waited += 50) {
            await new Promise((resolve) => setTimeout(resolve, 50));
            shards = (await model.info()).runtime.shards;
          }
          const second = await model.predictBatch(rows);
          const info = await model.info();
          await model.dispose();
          return {
            isolated: crossOriginIsolated,
            threads: info.runtime.threads,
            shards: info.runtime.shards,
            same:
              JSON.stringify(first.map((p) => p.kind === 'classification' && p.probabilities)) ===
              JSON.stringify(second.map((p) => p.kind === 'classification' && p.probabilities)),
          };
        },
        { channelUrl, source: e2eSet.rows },
      );
      expect(outcome.isolated).toBe(false);
      expect(outcome.threads).toBe(1);
      if (lost)
        expect(outcome.shards).toMatchObject({
          state: 'off',
          batches: 0,
          reason: expect.stringMatching(/^a shard worker did not start: /),
        });
      else expect(outcome.shards).toMatchObject({ state: 'ready', batches: 1 });
      expect(outcome.same).toBe(true);
    },
  );
}

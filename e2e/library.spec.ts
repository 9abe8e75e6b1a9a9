import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { packToTemp } from '../test/pack-helpers.js';
import { CHANNEL, classes, e2eSet, openHarness } from './fixtures.js';

// These tests drive the library directly; the demo's service worker would answer for the network.
test.use({ serviceWorkers: 'block' });

test('predicts in a worker, matching the research probabilities to 1e-5 on every end-to-end row', async ({ page }) => {
  await openHarness(page);
  const result = await page.evaluate(
    async ({ channel, rows }) => {
      const progress: Parameters<NonNullable<Parameters<typeof window.ondevice.load>[1]>['onProgress'] & {}>[0][] = [];
      const model = await window.ondevice.load(channel, { onProgress: (p) => progress.push(p) });
      const batch = await model.predictBatch(rows);
      const single = [];
      for (const row of rows) single.push(await model.predict(row));
      const info = await model.info();
      return { batch, single, info, progress };
    },
    { channel: CHANNEL, rows: e2eSet.rows },
  );
  expect(page.workers().some((w) => /entry.*\.js/.test(w.url()))).toBe(true);
  // Every phase, in order: bytes as they arrive, then the runtime, the gate, and ready.
  const downloads = result.progress.filter((p) => p.phase === 'download');
  expect(downloads.length).toBeGreaterThanOrEqual(4);
  expect(downloads.at(-1)).toEqual(expect.objectContaining({ loadedBytes: result.info.bundleBytes, totalBytes: result.info.bundleBytes }));
  expect([...new Set(result.progress.map((p) => p.phase))]).toEqual(['download', 'runtime', 'gate', 'ready']);
  expect(result.progress.at(-1)).toEqual({ phase: 'ready', version: '1.0.0', source: 'network' });
  expect(result.info).toMatchObject({
    name: 'penguins',
    version: '1.0.0',
    source: 'network',
    storage: 'cache',
    runtime: { name: 'onnxruntime-web', backend: 'wasm' },
  });
  expect(result.info.gate).toMatchObject({ passed: true, endToEnd: { mismatches: 0 }, metric: { name: 'accuracy', passed: true } });

  for (const predictions of [result.batch, result.single]) {
    expect(predictions).toHaveLength(e2eSet.rows.length);
    predictions.forEach((prediction, r) => {
      if (prediction.kind !== 'classification') throw new Error('expected a classification');
      expect(prediction.label).toBe(e2eSet.expected.label[r]);
      classes.forEach((name, c) =>
        expect(Math.abs(prediction.probabilities[name]! - e2eSet.expected.probabilities[r]![c]!)).toBeLessThanOrEqual(1e-5),
      );
    });
  }
});

test('bad rows get typed errors on the main thread, and the worker keeps serving', async ({ page }) => {
  await openHarness(page);
  const good = e2eSet.rows[6]!;
  const outcomes = await page.evaluate(
    async ({ channel, good }) => {
      const { load, InputError, OndeviceError } = window.ondevice;
      const model = await load(channel);
      const bad: [string, unknown][] = [
        ['missing field', Object.fromEntries(Object.entries(good).filter(([k]) => k !== 'island'))],
        ['wrong type', { ...good, body_mass_g: 'heavy' }],
        ['unknown category', { ...good, island: 'Atlantis' }],
        ['NaN', { ...good, bill_length_mm: Number.NaN }],
        ['Infinity', { ...good, bill_depth_mm: Number.NEGATIVE_INFINITY }],
        ['extra field', { ...good, year: 2009 }],
        ['__proto__ key', JSON.parse(`{"__proto__": {"polluted": true}, ${JSON.stringify(good).slice(1)}`)],
        ['10 MB string', { ...good, sex: 'f'.repeat(10 * 1024 * 1024) }],
        ['not an object', 'penguin'],
      ];
      const results = [];
      for (const [what, row] of bad) {
        try {
          await model.predict(row as Record<string, unknown>);
          results.push({ what, thrown: false });
        } catch (error) {
          results.push({
            what,
            thrown: true,
            isInputError: error instanceof InputError,
            isOndeviceError: error instanceof OndeviceError,
            name: (error as Error).name,
            code: (error as InstanceType<typeof InputError>).code,
            details: (error as InstanceType<typeof InputError>).details,
          });
        }
        // After every bad call the same worker still answers a good one.
        const next = await model.predict(good);
        results.push({ what: `${what}: then a good row`, thrown: false, label: next.kind === 'classification' ? next.label : '' });
      }
      let batchError: unknown;
      await model.predictBatch([good, good, { ...good, sex: 7 }]).catch((error: unknown) => (batchError = error));
      return {
        results,
        batch: {
          code: (batchError as InstanceType<typeof InputError>).code,
          details: (batchError as InstanceType<typeof InputError>).details,
        },
      };
    },
    { channel: CHANNEL, good },
  );

  const expected: Record<string, [string, string | undefined]> = {
    'missing field': ['MISSING_FIELD', 'island'],
    'wrong type': ['WRONG_TYPE', 'body_mass_g'],
    'unknown category': ['UNKNOWN_CATEGORY', 'island'],
    NaN: ['NOT_FINITE', 'bill_length_mm'],
    Infinity: ['NOT_FINITE', 'bill_depth_mm'],
    'extra field': ['UNEXPECTED_FIELD', 'year'],
    '__proto__ key': ['FORBIDDEN_KEY', '__proto__'],
    '10 MB string': ['VALUE_TOO_LONG', 'sex'],
    'not an object': ['INVALID_ROW', undefined],
  };
  for (const outcome of outcomes.results) {
    if (outcome.what.endsWith('then a good row')) {
      expect(outcome, outcome.what).toMatchObject({ thrown: false, label: e2eSet.expected.label[6] });
      continue;
    }
    const [code, field] = expected[outcome.what]!;
    expect(outcome, outcome.what).toMatchObject({ thrown: true, isInputError: true, isOndeviceError: true, name: 'InputError', code });
    expect(outcome.details, outcome.what).toMatchObject({ row: 0, ...(field ? { field } : {}) });
  }
  expect(outcomes.batch).toEqual({
    code: 'WRONG_TYPE',
    details: { row: 2, field: 'sex', expected: 'string', reason: 'field "sex" must be a string or null, got number 7' },
  });
});

test('a tampered model file is refused, nothing is installed, and the genuine one loads after', async ({ page, context }) => {
  await context.route('**/bundles/penguins/1.0.0/model.onnx', async (route) => {
    const response = await route.fetch();
    const body = await response.body();
    body[body.length - 9] = body[body.length - 9]! ^ 0x01;
    await route.fulfill({ response, body });
  });
  await openHarness(page);
  const refused = await page.evaluate(async (channel) => {
    try {
      await window.ondevice.load(channel);
      return { thrown: false };
    } catch (error) {
      const e = error as InstanceType<typeof window.ondevice.BundleError>;
      return {
        thrown: true,
        isBundleError: error instanceof window.ondevice.BundleError,
        code: e.code,
        url: e.details.url,
        stored: await window.ondeviceTesting.storage.storedVersions(),
      };
    }
  }, CHANNEL);
  expect(refused).toMatchObject({ thrown: true, isBundleError: true, code: 'INTEGRITY_MISMATCH' });
  expect(String(refused.url)).toMatch(/model\.onnx$/);
  expect(refused.stored).toBe(0);

  await context.unrouteAll();
  const info = await page.evaluate(async (channel) => (await window.ondevice.load(channel)).info(), CHANNEL);
  expect(info).toMatchObject({ version: '1.0.0', source: 'network', storage: 'cache' });
});

test('a version that fails its gate is refused with a GateError naming the check', async ({ page, context }) => {
  // A consistent, correctly hashed bundle whose confidence-set range the model cannot meet.
  const { out, result } = await packToTemp();
  const manifest = JSON.parse(await readFile(result.manifestPath, 'utf8'));
  manifest.gate.metric.range = [0, 0.5];
  const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
  const { sha256Hex } = await import('../src/bundle/hash.js');
  const channel = JSON.parse(await readFile(join(out, 'penguins', 'channel.json'), 'utf8'));
  channel.live.sha256 = await sha256Hex(new TextEncoder().encode(manifestText));
  await context.route('**/strict-bundle/**', async (route) => {
    const name = new URL(route.request().url()).pathname.split('/strict-bundle/')[1]!;
    if (name === 'channel.json') return route.fulfill({ json: channel });
    if (name === '1.0.0/manifest.json') return route.fulfill({ body: manifestText, contentType: 'application/json' });
    return route.fulfill({ path: join(out, 'penguins', name) });
  });
  await openHarness(page);
  const refused = await page.evaluate(async () => {
    try {
      await window.ondevice.load('strict-bundle/channel.json');
      return { thrown: false };
    } catch (error) {
      const e = error as InstanceType<typeof window.ondevice.GateError>;
      return {
        thrown: true,
        isGateError: error instanceof window.ondevice.GateError,
        code: e.code,
        details: e.details,
        message: e.message,
      };
    }
  });
  expect(refused).toMatchObject({
    thrown: true,
    isGateError: true,
    code: 'GATE_METRIC_OUT_OF_RANGE',
    details: { metric: 'accuracy', value: 1, range: [0, 0.5] },
  });
});

test('later loads start from the cache with no network; damaged storage is detected and replaced', async ({ page, context }) => {
  await openHarness(page);
  const firstPrediction = (channel: string, row: Record<string, unknown>) =>
    page.evaluate(
      async ({ channel, row }) => {
        const started = performance.now();
        // No background update check: this measures a start with no network at all.
        const model = await window.ondevice.load(channel, { checkForUpdates: false });
        await model.predict(row);
        const ms = performance.now() - started;
        const info = await model.info();
        await model.dispose();
        return { ms, info };
      },
      { channel, row },
    );

  const cold = await firstPrediction(CHANNEL, e2eSet.rows[0]!);
  expect(cold.info.source).toBe('network');

  // From here on the bundle may not come from the network: any request for it fails and is counted.
  let bundleRequests = 0;
  await context.route('**/bundles/**', (route) => {
    bundleRequests++;
    return route.abort('internetdisconnected');
  });
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  const warm = await firstPrediction(CHANNEL, e2eSet.rows[0]!);
  expect(warm.info.source).toBe('cache');
  expect(warm.info.gate.passed).toBe(true);
  expect(bundleRequests).toBe(0);
  test.info().annotations.push({
    type: 'load() to first prediction',
    description: `cold ${cold.ms.toFixed(0)} ms, warm ${warm.ms.toFixed(0)} ms, bundle ${cold.info.bundleBytes} bytes`,
  });
  console.log(
    `load() to first prediction: cold (network) ${cold.ms.toFixed(1)} ms, warm (cache) ${warm.ms.toFixed(1)} ms; bundle ${cold.info.bundleBytes} bytes`,
  );

  // Storage altered behind the library's back: verified on read, dropped, fetched again.
  await context.unrouteAll();
  const repaired = await page.evaluate(async (channel) => {
    await window.ondeviceTesting.storage.corrupt('model.onnx');
    const model = await window.ondevice.load(channel);
    return model.info();
  }, CHANNEL);
  expect(repaired).toMatchObject({ source: 'network', storage: 'cache', gate: { passed: true } });
});

import { expect, type Page } from '@playwright/test';
import { test } from './support/deployment-test.js';
import { newKey } from './support/deploy.js';
import type { BundleServer } from './support/server.js';
import { e2eSet } from './fixtures.js';

test.use({ serviceWorkers: 'block' });

const row = e2eSet.rows[3]!;

interface LoadResult {
  ok: boolean;
  version?: string;
  source?: string;
  storage?: string;
  persisted?: boolean;
  name?: string;
  code?: string;
  message?: string;
}

/** Loads the channel in the page (kept as window.model) and reports the outcome, never throwing. */
async function loadModel(
  page: Page,
  server: BundleServer,
  channelUrl: string,
  options: { publicKeys?: string[]; checkForUpdates?: boolean; keepVersions?: number; persistStorage?: boolean } = {},
): Promise<LoadResult> {
  if (!page.url().startsWith(server.origin)) {
    await page.goto(`${server.origin}/harness.html`);
    await page.waitForFunction(() => document.body.dataset.ready === 'true');
  }
  return page.evaluate(
    async ({ channelUrl, options }) => {
      window.events = [];
      try {
        const model = await window.ondevice.load(channelUrl, { checkForUpdates: false, ...options });
        window.model = model;
        for (const type of ['update-available', 'installed', 'activated', 'rejected', 'stale'] as const) {
          model.on(type, (event) => window.events!.push(event as { type: string; version?: string; code?: string }));
        }
        const info = await model.info();
        return {
          ok: true,
          version: info.version,
          source: info.source,
          storage: info.storage,
          ...(info.persisted === undefined ? {} : { persisted: info.persisted }),
        };
      } catch (error) {
        const e = error as { name: string; code: string; message: string };
        return { ok: false, name: e.name, code: e.code, message: e.message };
      }
    },
    { channelUrl, options },
  );
}

async function update(page: Page) {
  return page.evaluate(async () => {
    const result = await window.model!.update();
    return {
      ...result,
      serving: (await window.model!.info()).version,
      events: window.events!.map((e) => `${e.type}${e.version ? ` ${e.version}` : ''}`),
    };
  });
}

async function predictWorks(page: Page): Promise<string> {
  return page.evaluate(async (row) => {
    const prediction = await window.model!.predict(row);
    return prediction.kind === 'classification' ? prediction.label : 'regression';
  }, row);
}

const storedVersions = (page: Page) => page.evaluate(() => window.ondeviceTesting.storage.storedVersions());

test('a flipped byte in any file of a signed bundle is refused, and nothing is installed', async ({
  page,
  deployment,
  server,
  channelUrl,
}) => {
  const key = newKey();
  await deployment.publish('1.0.0');
  await deployment.sign(key);
  const files = [
    'channel.json',
    'channel.json.sig',
    '1.0.0/manifest.json',
    '1.0.0/manifest.json.sig',
    'model.onnx',
    'feature-spec.json',
    'e2e-set.json',
    'confidence-set.json',
  ];
  let seed = 7;
  for (const file of files) {
    // A different byte of each file, reproducibly.
    seed = (seed * 1103515245 + 12345) % 2147483648;
    server.faults.flip = { path: file, index: seed };
    const result = await loadModel(page, server, channelUrl, { publicKeys: [key.publicKey] });
    expect(result, `${file} with byte ${seed} flipped`).toMatchObject({ ok: false, name: 'BundleError' });
    expect(['INTEGRITY_MISMATCH', 'SIGNATURE_INVALID', 'INVALID_CHANNEL', 'INVALID_MANIFEST', 'FETCH_FAILED']).toContain(result.code);
    expect(await storedVersions(page)).toBe(0);
  }
  server.faults.flip = undefined;
  expect(await loadModel(page, server, channelUrl, { publicKeys: [key.publicKey] })).toMatchObject({
    ok: true,
    version: '1.0.0',
    source: 'network',
  });
});

test('a bad signature or an unsigned bundle is refused when the app pins a key', async ({ page, deployment, server, channelUrl }) => {
  await deployment.publish('1.0.0');
  const pinned = newKey();
  expect(await loadModel(page, server, channelUrl, { publicKeys: [pinned.publicKey] })).toMatchObject({
    ok: false,
    code: 'SIGNATURE_INVALID',
  });
  await deployment.sign(newKey());
  const other = await loadModel(page, server, channelUrl, { publicKeys: [pinned.publicKey] });
  expect(other).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
  expect(other.message).toContain('not signed by any pinned key');
  await deployment.sign(pinned);
  expect(await loadModel(page, server, channelUrl, { publicKeys: [pinned.publicKey] })).toMatchObject({ ok: true });
});

test('an update is downloaded, gated and swapped in while calls keep succeeding', async ({ page, deployment, server, channelUrl }) => {
  await deployment.publish('1.0.0');
  expect(await loadModel(page, server, channelUrl)).toMatchObject({ ok: true, version: '1.0.0' });
  await deployment.publish('1.1.0');
  const outcome = await page.evaluate(async (row) => {
    const model = window.model!;
    let failures = 0;
    let calls = 0;
    let running = true;
    const versionsSeen = new Set<string>();
    // Calls in flight all through the update: none may fail.
    const loop = (async () => {
      while (running) {
        await Promise.all(
          Array.from({ length: 8 }, () =>
            model.predict(row).then(
              () => calls++,
              () => failures++,
            ),
          ),
        );
      }
    })();
    const result = await model.update();
    versionsSeen.add((await model.info()).version);
    running = false;
    await loop;
    return { result, calls, failures, serving: [...versionsSeen], events: window.events!.map((e) => `${e.type} ${e.version}`) };
  }, row);
  expect(outcome.failures).toBe(0);
  expect(outcome.calls).toBeGreaterThan(0);
  expect(outcome.result).toMatchObject({ status: 'activated', version: '1.1.0' });
  expect(outcome.serving).toEqual(['1.1.0']);
  expect(outcome.events).toEqual(['update-available 1.1.0', 'installed 1.1.0', 'activated 1.1.0']);
  expect(await predictWorks(page)).toBe(e2eSet.expected.label[3]);

  // The next start goes straight to the new version, from the cache, with the server gone.
  server.faults.down = true;
  await page.reload();
  expect(await loadModel(page, server, channelUrl)).toMatchObject({ ok: true, version: '1.1.0', source: 'cache' });
});

test('a download cut part-way leaves the live version serving; a later retry installs', async ({
  page,
  deployment,
  server,
  channelUrl,
}) => {
  await deployment.publish('1.0.0');
  expect(await loadModel(page, server, channelUrl)).toMatchObject({ ok: true, version: '1.0.0' });
  await deployment.publish('1.1.0');
  server.faults.noRanges = true;
  server.faults.cut = { path: '1.1.0/confidence-set.json', bytes: 1 + Math.floor(Math.random() * 14_000), times: 1 };
  const cut = await update(page);
  expect(cut).toMatchObject({ status: 'failed', code: 'FETCH_FAILED', serving: '1.0.0' });
  expect(await predictWorks(page)).toBe(e2eSet.expected.label[3]);
  expect(await storedVersions(page)).toBe(1);

  const retry = await update(page);
  expect(retry).toMatchObject({ status: 'activated', version: '1.1.0', serving: '1.1.0' });
});

test('a cut download resumes with a range request where the server allows it', async ({ page, deployment, server, channelUrl }) => {
  await deployment.publish('1.0.0');
  expect(await loadModel(page, server, channelUrl)).toMatchObject({ ok: true });
  await deployment.publish('1.1.0');
  const bytes = 1 + Math.floor(Math.random() * 14_000);
  server.faults.cut = { path: '1.1.0/confidence-set.json', bytes, times: 1 };
  expect(await update(page)).toMatchObject({ status: 'activated', version: '1.1.0' });
  const ranged = server.requests.filter((r) => r.path.endsWith('1.1.0/confidence-set.json') && r.range !== undefined);
  expect(ranged.length).toBe(1);
  // Resumed from where the cut left it, not from the start.
  expect(Number(/bytes=(\d+)-/.exec(ranged[0]!.range!)![1])).toBe(bytes);
});

test('a version that fails its gate is rejected; the old one keeps serving, also after a restart', async ({
  page,
  deployment,
  server,
  channelUrl,
}) => {
  await deployment.publish('1.0.0');
  expect(await loadModel(page, server, channelUrl)).toMatchObject({ ok: true, version: '1.0.0' });
  await deployment.publish('1.2.0', { gateRange: [0, 0.5] });
  const rejected = await update(page);
  expect(rejected).toMatchObject({ status: 'rejected', version: '1.2.0', code: 'GATE_METRIC_OUT_OF_RANGE', serving: '1.0.0' });
  expect(rejected.events).toEqual(['update-available 1.2.0', 'installed 1.2.0', 'rejected 1.2.0']);
  expect(await predictWorks(page)).toBe(e2eSet.expected.label[3]);
  expect(await storedVersions(page)).toBe(1);
  // Not downloaded again on the next check.
  const before = server.requests.length;
  expect(await update(page)).toMatchObject({ status: 'rejected', version: '1.2.0' });
  expect(server.requests.slice(before).map((r) => r.path)).toEqual(['/deploy/penguins/channel.json']);

  await page.reload();
  expect(await loadModel(page, server, channelUrl)).toMatchObject({ ok: true, version: '1.0.0', source: 'cache' });
});

test('an older version, a replayed channel and a mixed-release manifest are refused; a signed rollback is taken', async ({
  page,
  deployment,
  server,
  channelUrl,
}) => {
  const key = newKey();
  await deployment.publish('1.0.0');
  const first = await deployment.channel();
  await deployment.publish('1.1.0');
  await deployment.sign(key);
  expect(await loadModel(page, server, channelUrl, { publicKeys: [key.publicKey] })).toMatchObject({ ok: true, version: '1.1.0' });

  // Older, not a rollback.
  await deployment.writeChannel({ sequence: 3, live: { version: '1.0.0' } }, '1.0.0');
  await deployment.sign(key);
  expect(await update(page)).toMatchObject({ status: 'failed', code: 'ROLLBACK_REFUSED', serving: '1.1.0' });

  // A channel older than one already seen (sequence 1 < 2), even if genuinely signed.
  const { live: firstLive, ...firstRest } = first;
  await deployment.writeChannel({ ...firstRest, sequence: 1, live: firstLive });
  await deployment.sign(key);
  expect(await update(page)).toMatchObject({ status: 'failed', code: 'CHANNEL_REPLAYED', serving: '1.1.0' });

  // Mixed release: the channel names 1.2.0 but pins 1.0.0's manifest (its hash matches).
  await deployment.writeChannel({ sequence: 4, live: { version: '1.2.0' } }, '1.0.0');
  await deployment.sign(key);
  expect(await update(page)).toMatchObject({ status: 'failed', code: 'INVALID_MANIFEST', serving: '1.1.0' });

  // An explicit rollback, signed by the pinned key: taken.
  await deployment.writeChannel(
    { sequence: 5, live: { version: '1.0.0' }, rollback: { from: '1.1.0', reason: 'tests: 1.1.0 misbehaves' } },
    '1.0.0',
  );
  await deployment.sign(key);
  expect(await update(page)).toMatchObject({ status: 'activated', version: '1.0.0', serving: '1.0.0' });
});

test('an unsigned rollback is refused; an expired channel is reported stale', async ({ page, deployment, server, channelUrl }) => {
  await deployment.publish('1.0.0');
  await deployment.publish('1.1.0');
  expect(await loadModel(page, server, channelUrl)).toMatchObject({ ok: true, version: '1.1.0' });
  await deployment.writeChannel({ sequence: 3, live: { version: '1.0.0' }, rollback: { from: '1.1.0', reason: 'unsigned' } }, '1.0.0');
  expect(await update(page)).toMatchObject({ status: 'failed', code: 'ROLLBACK_REFUSED', serving: '1.1.0' });

  await deployment.writeChannel({ sequence: 4, expires: '2020-01-01T00:00:00Z', rollback: null, live: { version: '1.1.0' } }, '1.1.0');
  const stale = await update(page);
  expect(stale).toMatchObject({ status: 'up-to-date', stale: true });
  expect(stale.events).toContain('stale');
  expect(await page.evaluate(async () => (await window.model!.info()).channel)).toEqual({ sequence: 4, stale: true });
});

test('old versions are evicted beyond keepVersions; a full quota serves from memory', async ({ page, deployment, server, channelUrl }) => {
  await deployment.publish('1.0.0');
  const first = await loadModel(page, server, channelUrl, { keepVersions: 2, persistStorage: true });
  expect(first).toMatchObject({ ok: true });
  // Whether the browser grants it is the browser's call; that it was asked and answered is ours.
  expect(typeof first.persisted).toBe('boolean');
  for (const version of ['1.1.0', '1.2.0', '1.3.0']) {
    await deployment.publish(version);
    expect(await update(page)).toMatchObject({ status: 'activated', version });
  }
  expect(await storedVersions(page)).toBe(2);
  const installed = await page.evaluate(async () => (await window.model!.info()).installed.map((v) => `${v.version}:${v.stored}`).sort());
  expect(installed).toEqual(['1.0.0:false', '1.1.0:false', '1.2.0:true', '1.3.0:true']);

  // A real quota error (Chromium's storage quota for this origin set to a few bytes), on a device with nothing stored yet.
  const context2 = await page.context().browser()!.newContext({ serviceWorkers: 'block' });
  const page2 = await context2.newPage();
  const client = await context2.newCDPSession(page2);
  await page2.goto(`${server.origin}/harness.html`);
  await client.send('Storage.overrideQuotaForOrigin', { origin: server.origin, quotaSize: 2048 });
  const result = await loadModel(page2, server, channelUrl);
  expect(result).toMatchObject({ ok: true, version: '1.3.0', storage: 'memory' });
  expect(await predictWorks(page2)).toBe(e2eSet.expected.label[3]);
  await context2.close();
});

import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import { ENGINES, launchEngine, type EngineBrowser, type EnginePage } from './engines/engines.js';
import { e2eSet } from './fixtures.js';
import { Deployment } from './support/deploy.js';
import { startBundleServer, type BundleServer } from './support/server.js';
import { streamFolders } from '../test/parity.js';

// The scenarios that matter to an app, in each engine its users have: Chromium (Playwright),
// Firefox ESR (puppeteer-core over WebDriver BiDi) and WebKitGTK, Safari's engine (WebKitWebDriver).
// The page side of each scenario is demo/scenarios.ts, on the test harness page.
const APP = fileURLToPath(new URL('../dist/demo/', import.meta.url));
const GOOD = e2eSet.rows[3]!;
const TOLERANCE = 1e-5;
/** The tone detector's stream: PyTorch's probability at every step. */
const TONE = (await streamFolders()).find((f) => f.name === 'tone-detector')!.parity;

/** What each engine showed, printed once its tests are done (the README's engine table comes from these lines). */
const seen = new Map<string, Record<string, unknown>>();

/** Calls a scenario of demo/scenarios.ts in the page. */
function scenario<T>(page: EnginePage, name: string, args: unknown = {}): Promise<T> {
  return page.evaluate<T>(`window.ondeviceScenarios.${name}(${JSON.stringify(args)})`);
}

/** What the page shows, for a wait that times out: the page's text, short. */
const PAGE_TEXT = `document.body.innerText.replace(/\\s+/g, ' ').slice(0, 600)`;

async function until(page: EnginePage, expression: string, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate<boolean>(expression).catch(() => false))) {
    if (Date.now() > deadline) {
      const shown = await page.evaluate<string>(PAGE_TEXT).catch((error: unknown) => `(unreadable: ${String(error)})`);
      throw new Error(`${what} did not happen within ${timeoutMs} ms; the page shows: ${shown}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

interface Scored {
  label?: string;
  probabilities?: number[];
}

function maxDifference(answers: Scored[]): number {
  return Math.max(
    ...answers.map((answer, r) => Math.max(...answer.probabilities!.map((p, c) => Math.abs(p - e2eSet.expected.probabilities[r]![c]!)))),
  );
}

for (const engine of ENGINES) {
  test.describe(engine, () => {
    test.describe.configure({ mode: 'serial', timeout: 120_000 });
    let browser: EngineBrowser;
    let server: BundleServer;
    let deployment: Deployment;
    let page: EnginePage | undefined;
    const facts: Record<string, unknown> = {};

    test.beforeAll(async () => {
      test.setTimeout(120_000);
      browser = await launchEngine(engine);
      facts.version = browser.version;
    });

    test.beforeEach(async () => {
      deployment = await Deployment.create();
      // Cross-origin isolated, as the demo is served: threads where the engine has SharedArrayBuffer.
      server = await startBundleServer(APP, deployment.dir, { isolated: true });
      page = await browser.newPage();
    });

    test.afterEach(async () => {
      await page?.close();
      server.releaseHeld();
      await server.close();
    });

    test.afterAll(async () => {
      await browser?.close();
      seen.set(engine, facts);
      console.log(`${engine}: ${JSON.stringify(facts)}`);
    });

    test('loads and gates; single predictions and a batch match the research pipeline; a bad row gets a typed error and the worker keeps serving', async () => {
      await page!.goto(`${server.origin}/harness.html`);
      await until(page!, `document.body.dataset.ready === 'true'`, 'the harness page');
      const bad = { ...GOOD, island: 'Atlantis' };
      const result = await scenario<{
        info: {
          gatePassed: boolean;
          runtime: { backend: string; threads: number; threadsLimitedBy?: string };
          crossOriginIsolated: boolean;
        };
        single: Scored[];
        batch: Scored[];
        refused: { name: string; code: string; row: number; field: string };
        after: Scored;
      }>(page!, 'loadAndScore', { channel: 'bundles/penguins/channel.json', rows: e2eSet.rows, bad });
      expect(result.info.gatePassed).toBe(true);
      // Firefox's workers could freeze starting workers of their own: one thread there, and the reason said.
      if (engine === 'firefox')
        expect(result.info.runtime).toMatchObject({ threads: 1, threadsLimitedBy: expect.stringContaining('Firefox') });
      expect(result.single.map((p) => p.label)).toEqual(e2eSet.expected.label);
      expect(result.batch.map((p) => p.label)).toEqual(e2eSet.expected.label);
      expect(maxDifference(result.single)).toBeLessThanOrEqual(TOLERANCE);
      expect(maxDifference(result.batch)).toBeLessThanOrEqual(TOLERANCE);
      expect(result.refused).toEqual(expect.objectContaining({ name: 'InputError', code: 'UNKNOWN_CATEGORY', row: 0, field: 'island' }));
      expect(result.after.label).toBe(e2eSet.expected.label[0]);
      Object.assign(facts, {
        backend: result.info.runtime.backend,
        threads: result.info.runtime.threads,
        ...(result.info.runtime.threadsLimitedBy === undefined ? {} : { threadsLimitedBy: result.info.runtime.threadsLimitedBy }),
        crossOriginIsolated: result.info.crossOriginIsolated,
        maxDifference: Math.max(maxDifference(result.single), maxDifference(result.batch)),
      });
    });

    test('a streaming session carries its state over 150 steps, equal to PyTorch; a constant sent is refused by class', async () => {
      await page!.goto(`${server.origin}/harness.html`);
      await until(page!, `document.body.dataset.ready === 'true'`, 'the harness page');
      const stream = TONE.stream as { rows: { frame: number[] }[]; probability: number[] };
      const result = await scenario<{
        gatePassed: boolean;
        probabilities: number[];
        stateDims: number[] | null;
        refused: { name: string; code: string; field: string };
      }>(page!, 'stream', { channel: 'bundles/tone-detector/channel.json', frames: stream.rows.slice(0, 150).map((r) => r.frame) });
      expect(result.gatePassed).toBe(true);
      const worst = Math.max(...result.probabilities.map((p, i) => Math.abs(p - stream.probability[i]!)));
      expect(worst).toBeLessThanOrEqual(1e-4);
      expect(result.stateDims).toEqual([2, 1, 24]);
      expect(result.refused).toMatchObject({ name: 'InputError', code: 'CONSTANT_INPUT', field: 'sr' });
      Object.assign(facts, { sessionMaxDifference: worst });
    });

    test('what the engine offers: WebGPU, SharedArrayBuffer, and shard workers for a large batch', async () => {
      await page!.goto(`${server.origin}/harness.html`);
      await until(page!, `document.body.dataset.ready === 'true'`, 'the harness page');
      const offered = await scenario<{
        webgpu: boolean;
        sharedArrayBuffer: boolean;
        cores: number;
        shards?: { workers: number; state: string; batches: number; reason?: string };
        sameAnswers: boolean;
      }>(page!, 'capabilities', { channel: 'bundles/penguins/channel.json', rows: e2eSet.rows });
      expect(offered.sameAnswers).toBe(true);
      // Shards on every engine with two or more cores (module workers started by a worker); none by
      // default in Firefox, whose workers could freeze starting workers of their own.
      if (engine === 'firefox') expect(offered.shards).toBeUndefined();
      else if (offered.cores >= 2) expect(offered.shards).toMatchObject({ state: 'ready', batches: 1 });
      Object.assign(facts, {
        webgpu: offered.webgpu,
        sharedArrayBuffer: offered.sharedArrayBuffer,
        shards: offered.shards === undefined ? 'none by default' : `${offered.shards.state}, ${offered.shards.workers} workers`,
      });
    });

    test('a second start comes from the cache, without a request for the bundle', async () => {
      await deployment.publish('1.0.0');
      const channel = `${server.origin}/deploy/penguins/channel.json`;
      await page!.goto(`${server.origin}/harness.html`);
      await until(page!, `document.body.dataset.ready === 'true'`, 'the harness page');
      expect(await scenario(page!, 'startOnce', { channel, row: GOOD })).toMatchObject({ source: 'network', version: '1.0.0' });
      server.requests.length = 0;
      await page!.goto(`${server.origin}/harness.html`);
      await until(page!, `document.body.dataset.ready === 'true'`, 'the harness page');
      expect(await scenario(page!, 'startOnce', { channel, row: GOOD })).toMatchObject({
        source: 'cache',
        version: '1.0.0',
        answer: { label: e2eSet.expected.label[3] },
      });
      expect(server.requests).toEqual([]);
      facts.cacheStart = true;
    });

    test('an update is swapped in while calls succeed; dispose() during the next check leaves nothing running, activated or stored', async () => {
      await deployment.publish('1.0.0');
      const channel = `${server.origin}/deploy/penguins/channel.json`;
      await page!.goto(`${server.origin}/harness.html`);
      await until(page!, `document.body.dataset.ready === 'true'`, 'the harness page');
      expect(await scenario(page!, 'keep', { channel })).toBe('1.0.0');
      await deployment.publish('1.1.0');
      const updated = await scenario<{
        result: { status: string; version: string };
        calls: number;
        failures: number;
        serving: string;
        events: string[];
      }>(page!, 'updateWhileCalling', { row: GOOD });
      expect(updated.failures).toBe(0);
      expect(updated.calls).toBeGreaterThan(0);
      expect(updated.result).toMatchObject({ status: 'activated', version: '1.1.0' });
      expect(updated.serving).toBe('1.1.0');
      expect(updated.events).toEqual(['update-available 1.1.0', 'installed 1.1.0', 'activated 1.1.0']);

      // The next version's model is held by the server: the check is still downloading when dispose() comes.
      await deployment.publish('1.2.0');
      server.faults.hold = '1.2.0/model.onnx';
      const disposed = await scenario<{ result: { status: string; code: string }; errors: string[]; afterDispose: { code: string } }>(
        page!,
        'disposeDuringUpdate',
      );
      expect(disposed.errors).toEqual([]);
      expect(disposed.afterDispose).toMatchObject({ code: 'DISPOSED' });
      server.releaseHeld();
      expect(await scenario(page!, 'storedVersions', { channel })).toEqual(['1.0.0 good', '1.1.0 good']);
      expect(await scenario(page!, 'startOnce', { channel, row: GOOD })).toMatchObject({ source: 'cache', version: '1.1.0' });
      facts.updateUnderLoad = `${updated.calls} calls, 0 failed`;
    });

    test('the demo reloads offline and predicts from the cache', async () => {
      await page!.goto(`${server.origin}/index.html`);
      await until(page!, `document.body.dataset.state === 'ready'`, 'the demo');
      expect(await scenarioOnDemo(page!)).toBe(true);
      server.faults.offline = true;
      await page!.goto(`${server.origin}/index.html`);
      await until(page!, `document.body.dataset.state === 'ready'`, 'the demo, offline');
      expect(await page!.evaluate(`document.querySelector('[data-testid=status]').dataset.source`)).toBe('cache');
      await page!.evaluate(`(document.querySelector('#label').textContent = '', document.querySelector('#predict').click(), true)`);
      await until(page!, `/^(Adelie|Chinstrap|Gentoo)$/.test(document.querySelector('#label').textContent)`, 'a prediction offline');
      // The demo's second model (a tensor model) starts offline too.
      await until(page!, `document.querySelector('#digits').dataset.state === 'ready'`, 'the digits model, offline');
      facts.offlineReload = true;
    });
  });
}

/** The demo page registers the app's service worker; wait until it controls the page. */
async function scenarioOnDemo(page: EnginePage): Promise<boolean> {
  return page.evaluate<boolean>(
    `(async () => { await navigator.serviceWorker.ready; for (let i = 0; i < 100 && navigator.serviceWorker.controller === null; i++) await new Promise((r) => setTimeout(r, 100)); return navigator.serviceWorker.controller !== null; })()`,
  );
}

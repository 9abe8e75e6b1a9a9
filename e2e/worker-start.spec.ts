import { expect, test, type Page } from '@playwright/test';
import { CHANNEL, openHarness } from './fixtures.js';

// No service worker: each case is about what the network (or the policy) does to the worker's script.
test.use({ serviceWorkers: 'block' });

/** The ondevice worker's script: `entry-<hash>.js` in the build (not the shard worker's). */
const WORKER_SCRIPT = /\/assets\/entry-[^/]*\.js$/;

interface Outcome {
  readonly name: string;
  readonly code: string;
  readonly url: unknown;
  readonly message: string;
  readonly ms: number;
}

/** Calls load() and reports how it failed, and how long it took; null if it loaded. */
async function failedLoad(page: Page, options: { workerStartTimeoutMs?: number } = {}): Promise<Outcome | null> {
  return page.evaluate(
    async ({ channel, options }) => {
      const started = performance.now();
      try {
        const model = await window.ondevice.load(channel, options);
        await model.dispose();
        return null;
      } catch (error) {
        const e = error as { name: string; code: string; message: string; details?: { url?: unknown } };
        return { name: e.name, code: e.code, url: e.details?.url, message: e.message, ms: performance.now() - started };
      }
    },
    { channel: CHANNEL, options },
  );
}

function expectWorkerLoadFailed(outcome: Outcome | null): void {
  expect(outcome).toMatchObject({ name: 'ScoringError', code: 'WORKER_LOAD_FAILED' });
  expect(String(outcome!.url)).toMatch(WORKER_SCRIPT);
  expect(outcome!.message).toContain(String(outcome!.url));
}

test('a worker script that is not found rejects load() with WORKER_LOAD_FAILED and its URL', async ({ page }) => {
  await openHarness(page);
  await page.route(WORKER_SCRIPT, (route) => route.fulfill({ status: 404, body: 'not found' }));
  const outcome = await failedLoad(page);
  expectWorkerLoadFailed(outcome);
  // The page did not wait out the start timeout: the failure itself ended the wait.
  expect(outcome!.ms).toBeLessThan(10_000);
});

test('an aborted request for the worker script rejects load() with WORKER_LOAD_FAILED', async ({ page }) => {
  await openHarness(page);
  await page.route(WORKER_SCRIPT, (route) => route.abort('connectionreset'));
  expectWorkerLoadFailed(await failedLoad(page));
});

test('offline, without a service worker, load() rejects with WORKER_LOAD_FAILED instead of hanging', async ({ page, context }) => {
  await openHarness(page);
  await context.setOffline(true);
  expectWorkerLoadFailed(await failedLoad(page));
  await context.setOffline(false);
  // Back online, the same page loads the model.
  expect(await failedLoad(page)).toBeNull();
});

test('a Content-Security-Policy that blocks workers rejects load() with WORKER_LOAD_FAILED', async ({ page }) => {
  await page.route(/\/harness\.html$/, async (route) => {
    const response = await route.fetch();
    await route.fulfill({
      response,
      headers: {
        ...response.headers(),
        'content-security-policy': "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'none'",
      },
    });
  });
  await openHarness(page);
  expectWorkerLoadFailed(await failedLoad(page));
});

test('a worker script that never answers rejects load() once workerStartTimeoutMs has passed', async ({ page }) => {
  await openHarness(page);
  // The request is held, never answered: only the timeout ends the wait.
  await page.route(WORKER_SCRIPT, () => undefined);
  const outcome = await failedLoad(page, { workerStartTimeoutMs: 1_500 });
  expectWorkerLoadFailed(outcome);
  expect(outcome!.message).toContain('did not answer within 1500 ms');
  expect(outcome!.ms).toBeGreaterThanOrEqual(1_400);
});

test('dispose() settles even when the worker has stopped answering', async ({ page }) => {
  await openHarness(page);
  const settled = await page.evaluate(async (channel) => {
    let worker: Worker | undefined;
    const model = await window.ondevice.load(channel, {
      // The app's own worker, built by the app's bundler from the library's entry.
      worker: () => (worker = window.ondeviceTesting.startWorker()),
    });
    const answer = await model.predict({
      island: 'Biscoe',
      sex: null,
      bill_length_mm: 46.5,
      bill_depth_mm: 14.8,
      flipper_length_mm: 215,
      body_mass_g: 5000,
    });
    worker!.terminate();
    const started = performance.now();
    await model.dispose();
    return { label: answer.kind === 'classification' ? answer.label : null, ms: performance.now() - started };
  }, CHANNEL);
  expect(settled.label).toBe('Gentoo');
  expect(settled.ms).toBeLessThan(15_000);
});

import { expect, type Page } from '@playwright/test';
import { test } from './support/deployment-test.js';
import type { Deployment } from './support/deploy.js';
import type { BundleServer } from './support/server.js';
import { e2eSet } from './fixtures.js';

test.use({ serviceWorkers: 'block' });

const rows = e2eSet.rows;

/** 1.0.0 live, 1.1.0 packed beside it and offered as a candidate under `rollout`. */
async function withCandidate(deployment: Deployment, rollout: object): Promise<void> {
  await deployment.publish('1.0.0');
  await deployment.publish('1.1.0', { promote: false });
  const current = await deployment.channel();
  await deployment.writeChannel({ sequence: current.sequence + 1, candidates: [await deployment.entry('1.1.0')], rollout } as never);
}

async function open(page: Page, server: BundleServer): Promise<void> {
  if (!page.url().startsWith(server.origin)) {
    await page.goto(`${server.origin}/harness.html`);
    await page.waitForFunction(() => document.body.dataset.ready === 'true');
  }
}

async function loadAs(page: Page, server: BundleServer, channelUrl: string, options: { userId?: string; rolloutSeed?: number } = {}) {
  await open(page, server);
  return page.evaluate(
    async ({ channelUrl, options, row }) => {
      window.model = await window.ondevice.load(channelUrl, { checkForUpdates: false, batching: false, ...options });
      const info = await window.model.info();
      const prediction = await window.model.predict(row);
      return { rollout: info.rollout, answeredBy: prediction.version };
    },
    { channelUrl, options, row: rows[0]! },
  );
}

test('a 10% canary puts 10% +/- 1% of 10,000 users on the candidate, and a user keeps their version across reloads and a share increase', async ({
  page,
  deployment,
  server,
  channelUrl,
}) => {
  await withCandidate(deployment, { strategy: 'canary', candidate: '1.1.0', share: 0.1 });
  await open(page, server);
  const ids = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
  const buckets = await page.evaluate((ids) => ids.map((id) => window.ondevice.canaryBucket(id, 'penguins')), ids);
  const share = buckets.filter((b) => b < 0.1).length / ids.length;
  expect(share).toBeGreaterThanOrEqual(0.09);
  expect(share).toBeLessThanOrEqual(0.11);

  const inCanary = ids[buckets.findIndex((b) => b < 0.1)]!;
  const between = ids[buckets.findIndex((b) => b >= 0.1 && b < 0.2)]!;
  const outside = ids[buckets.findIndex((b) => b >= 0.2)]!;

  const first = await loadAs(page, server, channelUrl, { userId: inCanary });
  expect(first).toMatchObject({ rollout: { strategy: 'canary', assigned: '1.1.0', share: 0.1 }, answeredBy: '1.1.0' });
  expect(await loadAs(page, server, channelUrl, { userId: outside })).toMatchObject({
    rollout: { assigned: '1.0.0' },
    answeredBy: '1.0.0',
  });
  await page.reload();
  expect(await loadAs(page, server, channelUrl, { userId: inCanary })).toMatchObject({
    rollout: { assigned: '1.1.0' },
    answeredBy: '1.1.0',
  });

  // Without an app user id, the device's own id decides, and it is kept across reloads.
  const anonymous = await loadAs(page, server, channelUrl);
  await page.reload();
  expect((await loadAs(page, server, channelUrl)).rollout.bucket).toBe(anonymous.rollout.bucket);

  // The share goes up to 20%: the first 10% stay, the next 10% join, the rest stay out.
  const current = await deployment.channel();
  await deployment.writeChannel({
    sequence: current.sequence + 1,
    rollout: { strategy: 'canary', candidate: '1.1.0', share: 0.2 },
  } as never);
  for (const [user, expected] of [
    [inCanary, '1.1.0'],
    [between, '1.1.0'],
    [outside, '1.0.0'],
  ] as const) {
    await page.reload();
    const result = await loadAs(page, server, channelUrl, { userId: user });
    await page.evaluate(() => window.model!.update());
    const after = await page.evaluate(
      async (row) => ({ rollout: (await window.model!.info()).rollout, answeredBy: (await window.model!.predict(row)).version }),
      rows[0]!,
    );
    expect(after, `${user} (bucket ${result.rollout.bucket})`).toMatchObject({
      rollout: { share: 0.2, assigned: expected },
      answeredBy: expected,
    });
  }
});

test('shadow: the live version answers, exactly; the candidate scores the same rows afterwards and the comparison is recorded', async ({
  page,
  deployment,
  server,
  channelUrl,
}) => {
  await withCandidate(deployment, { strategy: 'shadow', candidate: '1.1.0' });
  await loadAs(page, server, channelUrl);
  const outcome = await page.evaluate(async (rows) => {
    const predictions = await window.model!.predictBatch(rows);
    // The shadow runs after the answer: wait until it has been recorded.
    let info = await window.model!.info();
    // (One more row than the batch: the prediction made right after loading.)
    for (let i = 0; i < 50 && (info.rollout.shadow?.comparisons ?? 0) < rows.length + 1; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      info = await window.model!.info();
    }
    return { versions: [...new Set(predictions.map((p) => p.version))], predictions, rollout: info.rollout };
  }, rows);
  expect(outcome.versions).toEqual(['1.0.0']);
  outcome.predictions.forEach((p, r) => {
    if (p.kind !== 'classification') throw new Error('classification expected');
    expect(p.label).toBe(e2eSet.expected.label[r]);
  });
  expect(outcome.rollout).toMatchObject({ strategy: 'shadow', candidate: '1.1.0', shadow: { comparisons: rows.length + 1, agreement: 1 } });
  expect(outcome.rollout.shadow!.meanAbsoluteDifference).toBeLessThan(1e-6);
  expect(outcome.rollout.shadow!.candidateMeanMs).toBeGreaterThan(0);
});

test('a bandit between arms with success rates 0.3 and 0.6 sends at least 90% of the last 1,000 of 5,000 trials to the better arm, and remembers across reloads', async ({
  page,
  deployment,
  server,
  channelUrl,
}) => {
  test.setTimeout(120_000);
  await withCandidate(deployment, { strategy: 'bandit', arms: ['1.0.0', '1.1.0'] });
  await loadAs(page, server, channelUrl, { rolloutSeed: 42 });
  const outcome = await page.evaluate(async (row) => {
    // The environment's own seeded coin: reproducible, like the bandit's draws.
    let state = 7;
    const coin = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const rates: Record<string, number> = { '1.0.0': 0.3, '1.1.0': 0.6 };
    const chosen: string[] = [];
    for (let trial = 0; trial < 5000; trial++) {
      const prediction = await window.model!.predict(row);
      chosen.push(prediction.version!);
      await window.model!.reportOutcome(prediction.id!, coin() < rates[prediction.version!]! ? 1 : 0);
    }
    return { lastBetter: chosen.slice(-1000).filter((v) => v === '1.1.0').length, arms: (await window.model!.info()).rollout.arms };
  }, rows[0]!);
  expect(outcome.lastBetter).toBeGreaterThanOrEqual(900);
  const trials = Object.values(outcome.arms!).reduce((sum, arm) => sum + arm.successes + arm.failures, 0);
  expect(trials).toBe(5000);

  await page.waitForTimeout(1200);
  await page.reload();
  const reloaded = await loadAs(page, server, channelUrl);
  expect(reloaded.rollout.strategy).toBe('bandit');
  expect(reloaded.rollout.arms).toEqual(outcome.arms);
});

test('a pulled candidate stops serving at the next check', async ({ page, deployment, server, channelUrl }) => {
  await withCandidate(deployment, { strategy: 'canary', candidate: '1.1.0', share: 1 });
  expect(await loadAs(page, server, channelUrl)).toMatchObject({ rollout: { assigned: '1.1.0' }, answeredBy: '1.1.0' });
  const current = await deployment.channel();
  await deployment.writeChannel({ sequence: current.sequence + 1, candidates: [], rollout: { strategy: 'single' } } as never);
  const after = await page.evaluate(async (row) => {
    const result = await window.model!.update();
    return {
      result,
      rollout: (await window.model!.info()).rollout,
      answeredBy: (await window.model!.predict(row)).version,
      events: window.events,
    };
  }, rows[0]!);
  expect(after).toMatchObject({
    result: { status: 'up-to-date', strategy: 'single' },
    rollout: { strategy: 'single' },
    answeredBy: '1.0.0',
  });
});

test('a malformed rollout policy is refused with a clear error and the live version keeps serving', async ({
  page,
  deployment,
  server,
  channelUrl,
}) => {
  await deployment.publish('1.0.0');
  await loadAs(page, server, channelUrl);
  const current = await deployment.channel();
  await deployment.writeChannel({
    sequence: current.sequence + 1,
    rollout: { strategy: 'canary', candidate: '9.9.9', share: 0.5 },
  } as never);
  const after = await page.evaluate(
    async (row) => ({ result: await window.model!.update(), answeredBy: (await window.model!.predict(row)).version }),
    rows[0]!,
  );
  expect(after.result).toMatchObject({ status: 'failed', code: 'INVALID_CHANNEL' });
  expect(after.result.reason).toContain('rollout.candidate');
  expect(after.answeredBy).toBe('1.0.0');
});

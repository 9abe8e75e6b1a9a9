import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, test, type Page } from '@playwright/test';
import type { ExportMetricsServiceRequestJson, KeyValueJson } from '../src/monitor/otlp.js';
import type { Outbox, OutboxStatus } from '../src/monitor/outbox.js';
import { openHarness } from './fixtures.js';

// The outbox is driven directly; the demo's service worker plays no part.
test.use({ serviceWorkers: 'block' });

declare global {
  interface Window {
    /** The outbox under test, kept between page.evaluate calls. */
    telemetryOutbox?: Outbox;
    telemetryOutboxes?: Outbox[];
  }
}

/** One data point as the collector received it. */
interface ReceivedPoint {
  readonly metric: string;
  readonly kind: 'sum' | 'gauge' | 'histogram';
  readonly recordId: string | undefined;
  readonly value: string | number | undefined;
}

interface ReceivedRequest {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly points: readonly ReceivedPoint[];
}

function pointsOf(body: ExportMetricsServiceRequestJson): ReceivedPoint[] {
  const points: ReceivedPoint[] = [];
  const idOf = (attributes: readonly KeyValueJson[]): string | undefined => {
    const value = attributes.find((a) => a.key === 'ondevice.record_id')?.value;
    return value !== undefined && 'stringValue' in value ? value.stringValue : undefined;
  };
  for (const resource of body.resourceMetrics) {
    for (const scope of resource.scopeMetrics) {
      for (const metric of scope.metrics) {
        if ('sum' in metric)
          for (const p of metric.sum.dataPoints)
            points.push({ metric: metric.name, kind: 'sum', recordId: idOf(p.attributes), value: p.asInt ?? p.asDouble });
        if ('gauge' in metric)
          for (const p of metric.gauge.dataPoints)
            points.push({ metric: metric.name, kind: 'gauge', recordId: idOf(p.attributes), value: p.asInt ?? p.asDouble });
        if ('histogram' in metric)
          for (const p of metric.histogram.dataPoints)
            points.push({ metric: metric.name, kind: 'histogram', recordId: idOf(p.attributes), value: p.count });
      }
    }
  }
  return points;
}

/** A stand-in OpenTelemetry collector (OTLP/HTTP JSON) on a free loopback port, answering CORS. */
class Collector {
  /** How the next requests are answered. */
  answer: { status: number; retryAfter?: string; delayMs?: number } = { status: 200 };
  readonly requests: ReceivedRequest[] = [];
  readonly #server: Server = createServer((request, response) => {
    // The page is on another origin (another port): the preflight and the answer both need CORS.
    response.setHeader('Access-Control-Allow-Origin', '*');
    response.setHeader('Access-Control-Allow-Methods', 'POST');
    response.setHeader('Access-Control-Allow-Headers', 'Content-Type');
    response.setHeader('Access-Control-Expose-Headers', 'Retry-After');
    if (request.method === 'OPTIONS') return void response.writeHead(204).end();
    if (request.method !== 'POST' || request.url !== '/v1/metrics') return void response.writeHead(404).end();
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const { status, retryAfter, delayMs } = this.answer;
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ExportMetricsServiceRequestJson;
      this.requests.push({ status, contentType: request.headers['content-type'], points: pointsOf(body) });
      setTimeout(() => {
        response.writeHead(status, {
          'Content-Type': 'application/json',
          ...(retryAfter === undefined ? {} : { 'Retry-After': retryAfter }),
        });
        response.end(status === 200 ? '{}' : '{"code":14,"message":"unavailable"}');
      }, delayMs ?? 0);
    });
  });
  endpoint = '';

  static async start(): Promise<Collector> {
    const collector = new Collector();
    await new Promise<void>((resolve) => collector.#server.listen(0, '127.0.0.1', resolve));
    collector.endpoint = `http://127.0.0.1:${(collector.#server.address() as AddressInfo).port}/v1/metrics`;
    return collector;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** Points the collector accepted (2xx), per record id. */
function accepted(collector: Collector): Map<string, ReceivedPoint[]> {
  const byId = new Map<string, ReceivedPoint[]>();
  for (const request of collector.requests) {
    if (request.status !== 200) continue;
    for (const point of request.points) byId.set(point.recordId ?? '(none)', [...(byId.get(point.recordId ?? '(none)') ?? []), point]);
  }
  return byId;
}

/** Opens an outbox in the page (kept as window.telemetryOutbox). */
async function openOutbox(page: Page, options: { endpoint: string; databaseName: string; maxRecords?: number }): Promise<OutboxStatus> {
  return page.evaluate(async (options) => {
    window.telemetryOutbox = await window.ondeviceTesting.Outbox.open({ ...options, resource: { 'service.name': 'e2e' } });
    return window.telemetryOutbox.status();
  }, options);
}

/** Adds `count` records of three points each (a sum, a gauge, a histogram); returns their ids in order. */
async function addRecords(page: Page, count: number): Promise<string[]> {
  return page.evaluate(async (count) => {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const now = Date.now();
      const attributes = { 'ondevice.version': '1.0.0' };
      ids.push(
        await window.telemetryOutbox!.add([
          { kind: 'sum', name: 'ondevice.predictions', unit: '{row}', value: i + 1, attributes, startTimeMs: now - 1000 },
          {
            kind: 'gauge',
            name: 'ondevice.drift.psi',
            value: i / count,
            attributes: { ...attributes, 'ondevice.feature': 'bill_length_mm' },
          },
          {
            kind: 'histogram',
            name: 'ondevice.scoring.duration',
            unit: 'ms',
            bounds: [1, 10],
            counts: [1, 1, 0],
            sum: 3.5,
            count: 2,
            min: 0.5,
            max: 3,
            attributes,
            startTimeMs: now - 1000,
          },
        ]),
      );
    }
    return ids;
  }, count);
}

const status = (page: Page): Promise<OutboxStatus> => page.evaluate(() => window.telemetryOutbox!.status());

test('queues while offline, keeps the queue across a reload, backs off, and delivers each record once', async ({ page, context }) => {
  const collector = await Collector.start();
  try {
    const databaseName = 'e2e-outbox-offline';
    collector.answer = { status: 503 };
    await openHarness(page);

    // (1) Offline, and a collector refusing: nothing leaves the page.
    await context.setOffline(true);
    expect(await page.evaluate(() => navigator.onLine)).toBe(false); // setOffline is what the page sees as offline
    await openOutbox(page, { endpoint: collector.endpoint, databaseName });
    const ids = await addRecords(page, 250);
    const offline = await page.evaluate(() => window.telemetryOutbox!.flush());
    expect(offline).toMatchObject({ queued: 250, dropped: 0, delivered: 0, online: false });
    expect(offline.lastError).toBeUndefined(); // not tried at all, rather than tried and failed
    expect(offline.nextAttemptMs).toBeUndefined(); // no timer while offline: the online event flushes
    expect(collector.requests.length).toBe(0);

    // Back online: the `online` event flushes by itself; the 503 keeps every record.
    await context.setOffline(false);
    await expect.poll(() => collector.requests.length).toBeGreaterThanOrEqual(1);
    await expect.poll(async () => (await status(page)).lastError).toMatch(/HTTP 503/);
    expect(await status(page)).toMatchObject({ queued: 250, delivered: 0, online: true });

    // (2) A reload: a new page, a new Outbox, the same queue.
    await page.reload();
    await page.waitForFunction(() => document.body.dataset.ready === 'true');
    expect(await openOutbox(page, { endpoint: collector.endpoint, databaseName })).toMatchObject({
      queued: 250,
      dropped: 0,
      delivered: 0,
      online: true,
    });

    // Exponential backoff with jitter: each failure waits [base/2, base], base 1 s doubling.
    const waits = await page.evaluate(async () => {
      const out: number[] = [];
      for (let i = 0; i < 3; i++) {
        const s = await window.telemetryOutbox!.flush();
        out.push(s.nextAttemptMs! - Date.now());
      }
      return out;
    });
    [1000, 2000, 4000].forEach((base, i) => {
      expect(waits[i]!).toBeGreaterThan(base / 2 - 200);
      expect(waits[i]!).toBeLessThanOrEqual(base);
    });

    // Retry-After on a 503 sets the next try, and even an explicit flush() waits for it.
    collector.answer = { status: 503, retryAfter: '2' };
    const sent = collector.requests.length;
    const throttled = await page.evaluate(() => window.telemetryOutbox!.flush());
    expect(collector.requests.length).toBe(sent + 1);
    expect(throttled.nextAttemptMs! - Date.now()).toBeGreaterThan(1500);
    expect(throttled.nextAttemptMs! - Date.now()).toBeLessThanOrEqual(2000);
    await page.evaluate(() => window.telemetryOutbox!.flush());
    expect(collector.requests.length).toBe(sent + 1);

    // (3) The collector accepts: the retry timer delivers everything, 100 records per request at most.
    collector.answer = { status: 200 };
    await expect
      .poll(
        async () => {
          const s = await status(page);
          return [s.queued, s.delivered];
        },
        { timeout: 10_000 },
      )
      .toEqual([0, 250]);
    const after = await status(page);
    expect(after).toMatchObject({ queued: 0, dropped: 0, delivered: 250 });
    expect(after.lastError).toBeUndefined();
    expect(after.nextAttemptMs).toBeUndefined(); // nothing queued, nothing scheduled

    const ok = collector.requests.filter((r) => r.status === 200);
    expect(ok.map((r) => new Set(r.points.map((p) => p.recordId)).size)).toEqual([100, 100, 50]);
    expect(collector.requests.every((r) => r.contentType === 'application/json')).toBe(true);
    const byId = accepted(collector);
    expect([...byId.keys()].sort()).toEqual([...ids].sort());
    for (const [, points] of byId)
      expect(points.map((p) => `${p.kind} ${p.metric}`).sort()).toEqual([
        'gauge ondevice.drift.psi',
        'histogram ondevice.scoring.duration',
        'sum ondevice.predictions',
      ]);
    // Oldest first: the first accepted request holds the first 100 records added.
    expect(new Set(ok[0]!.points.map((p) => p.recordId))).toEqual(new Set(ids.slice(0, 100)));
    await page.evaluate(() => window.telemetryOutbox!.close());
  } finally {
    await collector.close();
  }
});

test('two outboxes on one database and concurrent flushes send each record once', async ({ page }) => {
  const collector = await Collector.start();
  try {
    const databaseName = 'e2e-outbox-concurrent';
    // A slow collector: without the lock, the second outbox would read the same records meanwhile.
    collector.answer = { status: 200, delayMs: 300 };
    await openHarness(page);
    await openOutbox(page, { endpoint: collector.endpoint, databaseName });
    const ids = await addRecords(page, 150);
    const result = await page.evaluate(
      async ({ endpoint, databaseName }) => {
        const a = window.telemetryOutbox!;
        const b = await window.ondeviceTesting.Outbox.open({ endpoint, databaseName });
        const first = a.flush();
        const joined = a.flush() === first;
        const statuses = await Promise.all([first, a.flush(), b.flush(), b.flush()]);
        const status = await a.status();
        a.close();
        b.close();
        return { joined, delivered: statuses.map((s) => s.delivered), status, locks: 'locks' in navigator };
      },
      { endpoint: collector.endpoint, databaseName },
    );
    expect(result.locks).toBe(true);
    expect(result.joined).toBe(true);
    expect(result.status.queued).toBe(0);
    expect(collector.requests.length).toBe(2);
    const byId = accepted(collector);
    expect([...byId.keys()].sort()).toEqual([...ids].sort());
    for (const [, points] of byId) expect(points).toHaveLength(3);
    // Between them the two instances delivered each record once.
    expect(result.delivered[0]! + result.delivered[2]!).toBe(150);
  } finally {
    await collector.close();
  }
});

test('past maxRecords the oldest records are dropped, and the collector is told how many', async ({ page }) => {
  const collector = await Collector.start();
  try {
    await openHarness(page);
    await openOutbox(page, { endpoint: collector.endpoint, databaseName: 'e2e-outbox-bound', maxRecords: 5 });
    const ids = await addRecords(page, 8);
    expect(await status(page)).toMatchObject({ queued: 5, dropped: 3 });

    // A refused delivery keeps the count (and the records).
    collector.answer = { status: 503 };
    expect(await page.evaluate(() => window.telemetryOutbox!.flush())).toMatchObject({ queued: 5, dropped: 3 });

    collector.answer = { status: 200 };
    const delivered = await page.evaluate(() => window.telemetryOutbox!.flush());
    expect(delivered).toMatchObject({ queued: 0, dropped: 0, delivered: 5 });

    const byId = accepted(collector);
    const drops = [...byId.values()].flat().filter((p) => p.metric === 'ondevice.telemetry.dropped');
    expect(drops).toEqual([expect.objectContaining({ kind: 'sum', value: '3' })]);
    // The five newest records arrived; the three oldest never did.
    const records = [...byId.keys()].filter((id) => !byId.get(id)!.some((p) => p.metric === 'ondevice.telemetry.dropped'));
    expect(records.sort()).toEqual(ids.slice(3).sort());
    // The loss report rode along with the records, in the first batch sent after the losses.
    expect(collector.requests.filter((r) => r.status === 200)).toHaveLength(1);

    // Reported once: a later flush has nothing more to say.
    await addRecords(page, 1);
    await page.evaluate(() => window.telemetryOutbox!.flush());
    expect(collector.requests.at(-1)!.points.some((p) => p.metric === 'ondevice.telemetry.dropped')).toBe(false);
    await page.evaluate(() => window.telemetryOutbox!.close());
  } finally {
    await collector.close();
  }
});

test('through load(): the worker queues predictions, latency, gate results and deployment events; they survive going offline and a reload, then arrive once each', async ({
  page,
  context,
}) => {
  const collector = await Collector.start();
  try {
    collector.answer = { status: 503 };
    await openHarness(page);
    const options = { telemetry: { endpoint: collector.endpoint, snapshotIntervalMs: 3_600_000 } };
    const channel = 'bundles/penguins/channel.json';
    const rows = (
      JSON.parse(readFileSync(new URL('../models/penguins/build/confidence-set.json', import.meta.url), 'utf8')) as { rows: unknown[] }
    ).rows;

    // Loaded online (the first load downloads the bundle), then the device goes offline.
    await page.evaluate(async ({ channel, options }) => void (window.model = await window.ondevice.load(channel, options)), {
      channel,
      options,
    });
    await context.setOffline(true);
    const queued = await page.evaluate(async (rows) => {
      await window.model!.predictBatch(rows as Record<string, unknown>[]);
      await window.model!.predict({ island: 'Atlantis' }).catch(() => undefined);
      return window.model!.flushTelemetry();
    }, rows);
    expect(queued).toMatchObject({ online: false, delivered: 0 });
    expect(queued!.queued).toBeGreaterThanOrEqual(2); // the gate result at load, and the predictions snapshot
    expect(collector.requests.filter((r) => r.status === 200)).toHaveLength(0);

    // Back online, the collector still refusing; then a reload: the queue is still there.
    await context.setOffline(false);
    await page.reload();
    await page.waitForFunction(() => document.body.dataset.ready === 'true');
    const reloaded = await page.evaluate(
      async ({ channel, options }) => {
        window.model = await window.ondevice.load(channel, options);
        return window.model.telemetry();
      },
      { channel, options },
    );
    expect(reloaded!.queued).toBeGreaterThanOrEqual(queued!.queued);
    collector.answer = { status: 200 };
    const after = await page.evaluate(async () => ({ status: await window.model!.flushTelemetry(), info: await window.model!.info() }));
    expect(after.info.source).toBe('cache');
    expect(after.status).toMatchObject({ queued: 0 });

    const byId = accepted(collector);
    const points = [...byId.values()].flat();
    // Every record once: no id reached the collector in two accepted requests.
    const seen = collector.requests.filter((r) => r.status === 200).flatMap((r) => [...new Set(r.points.map((p) => p.recordId))]);
    expect(seen.length).toBe(new Set(seen).size);
    expect(byId.size).toBeGreaterThanOrEqual(queued!.queued + 1);
    const predictions = points.filter((p) => p.metric === 'ondevice.predictions');
    expect(predictions.map((p) => Number(p.value))).toContain(rows.length);
    expect(points.some((p) => p.metric === 'ondevice.scoring.duration' && p.kind === 'histogram')).toBe(true);
    expect(points.some((p) => p.metric === 'ondevice.input.refused')).toBe(true);
    expect(points.filter((p) => p.metric === 'ondevice.gate.metric').length).toBeGreaterThanOrEqual(2);
  } finally {
    await collector.close();
  }
});

import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { describeUnknown, InputError, StateError } from '../errors/index.js';
import { pointProblem, toOtlpMetrics, type Attributes, type MetricPoint, type TelemetryRecord } from './otlp.js';

/**
 * The telemetry outbox: records queued in IndexedDB (so they survive reloads and offline periods)
 * and delivered to an OpenTelemetry collector as OTLP/HTTP JSON, oldest first, each exactly once as
 * far as the collector's answers allow. Plain class: it runs in the library's worker or in a page.
 */

export interface OutboxOptions {
  /** The collector's OTLP/HTTP metrics endpoint, an absolute http(s) URL, e.g. `https://collector:4318/v1/metrics`. */
  readonly endpoint: string;
  /**
   * Sent with every request (e.g. an API key). A collector on another origin must allow them, and
   * `Content-Type`, in its CORS answer, and expose `Retry-After` for it to be honoured.
   */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Resource attributes of every request; `service.name` is `'unknown_service'` unless given, as the
   * OpenTelemetry spec asks.
   * @defaultValue `{ 'service.name': 'unknown_service' }`
   */
  readonly resource?: Attributes;
  /**
   * Records kept while undelivered; past it the oldest are dropped (and counted).
   * @defaultValue `1000` (`DEFAULT_MAX_RECORDS`)
   */
  readonly maxRecords?: number;
  /**
   * How long a queued record waits before a delivery is tried (fewer, larger requests), in milliseconds.
   * @defaultValue `60000` (`DEFAULT_DELIVERY_INTERVAL_MS`)
   */
  readonly intervalMs?: number;
  /**
   * For tests.
   * @defaultValue the global `fetch`
   */
  readonly fetch?: typeof fetch;
  /**
   * The IndexedDB database.
   * @defaultValue `'ondevice-telemetry'` (`DEFAULT_TELEMETRY_DATABASE`)
   */
  readonly databaseName?: string;
}

/** `OutboxOptions.maxRecords` when not given. */
export const DEFAULT_MAX_RECORDS = 1000;
/** `OutboxOptions.intervalMs` when not given: queued records go at most once a minute. */
export const DEFAULT_DELIVERY_INTERVAL_MS = 60_000;
/** `OutboxOptions.databaseName` when not given. */
export const DEFAULT_TELEMETRY_DATABASE = 'ondevice-telemetry';

export interface OutboxStatus {
  /** Records waiting for delivery. */
  readonly queued: number;
  /** Records lost (outbox full, or refused by the collector as malformed) and not yet reported to the collector. */
  readonly dropped: number;
  /** Records this Outbox instance delivered. */
  readonly delivered: number;
  /** Why the last delivery failed; cleared by the next success. */
  readonly lastError?: string;
  /** When the next delivery will be tried (epoch ms), if one is scheduled. */
  readonly nextAttemptMs?: number;
  /** `navigator.onLine`: nothing is sent while it is false. */
  readonly online: boolean;
}

/** The sum point reporting losses, sent in the next batch after they happen. */
export const DROPPED_METRIC = 'ondevice.telemetry.dropped';

const LOCK = 'ondevice-telemetry-flush';
const BATCH = 100;
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 5 * 60_000;
/** A request that hangs must not hold the cross-context lock forever. */
const REQUEST_TIMEOUT_MS = 30_000;
/** Retry-After beyond this is taken as a misconfiguration, not obeyed literally. */
const MAX_RETRY_AFTER_MS = 24 * 3_600_000;
// The library has no version constant yet; the scope names the instrumentation only.
const SCOPE = { name: 'ondevice', version: '' };

interface StoredRecord extends TelemetryRecord {
  /** Auto-incremented key: insertion order, so oldest first. */
  readonly seq?: number;
}

interface Meta {
  /** Records lost since the last report was frozen. */
  readonly dropped: number;
  /** When the first of them was lost: the start of the reported delta. */
  readonly droppedSinceMs: number;
  /**
   * The losses frozen into a record with a fixed id, sent until a collector accepts it: a retry after
   * a lost response then repeats the same record, never a different count under the same id.
   */
  readonly report?: { readonly record: TelemetryRecord; readonly dropped: number; readonly sinceMs: number } | undefined;
}

interface OutboxDb extends DBSchema {
  records: { key: number; value: StoredRecord };
  meta: { key: string; value: Meta };
}

const META_KEY = 'state';
const EMPTY_META: Meta = { dropped: 0, droppedSinceMs: 0 };

/** What the outbox needs of the global scope: present in a window and a worker, partly in Node. */
interface Environment {
  readonly navigator?: {
    readonly onLine?: boolean;
    readonly locks?: { request<T>(name: string, callback: () => Promise<T>): Promise<T> };
  };
  addEventListener?(type: string, listener: () => void): void;
  removeEventListener?(type: string, listener: () => void): void;
}

const scope = (): Environment => globalThis as unknown as Environment;
const isOnline = (): boolean => scope().navigator?.onLine !== false;

interface Settings {
  readonly endpoint: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly resource: Attributes;
  readonly maxRecords: number;
  readonly intervalMs: number;
  readonly fetch: typeof fetch;
  readonly databaseName: string;
}

function invalid(field: string, message: string): InputError {
  return new InputError('INVALID_OPTION', message, { field: `telemetry.${field}` });
}

function settings(options: OutboxOptions): Settings {
  let url: URL | undefined;
  try {
    url = new URL(options.endpoint);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '') {
    // fetch refuses URLs with credentials: put them in `headers` instead.
    throw invalid(
      'endpoint',
      `telemetry.endpoint must be an absolute http(s) URL without credentials, got ${JSON.stringify(options.endpoint)}`,
    );
  }
  const maxRecords = options.maxRecords ?? DEFAULT_MAX_RECORDS;
  if (!Number.isSafeInteger(maxRecords) || maxRecords < 1)
    throw invalid('maxRecords', `telemetry.maxRecords must be a positive integer, got ${maxRecords}`);
  const intervalMs = options.intervalMs ?? DEFAULT_DELIVERY_INTERVAL_MS;
  if (!Number.isFinite(intervalMs) || intervalMs < 0)
    throw invalid('intervalMs', `telemetry.intervalMs must be a finite number of milliseconds >= 0, got ${intervalMs}`);
  const headers = options.headers ?? {};
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== 'string') throw invalid('headers', `telemetry.headers.${name} must be a string`);
  }
  const fetchFunction = options.fetch ?? globalThis.fetch.bind(globalThis);
  return {
    endpoint: url.href,
    // The body is always OTLP JSON: a caller's Content-Type would be joined to ours, not replace it.
    headers: Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'content-type')),
    resource: { 'service.name': 'unknown_service', ...options.resource },
    maxRecords,
    intervalMs,
    fetch: fetchFunction,
    databaseName: options.databaseName ?? DEFAULT_TELEMETRY_DATABASE,
  };
}

/** `Retry-After` as milliseconds from now: delay-seconds or an HTTP date (RFC 9110). */
function retryAfterMs(response: Response): number | undefined {
  const header = response.headers.get('retry-after')?.trim();
  if (!header) return undefined;
  const ms = /^\d+$/.test(header) ? Number(header) * 1000 : Date.parse(header) - Date.now();
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS) : undefined;
}

/** A 2xx may still carry OTLP's partial success: points the collector refused (not to be retried). */
async function partialSuccess(response: Response): Promise<string | undefined> {
  try {
    const body = (await response.json()) as { partialSuccess?: { rejectedDataPoints?: string | number; errorMessage?: string } };
    const rejected = Number(body.partialSuccess?.rejectedDataPoints ?? 0);
    const message = body.partialSuccess?.errorMessage ?? '';
    return rejected > 0 || message !== '' ? `the collector rejected ${rejected} data points${message ? `: ${message}` : ''}` : undefined;
  } catch {
    return undefined; // an empty or non-JSON body is a plain success
  }
}

interface Batch {
  readonly records: readonly StoredRecord[];
  readonly report?: Meta['report'];
}

export class Outbox {
  readonly #settings: Settings;
  readonly #db: IDBPDatabase<OutboxDb>;
  #inflight: Promise<OutboxStatus> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #nextAttemptMs: number | undefined;
  /** Failed deliveries in a row: the exponent of the backoff. */
  #failures = 0;
  /** Set after a failure: when the next try is due. */
  #retryAtMs: number | undefined;
  /** Set by a Retry-After: even an explicit flush() waits until then. */
  #throttledUntilMs = 0;
  #lastError: string | undefined;
  #delivered = 0;
  #closed = false;

  readonly #onOnline = (): void => {
    // The backoff mostly counted failures of being offline: start afresh (but a Retry-After still holds).
    this.#failures = 0;
    if (Date.now() >= this.#throttledUntilMs) this.#retryAtMs = undefined;
    void this.flush().catch(() => undefined);
  };

  readonly #onOffline = (): void => this.#disarm();

  private constructor(options: Settings, db: IDBPDatabase<OutboxDb>) {
    this.#settings = options;
    this.#db = db;
    scope().addEventListener?.('online', this.#onOnline);
    scope().addEventListener?.('offline', this.#onOffline);
  }

  /** Opens (or creates) the outbox database; throws `InputError('INVALID_OPTION')` for a bad option. */
  static async open(options: OutboxOptions): Promise<Outbox> {
    const resolved = settings(options);
    const db = await openDB<OutboxDb>(resolved.databaseName, 1, {
      upgrade(database) {
        database.createObjectStore('records', { keyPath: 'seq', autoIncrement: true });
        database.createObjectStore('meta');
      },
    });
    const outbox = new Outbox(resolved, db);
    // Records left by an earlier page or worker are delivered without waiting for a new add().
    const meta = await db.get('meta', META_KEY);
    if ((await db.count('records')) > 0 || (meta?.dropped ?? 0) > 0 || meta?.report !== undefined)
      outbox.#arm(Date.now() + resolved.intervalMs);
    return outbox;
  }

  /**
   * Queues one record of points observed at `timeMs` (default now) and returns its id. When the
   * outbox is full, the oldest records are dropped and counted in the same transaction.
   */
  async add(points: readonly MetricPoint[], timeMs: number = Date.now()): Promise<string> {
    this.#checkOpen();
    points.forEach((point, row) => {
      const problem = pointProblem(point);
      if (problem !== undefined)
        throw new InputError('INVALID_BATCH', `Telemetry point ${row} (${String(point.name)}) ${problem}.`, {
          field: String(point.name),
          row,
        });
    });
    if (!Number.isFinite(timeMs))
      throw new InputError('INVALID_BATCH', `Telemetry time must be finite epoch milliseconds, got ${timeMs}.`, { field: 'timeMs' });
    const record: StoredRecord = { id: crypto.randomUUID(), timeMs, points };
    const tx = this.#db.transaction(['records', 'meta'], 'readwrite');
    const records = tx.objectStore('records');
    const meta = tx.objectStore('meta');
    await Promise.all([
      (async () => {
        await records.add(record);
        const excess = (await records.count()) - this.#settings.maxRecords;
        if (excess <= 0) return;
        const oldest = await records.getAllKeys(null, excess);
        await records.delete(IDBKeyRange.upperBound(oldest[oldest.length - 1]!));
        const state = (await meta.get(META_KEY)) ?? EMPTY_META;
        await meta.put(
          { ...state, dropped: state.dropped + oldest.length, droppedSinceMs: state.dropped === 0 ? Date.now() : state.droppedSinceMs },
          META_KEY,
        );
      })(),
      tx.done,
    ]);
    // A running flush may have looked at the queue before this record: arm after it, unless it armed a retry.
    const armLater = (): void => {
      if (this.#timer === undefined && isOnline()) this.#arm(Date.now() + this.#settings.intervalMs);
    };
    if (this.#inflight === undefined) armLater();
    else void this.#inflight.then(armLater, armLater);
    return record.id;
  }

  /**
   * Sends the queue now, oldest first, up to 100 records per request, and resolves with the status
   * afterwards; a flush already running is joined. Failures do not reject: they are in `lastError`,
   * and a retry is scheduled. Sends nothing while offline (the `online` event flushes).
   */
  flush(): Promise<OutboxStatus> {
    if (this.#closed) return Promise.reject(this.#closedError());
    this.#inflight ??= this.#flush().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async status(): Promise<OutboxStatus> {
    this.#checkOpen();
    return this.#readStatus();
  }

  async #readStatus(): Promise<OutboxStatus> {
    const tx = this.#db.transaction(['records', 'meta'], 'readonly');
    const [queued, meta] = await Promise.all([tx.objectStore('records').count(), tx.objectStore('meta').get(META_KEY), tx.done]);
    const state = meta ?? EMPTY_META;
    return {
      queued,
      dropped: state.dropped + (state.report?.dropped ?? 0),
      delivered: this.#delivered,
      ...(this.#lastError === undefined ? {} : { lastError: this.#lastError }),
      ...(this.#nextAttemptMs === undefined ? {} : { nextAttemptMs: this.#nextAttemptMs }),
      online: isOnline(),
    };
  }

  /** Stops the timers and listeners; the database closes once a running flush has finished. Records stay queued. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#disarm();
    scope().removeEventListener?.('online', this.#onOnline);
    scope().removeEventListener?.('offline', this.#onOffline);
    const closeDb = (): void => this.#db.close();
    void (this.#inflight ?? Promise.resolve()).then(closeDb, closeDb);
  }

  async #flush(): Promise<OutboxStatus> {
    this.#disarm();
    try {
      if (isOnline() && Date.now() >= this.#throttledUntilMs) {
        const locks = scope().navigator?.locks;
        const name = this.#settings.databaseName === DEFAULT_TELEMETRY_DATABASE ? LOCK : `${LOCK}:${this.#settings.databaseName}`;
        // Held across read, send and delete: two workers or tabs never send the same records.
        await (locks ? locks.request(name, () => this.#sendAll()) : this.#sendAll());
      }
    } catch (error) {
      this.#fail(describeUnknown(error));
    }
    await this.#schedule();
    // The database stays open until this flush ends, even when close() came meanwhile.
    return this.#readStatus();
  }

  async #sendAll(): Promise<void> {
    for (;;) {
      if (this.#closed || !isOnline()) return;
      const batch = await this.#nextBatch();
      if (batch.records.length === 0 && batch.report === undefined) return;
      const records = batch.report === undefined ? batch.records : [batch.report.record, ...batch.records];
      let response: Response;
      try {
        response = await this.#settings.fetch(this.#settings.endpoint, {
          method: 'POST',
          headers: { ...this.#settings.headers, 'Content-Type': 'application/json' },
          body: JSON.stringify(toOtlpMetrics(records, this.#settings.resource, SCOPE)),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
      } catch (error) {
        return this.#fail(`network error: ${describeUnknown(error)}`);
      }
      if (response.ok) {
        const partial = await partialSuccess(response);
        await this.#settle(batch, false);
        this.#delivered += batch.records.length;
        this.#failures = 0;
        this.#retryAtMs = undefined;
        this.#lastError = partial;
        continue;
      }
      await response.body?.cancel().catch(() => undefined);
      const error = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''} from the collector`;
      // 400: the collector cannot parse this batch, so resending it can never succeed and would block
      // the queue behind it (OTLP/HTTP: not retryable). Every other answer keeps the records for a retry.
      if (response.status === 400) await this.#settle(batch, true);
      const wait = response.status === 429 || response.status === 503 ? retryAfterMs(response) : undefined;
      return this.#fail(response.status === 400 ? `${error}: ${records.length} records dropped as malformed` : error, wait);
    }
  }

  /** The oldest records, after the pending loss report (frozen first if there are new losses). */
  async #nextBatch(): Promise<Batch> {
    const tx = this.#db.transaction(['records', 'meta'], 'readwrite');
    const meta = tx.objectStore('meta');
    const [batch] = await Promise.all([
      (async (): Promise<Batch> => {
        let state = (await meta.get(META_KEY)) ?? EMPTY_META;
        if (state.report === undefined && state.dropped > 0) {
          const now = Date.now();
          const point: MetricPoint = {
            kind: 'sum',
            name: DROPPED_METRIC,
            unit: '{record}',
            description: 'Telemetry records lost on the device before delivery (outbox full or refused as malformed).',
            value: state.dropped,
            startTimeMs: state.droppedSinceMs,
          };
          const report = {
            record: { id: crypto.randomUUID(), timeMs: now, points: [point] },
            dropped: state.dropped,
            sinceMs: state.droppedSinceMs,
          };
          state = { dropped: 0, droppedSinceMs: 0, report };
          await meta.put(state, META_KEY);
        }
        const records = await tx.objectStore('records').getAll(null, state.report === undefined ? BATCH : BATCH - 1);
        return { records, report: state.report };
      })(),
      tx.done,
    ]);
    return batch;
  }

  /**
   * Deletes a batch the collector answered (accepted, or refused as malformed: `lost`). Records the
   * full outbox dropped while the batch was in flight were delivered after all: uncounted again.
   */
  async #settle(batch: Batch, lost: boolean): Promise<void> {
    const tx = this.#db.transaction(['records', 'meta'], 'readwrite');
    const records = tx.objectStore('records');
    const meta = tx.objectStore('meta');
    await Promise.all([
      (async () => {
        const state = (await meta.get(META_KEY)) ?? EMPTY_META;
        let { dropped, droppedSinceMs, report } = state;
        const keys = batch.records.map((r) => r.seq!);
        let missing = 0;
        if (keys.length > 0) {
          // The batch was the oldest records, so no other record has a key in its range.
          const range = IDBKeyRange.bound(keys[0]!, keys[keys.length - 1]!);
          missing = keys.length - (await records.count(range));
          await records.delete(range);
        }
        if (report !== undefined && report.record.id === batch.report?.record.id) {
          if (lost) {
            dropped += report.dropped;
            droppedSinceMs = droppedSinceMs === 0 ? report.sinceMs : Math.min(droppedSinceMs, report.sinceMs);
          }
          report = undefined;
        }
        dropped = lost ? dropped + keys.length - missing : Math.max(0, dropped - missing);
        if (dropped === 0) droppedSinceMs = 0;
        else if (droppedSinceMs === 0) droppedSinceMs = Date.now();
        await meta.put({ dropped, droppedSinceMs, report }, META_KEY);
      })(),
      tx.done,
    ]);
  }

  /** Exponential backoff with jitter (1 s doubling to 5 min), or the collector's Retry-After. */
  #fail(error: string, retryAfter?: number): void {
    this.#lastError = error;
    const base = Math.min(FIRST_RETRY_MS * 2 ** this.#failures, MAX_RETRY_MS);
    this.#failures++;
    // Jitter in [base/2, base): clients that failed together do not retry together.
    const delay = retryAfter ?? base / 2 + (Math.random() * base) / 2;
    this.#retryAtMs = Date.now() + delay;
    if (retryAfter !== undefined) this.#throttledUntilMs = this.#retryAtMs;
  }

  /** After a flush: the retry if one failed, else the interval if records (or losses) are still queued. */
  async #schedule(): Promise<void> {
    if (this.#closed || !isOnline()) return;
    if (this.#retryAtMs !== undefined) return this.#arm(this.#retryAtMs);
    const tx = this.#db.transaction(['records', 'meta'], 'readonly');
    const [queued, meta] = await Promise.all([tx.objectStore('records').count(), tx.objectStore('meta').get(META_KEY), tx.done]);
    if (queued > 0 || (meta?.dropped ?? 0) > 0 || meta?.report !== undefined) this.#arm(Date.now() + this.#settings.intervalMs);
  }

  #arm(atMs: number): void {
    this.#disarm();
    if (this.#closed) return;
    this.#nextAttemptMs = atMs;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#nextAttemptMs = undefined;
        void this.flush().catch(() => undefined);
      },
      Math.max(0, atMs - Date.now()),
    );
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#nextAttemptMs = undefined;
  }

  #checkOpen(): void {
    if (this.#closed) throw this.#closedError();
  }

  #closedError(): StateError {
    return new StateError('DISPOSED', 'The telemetry outbox is closed.');
  }
}

import { openDB, type IDBPDatabase } from 'idb';
import type { FeatureTransform } from '../features/index.js';
import { DriftMonitor, type DriftOptions, type DriftReport, type DriftState, type ObservedBatch } from './drift.js';
import type { MetricPoint } from './otlp.js';
import { Outbox, type OutboxOptions, type OutboxStatus } from './outbox.js';
import type { Reference } from './reference.js';

/** `load(url, { monitor })`: drift monitoring of inputs and outputs. On by default when the bundle ships `reference.json`. */
export type MonitorOptions = DriftOptions;

/** `load(url, { telemetry })`: aggregates sent to an OpenTelemetry collector (OTLP/HTTP JSON), never raw rows. */
export interface TelemetryOptions extends Omit<OutboxOptions, 'fetch' | 'databaseName'> {
  /**
   * How often the aggregates (predictions, latency, drift) are queued as one record, in milliseconds.
   * @defaultValue `60000` (`DEFAULT_SNAPSHOT_INTERVAL_MS`)
   */
  readonly snapshotIntervalMs?: number;
}

/** `TelemetryOptions.snapshotIntervalMs` when not given: one record of aggregates a minute. */
export const DEFAULT_SNAPSHOT_INTERVAL_MS = 60_000;

export interface MonitorReport {
  readonly version: string;
  /** Rows scored by this version in this worker. */
  readonly predictions: number;
  /** Rows refused by validation, per error code (e.g. `UNKNOWN_CATEGORY`). */
  readonly refused: Readonly<Record<string, number>>;
  /** Scoring time per call in the worker, milliseconds. */
  readonly latency: LatencySummary;
  /** Absent when the bundle ships no reference statistics (or monitoring is off). */
  readonly drift?: DriftReport;
}

export interface LatencySummary {
  readonly calls: number;
  readonly meanMs: number;
  /** Upper bounds of the histogram buckets holding the 50th and 95th percentile calls. */
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly maxMs: number;
}

/** The drift event: the set of drifted fields changed (and is not empty). */
export interface DriftEvent {
  readonly type: 'drift';
  readonly version: string;
  readonly features: readonly { readonly field: string; readonly psi: number; readonly reasons: readonly string[] }[];
  readonly output: boolean;
}

const LATENCY_BOUNDS = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
/** Rows between two drift evaluations: checking costs a little, so not after every single call. */
const EVALUATE_EVERY_ROWS = 50;
const SAVE_DELAY_MS = 1_000;

class Latency {
  readonly counts = new Array<number>(LATENCY_BOUNDS.length + 1).fill(0);
  sum = 0;
  calls = 0;
  max = 0;
  min = Number.POSITIVE_INFINITY;

  add(ms: number): void {
    let i = 0;
    while (i < LATENCY_BOUNDS.length && ms > LATENCY_BOUNDS[i]!) i++;
    this.counts[i]!++;
    this.sum += ms;
    this.calls++;
    this.max = Math.max(this.max, ms);
    this.min = Math.min(this.min, ms);
  }

  summary(): LatencySummary {
    const quantile = (q: number): number => {
      let seen = 0;
      for (let i = 0; i < this.counts.length; i++) {
        seen += this.counts[i]!;
        if (seen >= q * this.calls) return LATENCY_BOUNDS[i] ?? this.max;
      }
      return 0;
    };
    return {
      calls: this.calls,
      meanMs: this.calls === 0 ? 0 : this.sum / this.calls,
      p50Ms: quantile(0.5),
      p95Ms: quantile(0.95),
      maxMs: this.max,
    };
  }
}

interface Watched {
  readonly version: string;
  readonly drift: DriftMonitor | undefined;
  predictions: number;
  readonly refused: Map<string, number>;
  readonly latency: Latency;
  /** Since the last telemetry snapshot. */
  pending: { predictions: number; latency: Latency; refused: Map<string, number>; since: number };
  evaluatedAt: number;
  lastDrifted: string;
}

/**
 * The worker's watch over the versions it serves: drift per version (persisted in IndexedDB across
 * reloads), latency and refusals, `drift` events, and, when asked, telemetry through the outbox.
 */
export class ModelMonitor {
  readonly #key: string;
  readonly #options: MonitorOptions | false;
  readonly #emit: (event: DriftEvent) => void;
  readonly #watched = new Map<string, Watched>();
  readonly #db: Promise<IDBPDatabase | undefined>;
  #outbox: Outbox | undefined;
  #snapshotTimer: ReturnType<typeof setInterval> | undefined;
  #saveTimer: ReturnType<typeof setTimeout> | undefined;
  #saving: Promise<void> = Promise.resolve();
  readonly #dirty = new Set<string>();

  private constructor(key: string, options: MonitorOptions | false, emit: (event: DriftEvent) => void) {
    this.#key = key;
    this.#options = options;
    this.#emit = emit;
    this.#db =
      typeof indexedDB === 'undefined' || options === false ? Promise.resolve(undefined) : openStateDatabase().catch(() => undefined);
  }

  /** `key` names the channel: statistics are kept per channel and version. */
  static async open(
    key: string,
    options: MonitorOptions | false | undefined,
    telemetry: TelemetryOptions | undefined,
    emit: (event: DriftEvent) => void,
  ): Promise<ModelMonitor> {
    const monitor = new ModelMonitor(key, options ?? {}, emit);
    if (telemetry !== undefined) {
      const { snapshotIntervalMs, ...outboxOptions } = telemetry;
      monitor.#outbox = await Outbox.open(outboxOptions);
      monitor.#snapshotTimer = setInterval(() => void monitor.snapshot(), snapshotIntervalMs ?? DEFAULT_SNAPSHOT_INTERVAL_MS);
    }
    return monitor;
  }

  /** Starts watching a version (restoring its saved counts); a version is watched once. */
  async watch(version: string, reference: Reference | undefined, transform: FeatureTransform): Promise<void> {
    if (this.#watched.has(version)) return;
    let drift: DriftMonitor | undefined;
    if (reference !== undefined && this.#options !== false) {
      const saved = await this.#load(version);
      drift = new DriftMonitor(reference, transform, this.#options, saved);
    }
    if (this.#watched.has(version)) return;
    this.#watched.set(version, {
      version,
      drift,
      predictions: 0,
      refused: new Map(),
      latency: new Latency(),
      pending: { predictions: 0, latency: new Latency(), refused: new Map(), since: Date.now() },
      evaluatedAt: 0,
      lastDrifted: '',
    });
  }

  /** A call `version` scored, and how long the model took. */
  record(version: string, batch: ObservedBatch, ms: number): void {
    const watched = this.#watched.get(version);
    if (watched === undefined) return;
    watched.predictions += batch.rows;
    watched.latency.add(ms);
    watched.pending.predictions += batch.rows;
    watched.pending.latency.add(ms);
    if (watched.drift === undefined) return;
    watched.drift.record(batch);
    this.#dirty.add(version);
    this.#saveSoon();
    const seen = watched.drift.seen;
    if (seen - watched.evaluatedAt >= EVALUATE_EVERY_ROWS) {
      watched.evaluatedAt = seen;
      this.#evaluate(watched, watched.drift.report());
    }
  }

  /** A row of `version` refused by validation (`code`, e.g. UNKNOWN_CATEGORY). */
  refused(version: string, code: string): void {
    const watched = this.#watched.get(version);
    if (watched === undefined) return;
    watched.refused.set(code, (watched.refused.get(code) ?? 0) + 1);
    watched.pending.refused.set(code, (watched.pending.refused.get(code) ?? 0) + 1);
  }

  /** Queues a deployment event (update-available, activated, rejected, rollout, ...) as a count of one. */
  deploymentEvent(event: { readonly type: string; readonly version?: string; readonly code?: string; readonly strategy?: string }): void {
    if (event.type === 'drift') return; // drift is queued as ondevice.drift.alerts
    const attributes: Record<string, string> = { 'ondevice.event': event.type };
    if (event.version !== undefined) attributes['ondevice.version'] = event.version;
    if (event.code !== undefined) attributes['ondevice.error.code'] = event.code;
    if (event.strategy !== undefined) attributes['ondevice.rollout.strategy'] = event.strategy;
    this.#queue([{ kind: 'sum', name: 'ondevice.deployment.events', unit: '{event}', value: 1, attributes, startTimeMs: Date.now() }]);
  }

  /** Queues a version's gate result: its confidence-set metric and the largest end-to-end difference. */
  gate(
    version: string,
    report: {
      readonly passed: boolean;
      readonly metric?: { readonly name: string; readonly value: number };
      readonly endToEnd: { readonly maxDifference: number };
    },
  ): void {
    const metric = report.metric?.name ?? 'none';
    const attributes = { 'ondevice.version': version, 'ondevice.gate.passed': report.passed, 'ondevice.gate.metric': metric };
    this.#queue([
      ...(report.metric === undefined
        ? []
        : [{ kind: 'gauge' as const, name: 'ondevice.gate.metric', value: report.metric.value, attributes }]),
      { kind: 'gauge', name: 'ondevice.gate.max_difference', value: report.endToEnd.maxDifference, attributes },
    ]);
  }

  #queue(points: readonly MetricPoint[]): void {
    if (this.#outbox !== undefined && points.length > 0) void this.#outbox.add(points).catch(() => undefined);
  }

  async report(version: string): Promise<MonitorReport> {
    const watched = this.#watched.get(version);
    await this.#flushSave();
    if (watched === undefined) return { version, predictions: 0, refused: {}, latency: new Latency().summary() };
    const drift = watched.drift?.report();
    if (drift !== undefined) this.#evaluate(watched, drift);
    return {
      version,
      predictions: watched.predictions,
      refused: Object.fromEntries(watched.refused),
      latency: watched.latency.summary(),
      ...(drift === undefined ? {} : { drift }),
    };
  }

  /** Queues the aggregates gathered since the last snapshot as one telemetry record. */
  async snapshot(): Promise<void> {
    const outbox = this.#outbox;
    if (outbox === undefined) return;
    const points: MetricPoint[] = [];
    for (const watched of this.#watched.values()) {
      const { pending } = watched;
      if (pending.predictions === 0 && pending.refused.size === 0) continue;
      const attributes = { 'ondevice.version': watched.version };
      const startTimeMs = pending.since;
      points.push({ kind: 'sum', name: 'ondevice.predictions', unit: '{row}', value: pending.predictions, attributes, startTimeMs });
      if (pending.latency.calls > 0) {
        const l = pending.latency;
        points.push({
          kind: 'histogram',
          name: 'ondevice.scoring.duration',
          unit: 'ms',
          bounds: LATENCY_BOUNDS,
          counts: l.counts,
          sum: l.sum,
          count: l.calls,
          min: l.min,
          max: l.max,
          attributes,
          startTimeMs,
        });
      }
      for (const [code, count] of pending.refused)
        points.push({
          kind: 'sum',
          name: 'ondevice.input.refused',
          unit: '{row}',
          value: count,
          attributes: { ...attributes, 'ondevice.error.code': code },
          startTimeMs,
        });
      const drift = watched.drift?.report();
      if (drift !== undefined && drift.status !== 'collecting') {
        for (const f of drift.features) {
          const at = { ...attributes, 'ondevice.feature': f.field };
          points.push({ kind: 'gauge', name: 'ondevice.drift.psi', value: f.psi, attributes: at });
          points.push({ kind: 'gauge', name: 'ondevice.drift.missing_rate', value: f.missingRate, attributes: at });
          if (f.unknownRate !== undefined)
            points.push({ kind: 'gauge', name: 'ondevice.drift.unknown_rate', value: f.unknownRate, attributes: at });
        }
        points.push({
          kind: 'gauge',
          name: 'ondevice.drift.psi',
          value: drift.output.psi,
          attributes: { ...attributes, 'ondevice.feature': '(output)' },
        });
      }
      watched.pending = { predictions: 0, latency: new Latency(), refused: new Map(), since: Date.now() };
    }
    if (points.length > 0) await outbox.add(points);
  }

  /** Snapshots what is pending, then tries to deliver the queue now. */
  async flushTelemetry(): Promise<OutboxStatus | undefined> {
    if (this.#outbox === undefined) return undefined;
    await this.snapshot();
    return this.#outbox.flush();
  }

  async telemetryStatus(): Promise<OutboxStatus | undefined> {
    return this.#outbox?.status();
  }

  async close(): Promise<void> {
    if (this.#snapshotTimer !== undefined) clearInterval(this.#snapshotTimer);
    await this.snapshot().catch(() => undefined);
    this.#outbox?.close();
    await this.#flushSave();
    (await this.#db)?.close();
  }

  #evaluate(watched: Watched, report: DriftReport): void {
    const key = report.drifted.join(',');
    if (key === watched.lastDrifted) return;
    watched.lastDrifted = key;
    if (report.drifted.length === 0) return;
    const features = report.features.filter((f) => f.drifted).map((f) => ({ field: f.field, psi: f.psi, reasons: f.reasons }));
    this.#emit({ type: 'drift', version: watched.version, features, output: report.output.drifted });
    this.#queue(
      features.map((f) => ({
        kind: 'sum',
        name: 'ondevice.drift.alerts',
        unit: '{alert}',
        value: 1,
        attributes: { 'ondevice.version': watched.version, 'ondevice.feature': f.field },
        startTimeMs: Date.now(),
      })),
    );
  }

  #saveSoon(): void {
    if (this.#saveTimer !== undefined) return;
    this.#saveTimer = setTimeout(() => {
      this.#saveTimer = undefined;
      this.#saving = this.#saving.then(() => this.#save());
    }, SAVE_DELAY_MS);
  }

  async #flushSave(): Promise<void> {
    if (this.#saveTimer !== undefined) {
      clearTimeout(this.#saveTimer);
      this.#saveTimer = undefined;
      this.#saving = this.#saving.then(() => this.#save());
    }
    await this.#saving;
  }

  async #save(): Promise<void> {
    const db = await this.#db;
    if (db === undefined || this.#dirty.size === 0) return;
    const versions = [...this.#dirty];
    this.#dirty.clear();
    // One transaction for all: the saved picture is whole or absent, never half-written.
    const tx = db.transaction(STATE_STORE, 'readwrite');
    for (const version of versions) {
      const state = this.#watched.get(version)?.drift?.state();
      if (state !== undefined) void tx.store.put(state, this.#stateKey(version));
    }
    await tx.done.catch(() => undefined);
  }

  async #load(version: string): Promise<DriftState | undefined> {
    const db = await this.#db;
    if (db === undefined) return undefined;
    return ((await db.get(STATE_STORE, this.#stateKey(version)).catch(() => undefined)) as DriftState | undefined) ?? undefined;
  }

  #stateKey(version: string): string {
    return `${this.#key}#${version}`;
  }
}

const STATE_STORE = 'drift';

function openStateDatabase(): Promise<IDBPDatabase> {
  return openDB('ondevice-monitor', 1, {
    upgrade(db) {
      db.createObjectStore(STATE_STORE);
    },
  });
}

import * as Comlink from 'comlink';
import { InputError, OndeviceError, StateError, deserializeError } from '../errors/index.js';
import { expandAnswers, type ColumnarPrediction, type Prediction } from '../scoring/index.js';
import { withLabels } from '../scoring/labels.js';
import type { ScoreReply, ScoreRequest } from '../worker/score-protocol.js';
import type {
  ColumnarInput,
  DeploymentEvent,
  DeploymentEventType,
  FeatureMatrix,
  LoadProgress,
  ModelInfo,
  ModelSession,
  OndeviceModel,
  RowResult,
  TaskOptions,
  TaskProgress,
  UpdateResult,
  WorkerApi,
  WorkerLoadOptions,
} from '../worker/protocol.js';
import { MicroBatcher, type BatchingOptions } from './batcher.js';
import { PredictionCache, cacheKey, type CacheOptions } from './cache.js';
import { PARTS_MIN_ROWS, PART_ROWS, columnPlan, partToColumns, rowsToColumns, type ColumnPlan } from './columns.js';
import { checkColumnsSendable, plainRow, unsendableColumns } from './plain-rows.js';

/** The service's methods as the client calls them: each answers a promise, across a worker or in the same thread. */
export type ServiceEndpoint = {
  readonly [K in keyof WorkerApi]: WorkerApi[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};

/** Client-side options: they shape how calls reach the service, not what it does. */
export interface ClientOptions {
  /**
   * Micro-batching of concurrent `predict()` calls; `false` sends each call on its own.
   * @defaultValue `{}`: on, with `BatchingOptions`' defaults (a window of 0 ms, at most 1,024 rows)
   */
  readonly batching?: BatchingOptions | false;
  /**
   * A main-thread cache of predictions for repeated rows (LRU).
   * @defaultValue `false`: no cache
   */
  readonly cache?: CacheOptions | false;
}

/** How the client reaches the service and lets it go: behind a worker, or in the same thread. */
export interface ServiceLink {
  readonly endpoint: ServiceEndpoint;
  /** Rejects once the service can no longer answer (its worker died); never resolves. */
  readonly lost: Promise<never>;
  /** Ends the service (and its worker) once `dispose()` has been asked of it, however that went. */
  close(): void;
}

/** How long `dispose()` waits for the service to release its runtimes before ending it anyway. */
export const DISPOSE_TIMEOUT_MS = 5_000;

/**
 * The model as the app holds it: a thin client over the service (in a worker or in this thread).
 * Micro-batching, the prediction cache and laying big batches out in columns happen here; every
 * answer comes from the service.
 */
/**
 * Loads `channelUrl` on the service behind `link` (a worker, a worker thread or this thread) and
 * returns the client for it. A load that fails, or a service that dies first, closes the link.
 */
export async function openModel(
  link: ServiceLink,
  channelUrl: string,
  serviceOptions: WorkerLoadOptions,
  onProgress: ((progress: LoadProgress) => void) | undefined,
  { batching, cache }: ClientOptions,
): Promise<ModelClient> {
  // Events that arrive while the model loads have no listener yet: the app cannot have added one.
  let client: ModelClient | undefined;
  const onEvent = (event: DeploymentEvent): void => client?.handleEvent(event);
  try {
    const info = await Promise.race([
      link.endpoint.load(
        channelUrl,
        serviceOptions,
        onProgress === undefined ? undefined : Comlink.proxy(onProgress),
        Comlink.proxy(onEvent),
      ),
      link.lost,
    ]);
    client = new ModelClient(link, info, { ...(batching === undefined ? {} : { batching }), ...(cache === undefined ? {} : { cache }) });
    return client;
  } catch (error) {
    link.close();
    throw error;
  }
}

export class ModelClient implements OndeviceModel {
  readonly #link: ServiceLink;
  readonly #listeners = new Map<string, Set<(event: DeploymentEvent) => void>>();
  readonly #batcher: MicroBatcher | undefined;
  readonly #cache: PredictionCache | undefined;
  /** The live version's fields, for sending big batches of rows as columns; refreshed when the version or rollout changes. */
  #plan: ColumnPlan | undefined;
  #planAsked = 0;
  #disposed: Promise<void> | undefined;
  /** Rejects once the service is ended: a call still waiting then gets `DISPOSED` instead of waiting forever. */
  readonly #ended: Promise<never>;
  #end: (error: StateError) => void = () => undefined;

  constructor(link: ServiceLink, info: ModelInfo, options: ClientOptions) {
    this.#link = link;
    this.#ended = new Promise<never>((_, reject) => (this.#end = reject));
    this.#ended.catch(() => undefined);
    this.#plan = columnPlan(info.inputs);
    this.#batcher = options.batching === false ? undefined : new MicroBatcher((rows) => this.#predictEachChecked(rows), options.batching);
    this.#cache = options.cache === false || options.cache === undefined ? undefined : new PredictionCache(options.cache);
  }

  /** Deployment events from the service: a new version or rollout answers differently. */
  handleEvent(event: DeploymentEvent): void {
    if (event.type === 'activated' || event.type === 'rollout') {
      this.#cache?.clear();
      this.#refreshPlan();
    }
    this.#listeners.get(event.type)?.forEach((listener) => listener(event));
  }

  predict(row: Readonly<Record<string, unknown>>): Promise<Prediction> {
    return this.#live(() => this.#predictOne(row));
  }

  predictBatch(rows: readonly Readonly<Record<string, unknown>>[]): Promise<Prediction[]> {
    return this.#live(() => this.#predictBatch(rows));
  }

  predictEach(rows: readonly Readonly<Record<string, unknown>>[]): Promise<RowResult[]> {
    return this.#live(() => this.#predictEach(rows));
  }

  predictColumns(columns: ColumnarInput): Promise<ColumnarPrediction> {
    return this.#live(async () => {
      checkColumnsSendable(columns);
      const reply = await this.#score({ input: 'columns', columns, answer: 'columnar' }, transferables(columns)).catch((error: unknown) => {
        throw unsendableColumns(columns, error);
      });
      if (reply.kind !== 'columnar') throw unexpected(reply);
      // Not spread: the labels are a getter, made when first read.
      return withLabels(reply.reply, { version: reply.version, firstId: reply.firstId });
    });
  }

  features(rows: readonly Readonly<Record<string, unknown>>[]): Promise<FeatureMatrix> {
    return this.#live(async () => {
      const plain = plainRows(rows);
      return this.#call((api) => api.features(plain));
    });
  }

  session(): Promise<ModelSession> {
    return this.#live(async () => {
      const { id, version } = await this.#call((api) => api.openSession());
      return new ClientSession(id, version, this.#call.bind(this));
    });
  }

  info(): Promise<ModelInfo> {
    return this.#live(() => this.#call((api) => api.info()));
  }

  update(): Promise<UpdateResult> {
    return this.#live(() => this.#call((api) => api.update()));
  }

  reportOutcome(id: string, reward: number): Promise<void> {
    return this.#live(() => this.#call((api) => api.reportOutcome(id, reward)));
  }

  monitor(version?: string): ReturnType<OndeviceModel['monitor']> {
    return this.#live(() => this.#call((api) => api.monitor(version)));
  }

  telemetry(): ReturnType<OndeviceModel['telemetry']> {
    return this.#live(() => this.#call((api) => api.telemetry()));
  }

  flushTelemetry(): ReturnType<OndeviceModel['flushTelemetry']> {
    return this.#live(() => this.#call((api) => api.flushTelemetry()));
  }

  explain(
    row: Readonly<Record<string, unknown>>,
    options: Parameters<OndeviceModel['explain']>[1] = {},
  ): ReturnType<OndeviceModel['explain']> {
    return this.#live(async () => {
      const checked = plainRow(row, 0);
      return this.#task(options, (plain, id, progress) => this.#call((api) => api.explain(checked, plain, id, progress)));
    });
  }

  importance(options: Parameters<OndeviceModel['importance']>[0] = {}): ReturnType<OndeviceModel['importance']> {
    return this.#live(() => this.#task(options, (plain, id, progress) => this.#call((api) => api.importance(plain, id, progress))));
  }

  partialDependence(
    field: string,
    options: Parameters<OndeviceModel['partialDependence']>[1] = {},
  ): ReturnType<OndeviceModel['partialDependence']> {
    return this.#live(() =>
      this.#task(options, (plain, id, progress) => this.#call((api) => api.partialDependence(field, plain, id, progress))),
    );
  }

  on<T extends DeploymentEventType>(type: T, listener: (event: Extract<DeploymentEvent, { type: T }>) => void): () => void {
    const set = this.#listeners.get(type) ?? new Set();
    this.#listeners.set(type, set);
    const wrapped = listener as (event: DeploymentEvent) => void;
    set.add(wrapped);
    return () => void set.delete(wrapped);
  }

  /** Releases the runtimes and ends the service; settles within `DISPOSE_TIMEOUT_MS` even if the service does not answer. */
  dispose(): Promise<void> {
    this.#disposed ??= settleWithin(
      this.#call((api) => api.dispose()),
      DISPOSE_TIMEOUT_MS,
    ).finally(() => {
      this.#link.close();
      this.#end(new StateError('DISPOSED', 'this model was disposed while the call was under way', {}));
    });
    return this.#disposed;
  }

  /** After dispose, the library's own error, not the transport's. */
  #live<T>(call: () => Promise<T>): Promise<T> {
    return this.#disposed === undefined ? call() : Promise.reject(new StateError('DISPOSED', 'this model was disposed', {}));
  }

  /** A call to the service that fails, instead of waiting forever, if the service is lost meanwhile. */
  #call<T>(call: (api: ServiceEndpoint) => Promise<T>): Promise<T> {
    return Promise.race([call(this.#link.endpoint), this.#link.lost, this.#ended]);
  }

  /** A scoring call; `moved`: buffers transferred with it (comlink finds them only on the call's own argument). */
  #score(request: ScoreRequest, moved: readonly ArrayBuffer[] = []): Promise<ScoreReply> {
    return this.#call((api) => api.score(moved.length === 0 ? request : Comlink.transfer(request, [...moved])));
  }

  #refreshPlan(): void {
    this.#plan = undefined;
    const asked = ++this.#planAsked;
    this.#call((api) => api.info()).then(
      (info) => void (asked === this.#planAsked && (this.#plan = columnPlan(info.inputs))),
      () => undefined,
    );
  }

  async #predictOne(original: Readonly<Record<string, unknown>>): Promise<Prediction> {
    // Checked here: a row that cannot be sent fails this call only, not the micro-batch it would join.
    const row = plainRow(original, 0);
    const key = this.#cache === undefined ? undefined : cacheKey(row);
    const cached = key === undefined ? undefined : this.#cache!.get(key);
    if (cached !== undefined) return cached;
    const prediction = await (this.#batcher === undefined ? this.#predictAlone(row) : this.#batcher.add(row));
    if (key !== undefined) this.#cache!.set(key, prediction);
    return prediction;
  }

  async #predictAlone(row: unknown): Promise<Prediction> {
    const reply = await this.#score({ input: 'rows', rows: [row], answer: 'typed' });
    if (reply.kind !== 'typed') throw unexpected(reply);
    return expandAnswers(reply.answers, reply.version, reply.firstId)[0]!;
  }

  /** Rows answered each on its own; a row that cannot be sent gets its own error here, and the others go. */
  async #predictEach(rows: readonly unknown[]): Promise<RowResult[]> {
    if (!Array.isArray(rows)) throw new InputError('INVALID_BATCH', `expected an array of rows, got ${typeof rows}`, {});
    const results = new Array<RowResult>(rows.length);
    const sent: Record<string, unknown>[] = [];
    const at: number[] = [];
    rows.forEach((row, r) => {
      try {
        sent.push(plainRow(row, r));
        at.push(r);
      } catch (error) {
        if (!(error instanceof InputError)) throw error;
        // Told as row 0, as every call of predictEach is, as if sent alone.
        results[r] = { ok: false, error: error.atRow(0) };
      }
    });
    if (sent.length > 0) (await this.#predictEachChecked(sent)).forEach((result, k) => (results[at[k]!] = result));
    return results;
  }

  /** Checked rows answered each on its own: laid out as columns when they are regular and many, else sent as they are. */
  async #predictEachChecked(rows: readonly unknown[]): Promise<RowResult[]> {
    const columns = rowsToColumns(rows, this.#plan);
    if (columns !== undefined) {
      const reply = await this.#score({ input: 'columns', columns, answer: 'each', laidOut: true }, transferables(columns));
      if (reply.kind !== 'refit') return eachResults(reply, rows.length);
    }
    return eachResults(await this.#score({ input: 'rows', rows, answer: 'each' }), rows.length);
  }

  async #predictBatch(rows: readonly Readonly<Record<string, unknown>>[]): Promise<Prediction[]> {
    if (!Array.isArray(rows)) throw new InputError('INVALID_BATCH', `expected an array of rows, got ${typeof rows}`, {});
    const plan = this.#plan;
    if (plan !== undefined && rows.length >= PARTS_MIN_ROWS) {
      const predictions = await this.#predictInParts(rows, plan).catch(unlessTyped);
      if (predictions !== undefined) return predictions;
    }
    // A row the column layout cannot read (a throwing getter, say) is left to plainRows, which names it.
    const columns = attempt(() => rowsToColumns(rows, plan));
    if (columns !== undefined) {
      const reply = await this.#score({ input: 'columns', columns, answer: 'typed', laidOut: true }, transferables(columns));
      if (reply.kind === 'typed') return expandAnswers(reply.answers, reply.version, reply.firstId);
      // The version routed to takes other fields: rows, until the plan is refreshed.
      this.#refreshPlan();
    }
    const reply = await this.#score({ input: 'rows', rows: plainRows(rows), answer: 'typed' });
    if (reply.kind !== 'typed') throw unexpected(reply);
    return expandAnswers(reply.answers, reply.version, reply.firstId);
  }

  /** A large batch of regular rows in parts (see PARTS_MIN_ROWS); undefined: send it whole instead. */
  async #predictInParts(rows: readonly unknown[], plan: ColumnPlan): Promise<Prediction[] | undefined> {
    const id = await this.#call((api) => api.openParts(rows.length));
    if (id === null) return undefined;
    let open = true;
    const sent: Promise<void>[] = [];
    try {
      for (let at = 0; at < rows.length; at += PART_ROWS) {
        const columns = partToColumns(rows, plan, at, Math.min(rows.length, at + PART_ROWS));
        if (columns === undefined) return undefined;
        // Not awaited: the service takes the parts in order while this thread lays out the next.
        const added = this.#call((api) => api.addPart(id, at, Comlink.transfer(columns, transferables(columns))));
        // Awaited below; a failure that scoring the batch reports first is not left unhandled.
        added.catch(() => undefined);
        sent.push(added);
      }
      open = false;
      const reply = await this.#score({ input: 'parts', batch: id, answer: 'typed' });
      await Promise.all(sent);
      return reply.kind === 'typed' ? expandAnswers(reply.answers, reply.version, reply.firstId) : undefined;
    } finally {
      if (open) {
        void this.#call((api) => api.abortParts(id)).catch(() => undefined);
        await Promise.allSettled(sent);
      }
    }
  }

  /**
   * A long task in the service: its progress callback goes as a comlink proxy, and its signal stays
   * here (it cannot be cloned): aborting it asks the service to cancel the task by its id.
   */
  async #task<O extends TaskOptions, T>(
    options: O,
    call: (plain: Omit<O, 'signal' | 'onProgress'>, id: string, onProgress: ((progress: TaskProgress) => void) | undefined) => Promise<T>,
  ): Promise<T> {
    const { signal, onProgress, ...plain } = options;
    if (signal?.aborted) throw new StateError('CANCELLED', 'the task was cancelled before it started', {});
    const id = String(++lastTaskId);
    const abort = (): void => void this.#call((api) => api.cancel(id)).catch(() => undefined);
    signal?.addEventListener('abort', abort, { once: true });
    try {
      return await call(plain, id, onProgress === undefined ? undefined : Comlink.proxy(onProgress));
    } finally {
      signal?.removeEventListener('abort', abort);
    }
  }
}

let lastTaskId = 0;

/** Every row checked for sending (`plainRow`); the first that cannot be sent rejects the batch, naming its row. */
function plainRows(rows: unknown): Record<string, unknown>[] {
  if (!Array.isArray(rows)) throw new InputError('INVALID_BATCH', `expected an array of rows, got ${typeof rows}`, {});
  return rows.map((row: unknown, r) => plainRow(row, r));
}

/** `run()`, or undefined when it throws anything but a typed error (the slower path then names the problem). */
function attempt<T>(run: () => T | undefined): T | undefined {
  try {
    return run();
  } catch (error) {
    return unlessTyped(error);
  }
}

function unlessTyped(error: unknown): undefined {
  if (error instanceof OndeviceError) throw error;
  return undefined;
}

/** Each call's own outcome from an `each` reply. */
function eachResults(reply: ScoreReply, rows: number): RowResult[] {
  if (reply.kind !== 'each') throw unexpected(reply);
  const results = new Array<RowResult>(rows);
  for (const group of reply.groups) {
    expandAnswers(group.answers, group.version, group.firstId).forEach(
      (prediction, k) => (results[group.rows[k]!] = { ok: true, prediction }),
    );
  }
  for (const { row, error } of reply.refused) results[row] = { ok: false, error: deserializeError(error) as InputError };
  return results;
}

function unexpected(reply: ScoreReply): StateError {
  return new StateError(
    'NOT_READY',
    `the service answered ${reply.kind === 'refit' ? `"refit" (${reply.reason})` : `a ${reply.kind} reply`} where it could not`,
    {},
  );
}

/** Resolves when `promise` settles or `ms` pass, whichever is first; never rejects. */
function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const elapsed = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return Promise.race([promise.then(noop, noop), elapsed]).finally(() => clearTimeout(timer));
}

const noop = (): void => undefined;

/** The buffers of the typed arrays among the columns (dictionary codes too), each once: moved to the worker, not copied. */
export function transferables(columns: ColumnarInput): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  if (typeof columns !== 'object' || columns === null) return [];
  for (const column of Object.values(columns)) {
    const typed = ArrayBuffer.isView(column)
      ? column
      : !Array.isArray(column) && typeof column === 'object' && column !== null && 'codes' in column
        ? column.codes
        : undefined;
    if (ArrayBuffer.isView(typed) && typed.buffer instanceof ArrayBuffer) buffers.add(typed.buffer);
  }
  return [...buffers];
}

/** A session as the app holds it: its state stays in the service, under `id`. */
class ClientSession implements ModelSession {
  #version: string;
  #closed = false;
  readonly #id: number;
  readonly #call: <T>(call: (api: ServiceEndpoint) => Promise<T>) => Promise<T>;

  constructor(id: number, version: string, call: <T>(call: (api: ServiceEndpoint) => Promise<T>) => Promise<T>) {
    this.#id = id;
    this.#version = version;
    this.#call = call;
  }

  get version(): string {
    return this.#version;
  }

  predict(row: Readonly<Record<string, unknown>>): Promise<Prediction> {
    return this.#open(async () => {
      const reply = await this.#call((api) => api.sessionStep(this.#id, [plainRow(row, 0)]));
      if (reply.kind !== 'typed') throw unexpected(reply);
      return expandAnswers(reply.answers, reply.version, reply.firstId)[0]!;
    });
  }

  reset(): Promise<void> {
    return this.#open(async () => {
      this.#version = (await this.#call((api) => api.resetSession(this.#id))).version;
    });
  }

  state(): ReturnType<ModelSession['state']> {
    return this.#open(() => this.#call((api) => api.sessionState(this.#id)));
  }

  async dispose(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#call((api) => api.closeSession(this.#id)).catch(() => undefined);
  }

  #open<T>(call: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new StateError('DISPOSED', 'this session was disposed', { session: this.#id }));
    return call();
  }
}

import * as Comlink from 'comlink';
import { defaultIo, type BundleIo } from '../bundle/index.js';
import { InputError, StateError, serializeError } from '../errors/index.js';
import {
  explain,
  partialDependence,
  permutationImportance,
  type ExplainOptions,
  type Explanation,
  type ImportanceOptions,
  type PartialDependence,
  type PartialDependenceOptions,
  type PermutationImportance,
} from '../explain/index.js';
import { categoryCodes } from '../features/index.js';
import type { TensorData } from '../runtimes/index.js';
import { ModelMonitor, type MonitorReport, type OutboxStatus } from '../monitor/index.js';
import type { Route } from '../rollout/index.js';
import { expandAnswers, outputAt, type Prediction, type ScoredBatch, type Scorer, type TypedAnswers } from '../scoring/index.js';
import { Deployment, type AcquiredVersion } from './deployment.js';
import {
  PROTOCOL_VERSION,
  type DeploymentEvent,
  type FeatureMatrix,
  type LoadProgress,
  type ModelInfo,
  type TaskProgress,
  type UpdateResult,
  type WorkerApi,
  type WorkerLoadOptions,
} from './protocol.js';
import {
  Refit,
  SERVING,
  columnsReader,
  fitsLaidOut,
  partsReader,
  rowsReader,
  type InputReader,
  type OpenBatch,
  type Scored,
} from './readers.js';
import { PredictionIds, ShadowRecorder } from './records.js';
import { Sessions } from './sessions.js';
import type { Answer, Answered, ScoreReply, ScoreRequest } from './score-protocol.js';

/** Where the service stands: nothing loaded, loading, serving, or disposed (then every call is refused). */
export type ServiceState = 'idle' | 'loading' | 'serving' | 'disposed';

/** A version held for one call, and how it is let go (a batch sent in parts holds its own). */
interface Held {
  readonly acquired: AcquiredVersion;
  readonly release: () => void;
}

/**
 * The model behind the worker boundary; usable in the same thread too (`ondevice/node`, tests).
 * Every way in is an input reader feeding one pipeline (`#serve`): route, acquire, score, record
 * (stats, drift, refusals, ids, shadow), shape the answer, release.
 */
export class ModelService implements WorkerApi {
  #state: ServiceState = 'idle';
  #deployment: Deployment | undefined;
  #monitor: ModelMonitor | undefined;
  /** Model runs and rows scored since load: what micro-batching saves shows here. */
  readonly #stats = { runs: 0, rows: 0 };
  readonly #ids = new PredictionIds();
  readonly #shadow = new ShadowRecorder();
  /** Long tasks running, by the id the main thread gave them: `cancel` aborts one. */
  readonly #tasks = new Map<string, AbortController>();
  /** Batches sent in parts (`openParts`), by id. */
  readonly #batches = new Map<number, OpenBatch>();
  #lastBatch = 0;
  /** Streaming sessions (`openSession`), with their state. */
  readonly #sessions = new Sessions();
  readonly #io: BundleIo;

  /** `io`: where bundles are read from and kept (default: `fetch` and IndexedDB). */
  constructor(io: BundleIo = defaultIo()) {
    this.#io = io;
  }

  get state(): ServiceState {
    return this.#state;
  }

  async hello(): Promise<{ readonly protocol: number }> {
    return { protocol: PROTOCOL_VERSION };
  }

  async load(
    channelUrl: string,
    options: WorkerLoadOptions = {},
    onProgress?: (progress: LoadProgress) => void,
    onEvent?: (event: DeploymentEvent) => void,
  ): Promise<ModelInfo> {
    if (this.#state !== 'idle')
      throw this.#state === 'disposed' ? disposed() : new StateError('NOT_READY', 'this worker already serves a model');
    this.#state = 'loading';
    const { monitor: monitorOptions, telemetry, ...deploymentOptions } = options;
    const monitor = await ModelMonitor.open(channelUrl, monitorOptions, telemetry, (event) => onEvent?.(event));
    const deployment = new Deployment(
      channelUrl,
      deploymentOptions,
      (event) => this.#tell(event, monitor, deployment, onEvent),
      onProgress,
      this.#io,
    );
    this.#deployment = deployment;
    this.#monitor = monitor;
    try {
      await deployment.start();
    } catch (error) {
      await this.#close();
      if (this.#state === 'loading') this.#state = 'idle';
      throw error;
    }
    // Disposed while it started: the start itself then ended with DISPOSED.
    this.#state = 'serving';
    const info = deployment.info();
    monitor.gate(info.version, info.gate);
    return info;
  }

  #tell(
    event: DeploymentEvent,
    monitor: ModelMonitor,
    deployment: Deployment,
    onEvent: ((event: DeploymentEvent) => void) | undefined,
  ): void {
    onEvent?.(event);
    monitor.deploymentEvent(event);
    if (event.type === 'activated') monitor.gate(event.version, deployment.info().gate);
  }

  /** Scores one call, whatever form its input takes: one routing decision per call (per row, for micro-batched rows under a per-call rollout). */
  async score(request: ScoreRequest): Promise<ScoreReply> {
    const deployment = this.#ready();
    if (request.input === 'parts') return this.#scoreParts(request.batch);
    const reader = request.input === 'rows' ? rowsReader(request.rows) : columnsReader(request.columns, request.laidOut === true);
    if (request.answer === 'each' && !deployment.routesAlike()) {
      if (request.input === 'columns') return { kind: 'refit', reason: 'this rollout routes each call on its own' };
      return this.#scoreEachRouted(request.rows);
    }
    const route = deployment.route();
    return this.#serve(route, this.#acquire(route.version), reader, request.answer);
  }

  /**
   * The pipeline every call goes through: the version is held, the reader scores its input, the
   * run is recorded (stats, drift, refusals, ids, shadow) and the answer shaped; the version is
   * released however it ends.
   */
  async #serve(route: Route, held: Held, reader: InputReader, answer: Answer): Promise<ScoreReply> {
    const { acquired } = held;
    try {
      const unfit = reader.unfit(acquired.scorer);
      if (unfit !== undefined) return { kind: 'refit', reason: unfit };
      await this.#watch(acquired);
      const started = performance.now();
      const scored = await this.#refusalsCounted(acquired.version, () => reader.score(acquired.scorer, answer === 'each'));
      return this.#record(route, acquired, reader, scored, answer, performance.now() - started);
    } catch (error) {
      if (error instanceof Refit) return { kind: 'refit', reason: error.message };
      throw error;
    } finally {
      held.release();
    }
  }

  /** Records a run (stats, refusals, drift, ids, the shadow's rescoring) and shapes its answer. */
  #record(route: Route, acquired: AcquiredVersion, reader: InputReader, scored: Scored, answer: Answer, ms: number): ScoreReply {
    const { scorer, version } = acquired;
    const { batch, kept, refused } = scored;
    this.#stats.runs++;
    this.#stats.rows += batch.rows;
    for (const error of refused.values()) this.#monitor?.refused(version, error.code);
    const answers = answer === 'columnar' ? scorer.columnarReply(batch) : scorer.answers(batch);
    this.#monitor?.record(version, { rows: batch.rows, raw: batch.raw ?? EMPTY_COLUMNS, outputAt: outputAt(answers) }, ms);
    const firstId = this.#ids.remember(version, batch.rows);
    if (route.shadow !== undefined)
      this.#shadowLater(
        route.shadow,
        (shadow) => reader.rescore(shadow, kept),
        () => expandAnswers(scorer.answers(batch), version, firstId),
      );
    const buffers = answerBuffers(answers);
    if (answer === 'columnar')
      return Comlink.transfer(
        { kind: 'columnar', version, firstId, reply: answers as Extract<ScoreReply, { kind: 'columnar' }>['reply'] },
        buffers,
      );
    const answered: Answered = { version, firstId, answers: answers as Answered['answers'] };
    if (answer === 'typed') return Comlink.transfer({ kind: 'typed', ...answered }, buffers);
    const rows = kept ?? Array.from({ length: batch.rows }, (_, r) => r);
    const refusedRows = [...refused].map(([row, error]) => ({ row, error: serializeError(error) }));
    return Comlink.transfer({ kind: 'each', groups: batch.rows === 0 ? [] : [{ ...answered, rows }], refused: refusedRows }, buffers);
  }

  /**
   * Micro-batched rows under a rollout that routes call by call (shadow, bandit): each row is
   * routed on its own, and the rows going to the same version (and shadow) are scored together.
   */
  async #scoreEachRouted(rows: unknown): Promise<ScoreReply> {
    if (!Array.isArray(rows)) throw new InputError('INVALID_BATCH', 'expected an array of rows', {});
    const deployment = this.#ready();
    const groups = new Map<string, { route: Route; rows: number[] }>();
    rows.forEach((_, r) => {
      const route = deployment.route();
      const key = `${route.version}\n${route.shadow ?? ''}`;
      const group = groups.get(key) ?? { route, rows: [] };
      group.rows.push(r);
      groups.set(key, group);
    });
    const merged: {
      groups: Extract<ScoreReply, { kind: 'each' }>['groups'][number][];
      refused: Extract<ScoreReply, { kind: 'each' }>['refused'][number][];
    } = { groups: [], refused: [] };
    for (const { route, rows: indices } of groups.values()) {
      const reply = await this.#serve(route, this.#acquire(route.version), rowsReader(indices.map((r) => rows[r])), 'each');
      if (reply.kind !== 'each') continue;
      for (const group of reply.groups) merged.groups.push({ ...group, rows: group.rows.map((k) => indices[k]!) });
      for (const refusal of reply.refused) merged.refused.push({ ...refusal, row: indices[refusal.row]! });
    }
    return { kind: 'each', ...merged };
  }

  #acquire(version: string): Held {
    const acquired = this.#ready().acquire(version);
    return { acquired, release: acquired.release };
  }

  /**
   * Opens a large `predictBatch` sent in parts, as the main thread lays its rows out in columns:
   * each part is validated and written into the model input while the main thread prepares the
   * next. One routing decision; the version is held until the batch is scored or aborted. Null
   * when the route has a shadow (it rescores whole calls) or the model is not tabular: then the
   * rows go whole.
   */
  async openParts(rows: unknown): Promise<number | null> {
    const deployment = this.#ready();
    const route = deployment.route();
    if (route.shadow !== undefined) return null;
    if (typeof rows !== 'number' || !Number.isSafeInteger(rows) || rows < 1)
      throw new InputError('INVALID_BATCH', `a batch of ${String(rows)} rows`, {});
    const acquired = deployment.acquire(route.version);
    const { transform } = acquired.scorer;
    try {
      if (transform.lendInput === undefined || transform.prepareColumnsInto === undefined) {
        acquired.release();
        return null;
      }
      await this.#watch(acquired);
      const lent = transform.lendInput(rows);
      // Each part's raw values are copied in as it arrives, while the main thread lays out the next.
      const raw = {
        numbers: new Map(transform.inputs.filter((f) => f.type === 'number').map((f) => [f.name, new Float64Array(rows)])),
        categories: new Map(transform.inputs.filter((f) => f.type === 'category').map((f) => [f.name, new Int32Array(rows)])),
      };
      const id = ++this.#lastBatch;
      this.#batches.set(id, { acquired, lent, raw, filled: 0 });
      return id;
    } catch (error) {
      acquired.release();
      throw error;
    }
  }

  /**
   * One part of an open batch: rows `at` onwards. A refused value is kept (naming its row in the
   * whole batch) and thrown when the batch is scored; later parts are then ignored, so the first
   * refusal in row order is the one reported, as for the batch sent whole.
   */
  addPart(id: number, at: number, columns: unknown): void {
    const batch = this.#batches.get(id);
    if (batch === undefined) throw new StateError('NOT_READY', `no open batch ${String(id)}`);
    if (batch.outcome !== undefined) return;
    const { transform } = batch.acquired.scorer;
    if (!fitsLaidOut(transform, columns) || at !== batch.filled) {
      batch.outcome = 'unfit';
      return;
    }
    try {
      const part = transform.prepareColumnsInto!(columns, batch.lent, at);
      for (const [name, column] of part.raw!.numbers) batch.raw.numbers.get(name)?.set(column, at);
      for (const name of part.raw!.categories.keys()) batch.raw.categories.get(name)?.set(categoryCodes(part.raw!, name)!, at);
      batch.filled += part.rows;
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      batch.outcome = typeof error.details.row === 'number' ? error.atRow(error.details.row + at) : error;
    }
  }

  /** Drops an open batch (the main thread met a row it sends whole instead). */
  abortParts(id: number): void {
    const batch = this.#batches.get(id);
    if (batch === undefined) return;
    this.#batches.delete(id);
    batch.lent.release();
    batch.acquired.release();
  }

  async #scoreParts(id: number): Promise<ScoreReply> {
    const batch = this.#batches.get(id);
    if (batch === undefined) throw new StateError('NOT_READY', `no open batch ${String(id)}`);
    this.#batches.delete(id);
    const held: Held = {
      acquired: batch.acquired,
      release: () => {
        batch.lent.release();
        batch.acquired.release();
      },
    };
    // The batch was routed when it was opened (never with a shadow).
    return this.#serve({ version: batch.acquired.version }, held, partsReader(batch), 'typed');
  }

  /** Starts watching a version the first time it serves (its saved drift counts are read then). */
  async #watch(acquired: AcquiredVersion): Promise<void> {
    await this.#monitor?.watch(acquired.version, acquired.reference, acquired.scorer.transform);
  }

  /** Rows refused by validation are counted per error code (the error still reaches the caller). */
  async #refusalsCounted<T>(version: string, scoring: () => Promise<T>): Promise<T> {
    try {
      // Validation throws before any promise exists: call inside the try.
      return await scoring();
    } catch (error) {
      if (error instanceof InputError) this.#monitor?.refused(version, error.code);
      throw error;
    }
  }

  /**
   * The candidate scores the same rows (`rescore`) after the live answer has gone: it never slows
   * it. `live` gives the live answers then, so a call answered in typed arrays builds them only here.
   */
  #shadowLater(version: string, rescore: (scorer: Scorer) => Promise<ScoredBatch>, live: () => readonly Prediction[]): void {
    setTimeout(() => {
      if (this.#state !== 'serving') return;
      const started = performance.now();
      const acquired = this.#ready().acquire(version);
      const { scorer, version: used, release } = acquired;
      if (used !== version) return release();
      rescore(scorer)
        .then((batch) => this.#shadow.record(live(), scorer.predictions(batch), performance.now() - started))
        .catch(() => undefined)
        .finally(release);
    }, 0);
  }

  async openSession(): Promise<{ readonly id: number; readonly version: string }> {
    const deployment = this.#ready();
    const acquired = deployment.acquire(deployment.route().version);
    if (acquired.scorer.transform.spec.kind !== 'tensor' || !acquired.scorer.transform.spec.tensors.some((t) => t.state !== undefined)) {
      acquired.release();
      throw new StateError('UNSUPPORTED', 'a session carries state between calls: this model declares none (use predict)', {
        instead: 'predict',
      });
    }
    return this.#sessions.open(acquired);
  }

  async sessionStep(id: number, rows: unknown): Promise<ScoreReply> {
    this.#ready();
    const { batch, scorer, version } = await this.#sessions.step(id, rows, (v, run) => this.#refusalsCounted(v, run));
    this.#stats.runs++;
    this.#stats.rows += batch.rows;
    const answers = scorer.answers(batch);
    const firstId = this.#ids.remember(version, batch.rows);
    return Comlink.transfer({ kind: 'typed', version, firstId, answers: answers as Answered['answers'] }, answerBuffers(answers));
  }

  async resetSession(id: number): Promise<{ readonly version: string }> {
    const deployment = this.#ready();
    return this.#sessions.reset(id, () => deployment.acquire(deployment.route().version));
  }

  async sessionState(id: number): Promise<Record<string, { readonly data: TensorData; readonly dims: readonly number[] }> | undefined> {
    this.#ready();
    return this.#sessions.state(id);
  }

  async closeSession(id: number): Promise<void> {
    this.#sessions.close(id);
  }

  async reportOutcome(id: string, reward: number): Promise<void> {
    const deployment = this.#ready();
    if (typeof reward !== 'number' || !Number.isFinite(reward))
      throw new InputError('NOT_FINITE', 'the reward must be a finite number (1 success, 0 failure)', { field: 'reward' });
    const version = this.#ids.take(id);
    if (version === undefined)
      throw new InputError('UNKNOWN_PREDICTION', `no recent prediction has id "${String(id).slice(0, 40)}"`, { field: 'id' });
    deployment.report(version, reward);
  }

  async features(rows: unknown): Promise<FeatureMatrix> {
    const { scorer, release } = this.#ready().acquire();
    try {
      const prepared = scorer.transform.prepare(rows);
      const values = prepared.features ?? new Float64Array(0);
      // Transferred, not copied, to the main thread.
      return Comlink.transfer({ rows: prepared.rows, names: scorer.transform.names, values }, [values.buffer]);
    } finally {
      release();
    }
  }

  async info(): Promise<ModelInfo> {
    const deployment = this.#ready();
    const { scorer, release } = deployment.acquire();
    const tensors = scorer.runtime.liveTensors?.();
    const shards = scorer.runtime.shards?.();
    release();
    const info = deployment.info();
    const rollout = info.rollout.strategy === 'shadow' ? { ...info.rollout, shadow: this.#shadow.stats() } : info.rollout;
    const runtime = shards === undefined ? info.runtime : { ...info.runtime, shards };
    return { ...info, runtime, rollout, stats: { ...this.#stats, ...(tensors === undefined ? {} : { tensors }) } };
  }

  async update(): Promise<UpdateResult> {
    return this.#ready().update();
  }

  async monitor(version?: string): Promise<MonitorReport> {
    const deployment = this.#ready();
    const wanted = version ?? deployment.info().version;
    const acquired = deployment.acquire(wanted);
    try {
      if (acquired.version !== wanted)
        throw new InputError('INVALID_OPTION', `monitor(version): this device serves no version "${String(wanted).slice(0, 40)}"`, {
          field: 'version',
        });
      await this.#watch(acquired);
    } finally {
      acquired.release();
    }
    return this.#monitor!.report(wanted);
  }

  async telemetry(): Promise<OutboxStatus | undefined> {
    this.#ready();
    return this.#monitor!.telemetryStatus();
  }

  async flushTelemetry(): Promise<OutboxStatus | undefined> {
    this.#ready();
    return this.#monitor!.flushTelemetry();
  }

  async explain(row: unknown, options: ExplainOptions, taskId: string, onProgress?: ProgressListener): Promise<Explanation> {
    return this.#task(taskId, onProgress, ({ scorer, confidence, reference }, run) =>
      explain(scorer, row, confidence, reference, { ...options, ...run }),
    );
  }

  async importance(options: ImportanceOptions, taskId: string, onProgress?: ProgressListener): Promise<PermutationImportance> {
    const metric = this.#ready().info().gate.metric?.name;
    if (metric === undefined) throw new StateError('UNSUPPORTED', 'permutation importance needs a gate metric; this model has none', {});
    return this.#task(taskId, onProgress, ({ scorer, confidence }, run) =>
      permutationImportance(scorer, confidence, metric, { ...options, ...run }),
    );
  }

  async partialDependence(
    field: unknown,
    options: PartialDependenceOptions,
    taskId: string,
    onProgress?: ProgressListener,
  ): Promise<PartialDependence> {
    if (typeof field !== 'string')
      throw new InputError('WRONG_TYPE', 'partialDependence(field): the field must be a string', { field: 'field', expected: 'string' });
    return this.#task(taskId, onProgress, ({ scorer, confidence }, run) =>
      partialDependence(scorer, confidence, field, { ...options, ...run }),
    );
  }

  async cancel(taskId: string): Promise<void> {
    this.#tasks.get(taskId)?.abort();
  }

  /**
   * Runs a long task on the live version, cancellable by its id; the version is held until it ends.
   * Progress goes back through a comlink proxy, not awaited: the task never waits on the page.
   */
  async #task<T>(
    taskId: string,
    onProgress: ProgressListener | undefined,
    task: (acquired: AcquiredVersion, run: { signal: AbortSignal; onProgress?: ProgressListener }) => Promise<T>,
  ): Promise<T> {
    const acquired = this.#ready().acquire();
    const controller = new AbortController();
    this.#tasks.set(taskId, controller);
    const report =
      onProgress === undefined ? {} : { onProgress: (p: TaskProgress) => void Promise.resolve(onProgress(p)).catch(() => undefined) };
    try {
      return await task(acquired, { signal: controller.signal, ...report });
    } finally {
      this.#tasks.delete(taskId);
      acquired.release();
    }
  }

  /** Ends the service: long tasks are cancelled, batches in parts dropped, the monitor and deployment closed (updates and timers included). */
  async dispose(): Promise<void> {
    if (this.#state === 'disposed') return;
    this.#state = 'disposed';
    for (const controller of this.#tasks.values()) controller.abort();
    for (const id of [...this.#batches.keys()]) this.abortParts(id);
    this.#sessions.closeAll();
    await this.#close();
  }

  async #close(): Promise<void> {
    const deployment = this.#deployment;
    const monitor = this.#monitor;
    this.#deployment = undefined;
    this.#monitor = undefined;
    await monitor?.close();
    await deployment?.dispose();
  }

  #ready(): Deployment {
    if (this.#state === 'disposed') throw disposed();
    if (this.#state !== 'serving' || this.#deployment === undefined) throw new StateError('NOT_READY', 'no model is loaded yet');
    return this.#deployment;
  }
}

const disposed = (): StateError => new StateError('DISPOSED', 'this model was disposed');

const EMPTY_COLUMNS = { numbers: new Map<string, Float64Array>(), categories: new Map<string, Int32Array>() };

type ProgressListener = (progress: TaskProgress) => void;

/** The buffers an answer moves to the main thread instead of copying. */
function answerBuffers(answers: TypedAnswers): ArrayBuffer[] {
  const buffers: ArrayBufferLike[] =
    answers.kind === 'classification'
      ? [answers.best.buffer, answers.probabilities.buffer]
      : answers.kind === 'regression'
        ? [answers.values.buffer]
        : answers.kind === 'embedding'
          ? [answers.vectors.buffer]
          : answers.outputs.flatMap((row) => Object.values(row).map((t) => t.data.buffer));
  return [...new Set(buffers)].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
}

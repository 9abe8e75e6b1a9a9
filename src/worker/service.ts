import * as Comlink from 'comlink';
import type { DownloadProgress } from '../bundle/index.js';
import { InputError, StateError, serializeError } from '../errors/index.js';
import { explain, partialDependence, permutationImportance, type ExplainOptions, type Explanation, type ImportanceOptions, type PartialDependence, type PartialDependenceOptions, type PermutationImportance } from '../explain/index.js';
import { ModelMonitor, type MonitorReport, type OutboxStatus } from '../monitor/index.js';
import { categoryCodes, type FeatureTransform, type LentInput } from '../features/index.js';
import type { ColumnarReply, Prediction, ScoredBatch, Scorer } from '../scoring/index.js';
import { Deployment, type AcquiredVersion } from './deployment.js';
import type { Route } from '../rollout/index.js';
import { defaultIo, type BundleIo } from '../bundle/index.js';
import { PROTOCOL_VERSION, type ColumnarAnswers, type DeploymentEvent, type FeatureMatrix, type ModelInfo, type RowResult, type ShadowStats, type TaskProgress, type UpdateResult, type WorkerApi, type WorkerLoadOptions } from './protocol.js';

/** Serving never reads the feature matrix: the model input goes into a reused buffer. */
const SERVING = { keepFeatures: false } as const;

/** The model behind the worker boundary; usable in the same thread too (no worker needed in tests). */
export class ModelService implements WorkerApi {
  #deployment: Deployment | undefined;
  #disposed = false;
  /** Model runs and rows scored since load: what micro-batching saves shows here. */
  readonly #stats = { runs: 0, rows: 0 };
  /** Which version made each recent prediction, in a ring indexed by id: O(1) to remember and to forget. */
  readonly #outcomes = new Array<string | undefined>(MAX_REMEMBERED);
  #lastId = 0;
  readonly #shadow = new ShadowRecorder();
  #monitor: ModelMonitor | undefined;
  /** Long tasks running, by the id the main thread gave them: `cancel` aborts one. */
  readonly #tasks = new Map<string, AbortController>();
  /** Batches sent in parts (`openColumnBatch`), by id. */
  readonly #batches = new Map<number, OpenBatch>();
  #lastBatch = 0;
  readonly #io: BundleIo;

  /** `io`: where bundles are read from and kept (default: `fetch` and Cache Storage). */
  constructor(io: BundleIo = defaultIo()) {
    this.#io = io;
  }

  async hello(): Promise<{ readonly protocol: number }> {
    return { protocol: PROTOCOL_VERSION };
  }

  async load(
    channelUrl: string,
    options: WorkerLoadOptions = {},
    onProgress?: (progress: DownloadProgress) => void,
    onEvent?: (event: DeploymentEvent) => void,
  ): Promise<ModelInfo> {
    this.#assertUsable();
    if (this.#deployment !== undefined) throw new StateError('NOT_READY', 'this worker already serves a model');
    const { monitor: monitorOptions, telemetry, ...deploymentOptions } = options;
    const monitor = await ModelMonitor.open(channelUrl, monitorOptions, telemetry, (event) => onEvent?.(event));
    const deployment = new Deployment(
      channelUrl,
      deploymentOptions,
      (event) => {
        onEvent?.(event);
        monitor.deploymentEvent(event);
        if (event.type === 'activated') monitor.gate(event.version, deployment.info().gate);
      },
      onProgress,
      this.#io,
    );
    try {
      await deployment.start();
    } catch (error) {
      await monitor.close();
      throw error;
    }
    this.#deployment = deployment;
    this.#monitor = monitor;
    const info = deployment.info();
    monitor.gate(info.version, info.gate);
    return info;
  }

  async predict(row: unknown): Promise<Prediction> {
    const [prediction] = await this.predictBatch([row]);
    return prediction!;
  }

  async predictBatch(rows: unknown): Promise<Prediction[]> {
    // One call, one routing decision; the version serving when the call starts answers it, even if
    // an update swaps in meanwhile.
    const deployment = this.#ready();
    const route = deployment.route();
    const predictions = await this.#score(route.version, rows);
    if (route.shadow !== undefined) this.#shadowLater(route.shadow, (scorer) => scorer.score(rows, SERVING), () => predictions);
    return predictions;
  }

  async predictBatchColumns(columns: unknown): Promise<ColumnarAnswers | undefined> {
    // As predictBatch: one routing decision for the call.
    return this.#answerColumns(this.#ready().route(), columns, 'throw');
  }

  /**
   * Micro-batched calls sent as columns: answered here only when one routing decision serves them
   * all (single, canary) and no row is refused; otherwise undefined, and the client sends the rows
   * to `predictEach`, which answers each call on its own. (Nothing is counted or routed twice.)
   */
  async predictEachColumns(columns: unknown): Promise<ColumnarAnswers | undefined> {
    const deployment = this.#ready();
    if (!deployment.routesAlike()) return undefined;
    return this.#answerColumns(deployment.route(), columns, 'give-up');
  }

  /** Scores columns with the routed version; a refused row throws (`throw`) or gives undefined (`give-up`, nothing recorded). */
  async #answerColumns(route: Route, columns: unknown, onRefused: 'throw' | 'give-up'): Promise<ColumnarAnswers | undefined> {
    const acquired = this.#ready().acquire(route.version);
    const { scorer, version, release } = acquired;
    try {
      if (!fitsColumns(scorer.transform, columns)) return undefined;
      await this.#watch(acquired);
      const started = performance.now();
      const scoring = (): Promise<ScoredBatch> => scorer.scoreColumns(columns, SERVING);
      const scored =
        onRefused === 'throw'
          ? await this.#refusalsCounted(version, scoring)
          : await Promise.resolve()
              .then(scoring)
              .catch((error: unknown) => {
                if (error instanceof InputError) return undefined;
                throw error;
              });
      if (scored === undefined) return undefined;
      const batch = this.#count(scored);
      const result = scorer.answers(batch);
      this.#observe(acquired, batch, performance.now() - started, (r) => (result.kind === 'classification' ? result.classes[result.best[r]!]! : result.values[r]!));
      const firstId = this.#rememberRows(version, batch.rows);
      // The columns stay in this worker (transferred here, not back): the shadow scores them again.
      if (route.shadow !== undefined) this.#shadowLater(route.shadow, (shadow) => shadow.scoreColumns(columns, SERVING), () => scorer.predictions(batch));
      const buffers = result.kind === 'classification' ? [result.best.buffer, result.probabilities.buffer] : [result.values.buffer];
      return Comlink.transfer({ version, firstId, result }, buffers);
    } finally {
      release();
    }
  }

  /**
   * A large `predictBatch` sent in parts, as the main thread lays its rows out in columns: each part
   * is validated and written into the model input while the main thread prepares the next. Opens
   * the batch (one routing decision, its version held until it closes); undefined when the route
   * has a shadow (it scores whole calls) or the model is not tabular: then the rows go whole.
   */
  async openColumnBatch(rows: unknown): Promise<number | undefined> {
    const deployment = this.#ready();
    const route = deployment.route();
    if (route.shadow !== undefined) return undefined;
    if (typeof rows !== 'number' || !Number.isSafeInteger(rows) || rows < 1) throw new InputError('INVALID_BATCH', `a batch of ${String(rows)} rows`, {});
    const acquired = deployment.acquire(route.version);
    const { transform } = acquired.scorer;
    try {
      if (transform.lendInput === undefined || transform.prepareColumnsInto === undefined) {
        acquired.release();
        return undefined;
      }
      await this.#watch(acquired);
      const lent = transform.lendInput(rows);
      // Each part's raw values are copied in as it arrives, while the main thread lays out the next.
      const raw = {
        numbers: new Map(transform.inputs.filter((f) => f.type === 'number').map((f) => [f.name, new Float64Array(rows)])),
        categories: new Map(transform.inputs.filter((f) => f.type === 'category').map((f) => [f.name, new Int32Array(rows)])),
      };
      const id = ++this.#lastBatch;
      this.#batches.set(id, { acquired, lent, raw, filled: 0, started: performance.now() });
      return id;
    } catch (error) {
      acquired.release();
      throw error;
    }
  }

  /**
   * One part of an open batch: rows `at` onwards. A refused value is kept (naming its row in the
   * whole batch) and thrown by `closeColumnBatch`; later parts are then ignored, so the first
   * refusal in row order is the one reported, as for the batch sent whole.
   */
  addColumnPart(id: number, at: number, columns: unknown): void {
    const batch = this.#batches.get(id);
    if (batch === undefined) throw new StateError('NOT_READY', `no open batch ${String(id)}`);
    if (batch.outcome !== undefined) return;
    const { transform } = batch.acquired.scorer;
    if (!fitsColumns(transform, columns) || at !== batch.filled) {
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

  /** Scores an open batch once every part is in; undefined when a part did not fit this version (send the rows whole). */
  async closeColumnBatch(id: number): Promise<ColumnarAnswers | undefined> {
    const batch = this.#batches.get(id);
    if (batch === undefined) throw new StateError('NOT_READY', `no open batch ${String(id)}`);
    this.#batches.delete(id);
    const { acquired, lent } = batch;
    try {
      if (batch.outcome === 'unfit') return undefined;
      if (batch.outcome !== undefined) {
        this.#monitor?.refused(acquired.version, batch.outcome.code);
        throw batch.outcome;
      }
      if (batch.filled !== lent.rows) throw new InputError('INVALID_BATCH', `the parts hold ${batch.filled} of the batch's ${lent.rows} rows`, {});
      const scored = this.#count(await acquired.scorer.scoreLent(lent, batch.raw));
      const result = acquired.scorer.answers(scored);
      this.#observe(acquired, scored, performance.now() - batch.started, (r) => (result.kind === 'classification' ? result.classes[result.best[r]!]! : result.values[r]!));
      const firstId = this.#rememberRows(acquired.version, scored.rows);
      const buffers = result.kind === 'classification' ? [result.best.buffer, result.probabilities.buffer] : [result.values.buffer];
      return Comlink.transfer({ version: acquired.version, firstId, result }, buffers);
    } finally {
      lent.release();
      acquired.release();
    }
  }

  /** Drops an open batch (the main thread met a row it sends whole instead). */
  abortColumnBatch(id: number): void {
    const batch = this.#batches.get(id);
    if (batch === undefined) return;
    this.#batches.delete(id);
    batch.lent.release();
    batch.acquired.release();
  }

  async predictEach(rows: unknown): Promise<RowResult[]> {
    if (!Array.isArray(rows)) throw new InputError('INVALID_BATCH', 'expected an array of rows', {});
    const deployment = this.#ready();
    // Each call is routed on its own (a bandit may send them to different versions); rows going to
    // the same version are scored together.
    const routes = rows.map(() => deployment.route());
    const results = new Array<RowResult>(rows.length);
    const groups = new Map<string, number[]>();
    routes.forEach((route, i) => groups.set(route.version, [...(groups.get(route.version) ?? []), i]));
    for (const [version, indices] of groups) {
      const answered = await this.#scoreEach(version, indices.map((i) => rows[i]));
      answered.forEach((result, k) => (results[indices[k]!] = result));
    }
    const shadowed = routes.map((route, i) => (route.shadow !== undefined && results[i]!.ok ? i : -1)).filter((i) => i >= 0);
    if (shadowed.length > 0) {
      const shadow = routes[shadowed[0]!]!.shadow!;
      const shadowRows = shadowed.map((i) => rows[i]);
      const live = shadowed.map((i) => (results[i] as { prediction: Prediction }).prediction);
      this.#shadowLater(shadow, (scorer) => scorer.score(shadowRows, SERVING), () => live);
    }
    return results;
  }

  /** Scores rows with one version, answering each row on its own: a bad row gets its own error and the rest are scored again without it. */
  async #scoreEach(version: string, rows: readonly unknown[]): Promise<RowResult[]> {
    const results = new Array<RowResult>(rows.length);
    let pending = rows.map((_, i) => i);
    while (pending.length > 0) {
      try {
        const predictions = await this.#score(version, pending.map((i) => rows[i]));
        pending.forEach((i, k) => (results[i] = { ok: true, prediction: predictions[k]! }));
        pending = [];
      } catch (error) {
        const row = error instanceof InputError ? error.details.row : undefined;
        if (typeof row !== 'number' || pending[row] === undefined) throw error;
        results[pending[row]!] = { ok: false, error: serializeError((error as InputError).atRow(0)) };
        pending = pending.filter((_, k) => k !== row);
      }
    }
    return results;
  }

  async #score(version: string, rows: unknown): Promise<Prediction[]> {
    const acquired = this.#ready().acquire(version);
    const { scorer, version: answered, release } = acquired;
    try {
      await this.#watch(acquired);
      const started = performance.now();
      const batch = this.#count(await this.#refusalsCounted(answered, () => scorer.score(rows, SERVING)));
      const predictions = scorer.predictions(batch);
      this.#observe(acquired, batch, performance.now() - started, (r) => {
        const p = predictions[r]!;
        return p.kind === 'classification' ? p.label : p.value;
      });
      return predictions.map((prediction) => ({ ...prediction, version: answered, id: this.#remember(answered) }));
    } finally {
      release();
    }
  }

  /** Drift and latency of what a version answered (after the answer is computed, before it is sent). */
  #observe(acquired: AcquiredVersion, batch: ScoredBatch, ms: number, outputAt: (row: number) => string | number): void {
    this.#monitor?.record(acquired.version, { rows: batch.rows, raw: batch.raw ?? EMPTY_COLUMNS, outputAt }, ms);
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

  async reportOutcome(id: string, reward: number): Promise<void> {
    const n = typeof id === 'string' && /^[1-9][0-9]{0,15}$/.test(id) ? Number(id) : Number.NaN;
    const recent = n <= this.#lastId && n > this.#lastId - MAX_REMEMBERED;
    const version = recent ? this.#outcomes[n % MAX_REMEMBERED] : undefined;
    if (version === undefined) throw new InputError('UNKNOWN_PREDICTION', `no recent prediction has id "${String(id).slice(0, 40)}"`, { field: 'id' });
    if (typeof reward !== 'number' || !Number.isFinite(reward)) throw new InputError('NOT_FINITE', 'the reward must be a finite number (1 success, 0 failure)', { field: 'reward' });
    // An outcome counts once.
    this.#outcomes[n % MAX_REMEMBERED] = undefined;
    this.#ready().report(version, reward);
  }

  /** Remembers which version made a prediction, for its outcome; past the bound the oldest is overwritten. */
  #remember(version: string): string {
    return String(this.#rememberRows(version, 1));
  }

  /** The same for `count` consecutive predictions, without an id string each; returns the first id. */
  #rememberRows(version: string, count: number): number {
    const first = this.#lastId + 1;
    for (let id = first; id < first + count; id++) this.#outcomes[id % MAX_REMEMBERED] = version;
    this.#lastId += count;
    return first;
  }

  /**
   * The candidate scores the same rows (`rescore`) after the live answer has gone: it never slows
   * it. `live` gives the live answers then, so a call answered in typed arrays builds them only here.
   */
  #shadowLater(version: string, rescore: (scorer: Scorer) => Promise<ScoredBatch>, live: () => readonly Prediction[]): void {
    setTimeout(() => {
      const started = performance.now();
      let acquired: ReturnType<Deployment['acquire']>;
      try {
        acquired = this.#ready().acquire(version);
      } catch {
        return;
      }
      const { scorer, version: used, release } = acquired;
      if (used !== version) return release();
      rescore(scorer)
        .then((batch) => this.#shadow.record(live(), scorer.predictions(batch), performance.now() - started))
        .catch(() => undefined)
        .finally(release);
    }, 0);
  }

  async predictColumns(columns: unknown): Promise<ColumnarReply> {
    const acquired = this.#ready().acquire(this.#ready().route().version);
    const { scorer, release } = acquired;
    try {
      await this.#watch(acquired);
      const started = performance.now();
      const batch = this.#count(await this.#refusalsCounted(acquired.version, () => scorer.scoreColumns(columns, SERVING)));
      const result = scorer.columnarReply(batch);
      this.#observe(acquired, batch, performance.now() - started, (r) => (result.kind === 'classification' ? result.classes[result.best[r]!]! : result.values[r]!));
      return Comlink.transfer(result, result.kind === 'classification' ? [result.probabilities.buffer, result.best.buffer] : [result.values.buffer]);
    } finally {
      release();
    }
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

  #count<T extends { rows: number }>(batch: T): T {
    this.#stats.runs++;
    this.#stats.rows += batch.rows;
    return batch;
  }

  async update(): Promise<UpdateResult> {
    return this.#ready().update();
  }

  async monitor(version?: string): Promise<MonitorReport> {
    const deployment = this.#ready();
    const wanted = version ?? deployment.info().version;
    const acquired = deployment.acquire(wanted);
    try {
      if (acquired.version !== wanted) throw new InputError('INVALID_OPTION', `monitor(version): this device serves no version "${String(wanted).slice(0, 40)}"`, { field: 'version' });
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
    return this.#task(taskId, onProgress, ({ scorer, confidence, reference }, run) => explain(scorer, row, confidence, reference, { ...options, ...run }));
  }

  async importance(options: ImportanceOptions, taskId: string, onProgress?: ProgressListener): Promise<PermutationImportance> {
    const metric = this.#ready().info().gate.metric.name;
    return this.#task(taskId, onProgress, ({ scorer, confidence }, run) => permutationImportance(scorer, confidence, metric, { ...options, ...run }));
  }

  async partialDependence(field: unknown, options: PartialDependenceOptions, taskId: string, onProgress?: ProgressListener): Promise<PartialDependence> {
    if (typeof field !== 'string') throw new InputError('WRONG_TYPE', 'partialDependence(field): the field must be a string', { field: 'field', expected: 'string' });
    return this.#task(taskId, onProgress, ({ scorer, confidence }, run) => partialDependence(scorer, confidence, field, { ...options, ...run }));
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
    const report = onProgress === undefined ? {} : { onProgress: (p: TaskProgress) => void Promise.resolve(onProgress(p)).catch(() => undefined) };
    try {
      return await task(acquired, { signal: controller.signal, ...report });
    } finally {
      this.#tasks.delete(taskId);
      acquired.release();
    }
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
    for (const controller of this.#tasks.values()) controller.abort();
    const deployment = this.#deployment;
    const monitor = this.#monitor;
    this.#deployment = undefined;
    this.#monitor = undefined;
    await monitor?.close();
    await deployment?.dispose();
  }

  #ready(): Deployment {
    this.#assertUsable();
    if (this.#deployment === undefined) throw new StateError('NOT_READY', 'no model is loaded yet');
    return this.#deployment;
  }

  #assertUsable(): void {
    if (this.#disposed) throw new StateError('DISPOSED', 'this model was disposed');
  }
}

const MAX_REMEMBERED = 100_000;

/**
 * Whether columns built on the main thread for the live version's fields fit the version a call is
 * routed to: the same fields, numbers as Float64Array, categories dictionary-encoded. Only their
 * shape is looked at here; the values are validated as any input is.
 */
function fitsColumns(transform: FeatureTransform, columns: unknown): boolean {
  if (transform.spec.kind !== 'tabular' || typeof columns !== 'object' || columns === null) return false;
  const record = columns as Record<string, unknown>;
  if (Object.keys(record).length !== transform.inputs.length) return false;
  return transform.inputs.every((field) => {
    if (!Object.hasOwn(record, field.name)) return false;
    const column = record[field.name];
    if (field.type === 'number') return column instanceof Float64Array;
    return field.type === 'category' && typeof column === 'object' && column !== null && !Array.isArray(column) && !ArrayBuffer.isView(column);
  });
}

interface OpenBatch {
  readonly acquired: AcquiredVersion;
  readonly lent: LentInput;
  /** The raw values of every row, filled part by part (drift monitoring reads rows anywhere in it). */
  readonly raw: { readonly numbers: Map<string, Float64Array>; readonly categories: Map<string, Int32Array> };
  filled: number;
  readonly started: number;
  /** Set once a part does not fit this version (`unfit`) or has a refused value (its error). */
  outcome?: 'unfit' | InputError;
}

const EMPTY_COLUMNS = { numbers: new Map<string, Float64Array>(), categories: new Map<string, Int32Array>() };

type ProgressListener = (progress: TaskProgress) => void;

/** How the shadow candidate compares with the live answers. */
class ShadowRecorder {
  #comparisons = 0;
  #agreements = 0;
  #absoluteDifference = 0;
  #calls = 0;
  #ms = 0;

  record(live: readonly Prediction[], shadow: readonly Prediction[], ms: number): void {
    this.#calls++;
    this.#ms += ms;
    live.forEach((a, i) => {
      const b = shadow[i];
      if (b === undefined) return;
      this.#comparisons++;
      if (a.kind === 'classification' && b.kind === 'classification') {
        if (a.label === b.label) this.#agreements++;
        const classes = Object.keys(a.probabilities);
        this.#absoluteDifference += classes.reduce((sum, c) => sum + Math.abs(a.probabilities[c]! - (b.probabilities[c] ?? 0)), 0) / classes.length;
      } else if (a.kind === 'regression' && b.kind === 'regression') {
        // Regression answers agree within 1% of the live value.
        if (Math.abs(a.value - b.value) <= 0.01 * Math.max(1, Math.abs(a.value))) this.#agreements++;
        this.#absoluteDifference += Math.abs(a.value - b.value);
      }
    });
  }

  stats(): ShadowStats {
    const n = this.#comparisons;
    return {
      comparisons: n,
      agreement: n === 0 ? 0 : this.#agreements / n,
      meanAbsoluteDifference: n === 0 ? 0 : this.#absoluteDifference / n,
      candidateMeanMs: this.#calls === 0 ? 0 : this.#ms / this.#calls,
    };
  }
}


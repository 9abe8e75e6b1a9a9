import * as Comlink from 'comlink';
import type { DownloadProgress } from './bundle/index.js';
import { StateError } from './errors/index.js';
import { MicroBatcher, type BatchingOptions } from './client/batcher.js';
import { PredictionCache, cacheKey, type CacheOptions } from './client/cache.js';
import { PARTS_MIN_ROWS, PART_ROWS, columnPlan, expandAnswers, partToColumns, rowsToColumns, type ColumnPlan } from './client/columns.js';
import type { ColumnarPrediction, Prediction } from './scoring/index.js';
import { withLabels } from './scoring/labels.js';
import {
  installErrorTransfer,
  type ColumnarInput,
  type DeploymentEvent,
  type FeatureMatrix,
  type OndeviceModel,
  type RowResult,
  type TaskOptions,
  type TaskProgress,
  type UpdateResult,
  type WorkerApi,
  type WorkerLoadOptions,
} from './worker/protocol.js';

export interface LoadOptions extends Omit<WorkerLoadOptions, 'persisted'> {
  /** Micro-batching of concurrent `predict()` calls; `false` sends each call on its own. Default: on, window 0 ms, 1024 rows. */
  readonly batching?: BatchingOptions | false;
  /** A main-thread cache of predictions for repeated rows (LRU). Default: off. */
  readonly cache?: CacheOptions | false;
  /** Called as a bundle downloads (at the first load, and for updates; not when starting from the cache). */
  readonly onProgress?: (progress: DownloadProgress) => void;
  /** Ask the browser for persistent storage (`navigator.storage.persist()`), so it does not evict the model under pressure. Default false. */
  readonly persistStorage?: boolean;
}

/**
 * Starts a dedicated module worker, loads the channel's model there (cache first, else download and
 * verify), runs its gate, and resolves once it may serve. Rejects with a typed error otherwise.
 *
 * @param channelUrl URL of the bundle's `channel.json`, absolute or relative to the page.
 */
export async function load(channelUrl: string | URL, options: LoadOptions = {}): Promise<OndeviceModel> {
  installErrorTransfer();
  const worker = new Worker(new URL('./worker/entry.js', import.meta.url), { type: 'module', name: 'ondevice' });
  const remote = Comlink.wrap<WorkerApi>(worker);
  const { onProgress, persistStorage, batching, cache: cacheOptions, ...workerOptions } = options;
  const url = new URL(channelUrl, globalThis.location?.href).href;
  // persist() exists on the page's StorageManager only, not in workers.
  const persisted = persistStorage === true ? await navigator.storage?.persist?.().catch(() => false) : undefined;
  const listeners = new Map<string, Set<(event: DeploymentEvent) => void>>();
  // The live version's fields, for sending big batches of rows as columns; refreshed when the
  // version or the rollout changes (the worker refuses columns that do not fit the version it routes to).
  let plan: ColumnPlan | undefined;
  let planAsked = 0;
  let loaded = false;
  const refreshPlan = (): void => {
    plan = undefined;
    // During the load, its own answer sets the plan.
    if (!loaded) return;
    const asked = ++planAsked;
    remote.info().then(
      (info) => void (asked === planAsked && (plan = columnPlan(info.inputs))),
      () => undefined,
    );
  };
  const onEvent = (event: DeploymentEvent): void => {
    if (event.type === 'activated' || event.type === 'rollout') refreshPlan();
    listeners.get(event.type)?.forEach((listener) => listener(event));
  };
  try {
    const info = await remote.load(
      url,
      persisted === undefined ? workerOptions : { ...workerOptions, persisted },
      onProgress ? Comlink.proxy(onProgress) : undefined,
      Comlink.proxy(onEvent),
    );
    loaded = true;
    plan = columnPlan(info.inputs);
  } catch (error) {
    worker.terminate();
    throw error;
  }
  // A large micro-batch of regular rows goes as columns; any refusal or a per-call rollout sends the rows again, answered one by one.
  const predictEach = async (rows: unknown[]): Promise<RowResult[]> => {
    const columns = rowsToColumns(rows, plan);
    const answers = columns === undefined ? undefined : await remote.predictEachColumns(Comlink.transfer(columns, transferables(columns)));
    return answers === undefined ? remote.predictEach(rows) : expandAnswers(answers).map((prediction) => ({ ok: true, prediction }));
  };
  const batcher = batching === false ? undefined : new MicroBatcher(predictEach, batching);
  const cache = cacheOptions === false || cacheOptions === undefined ? undefined : new PredictionCache(cacheOptions);
  // A new version (or a new rollout) answers differently: what was said before is forgotten.
  if (cache !== undefined) for (const type of ['activated', 'rollout']) listeners.set(type, new Set([() => cache.clear()]));
  const predictOne = async (row: Readonly<Record<string, unknown>>): Promise<Prediction> => {
    const key = cache === undefined ? undefined : cacheKey(row);
    const cached = key === undefined ? undefined : cache!.get(key);
    if (cached !== undefined) return cached;
    const prediction = await (batcher === undefined ? remote.predict(row) : batcher.add(row));
    if (key !== undefined) cache!.set(key, prediction);
    return prediction;
  };
  /** A large batch of regular rows in parts (see PARTS_MIN_ROWS); undefined: send it whole instead. */
  const predictInParts = async (rows: readonly unknown[], layout: ColumnPlan): Promise<Prediction[] | undefined> => {
    const id = await remote.openColumnBatch(rows.length);
    if (id === undefined) return undefined;
    let open = true;
    const sent: Promise<void>[] = [];
    try {
      for (let at = 0; at < rows.length; at += PART_ROWS) {
        const columns = partToColumns(rows, layout, at, Math.min(rows.length, at + PART_ROWS));
        if (columns === undefined) return undefined;
        // Not awaited: the worker takes the parts in order while this thread lays out the next.
        const added = remote.addColumnPart(id, at, Comlink.transfer(columns, transferables(columns)));
        // Awaited below; a failure that closeColumnBatch reports first is not left unhandled.
        added.catch(() => undefined);
        sent.push(added);
      }
      open = false;
      const answers = await remote.closeColumnBatch(id);
      await Promise.all(sent);
      return answers === undefined ? undefined : expandAnswers(answers);
    } finally {
      if (open) {
        void remote.abortColumnBatch(id);
        await Promise.allSettled(sent);
      }
    }
  };
  const predictBatch = async (rows: readonly Readonly<Record<string, unknown>>[]): Promise<Prediction[]> => {
    if (plan !== undefined && Array.isArray(rows) && rows.length >= PARTS_MIN_ROWS) {
      const predictions = await predictInParts(rows, plan);
      if (predictions !== undefined) return predictions;
    }
    const columns = rowsToColumns(rows, plan);
    if (columns !== undefined) {
      const answers = await remote.predictBatchColumns(Comlink.transfer(columns, transferables(columns)));
      if (answers !== undefined) return expandAnswers(answers);
      // The version routed to takes other fields: rows, until the plan is refreshed.
      refreshPlan();
    }
    return remote.predictBatch(rows);
  };
  let disposed: Promise<void> | undefined;
  // After dispose the proxy is released; answer with the library's own error, not comlink's.
  const live = <T>(call: () => Promise<T>): Promise<T> =>
    disposed === undefined ? call() : Promise.reject(new StateError('DISPOSED', 'this model was disposed', {}));
  return {
    predict: (row) => live(() => predictOne(row)),
    predictBatch: (rows) => live(() => predictBatch(rows)),
    predictColumns: (columns) => live<ColumnarPrediction>(async () => withLabels(await remote.predictColumns(Comlink.transfer(columns, transferables(columns))))),
    features: (rows) => live<FeatureMatrix>(() => remote.features(rows)),
    info: () => live(() => remote.info()),
    update: () => live<UpdateResult>(() => remote.update()),
    reportOutcome: (id, reward) => live(() => remote.reportOutcome(id, reward)),
    monitor: (version) => live(() => remote.monitor(version)),
    telemetry: () => live(() => remote.telemetry()),
    flushTelemetry: () => live(() => remote.flushTelemetry()),
    explain: (row, options = {}) => live(() => runTask(remote, options, (plain, id, progress) => remote.explain(row, plain, id, progress))),
    importance: (options = {}) => live(() => runTask(remote, options, (plain, id, progress) => remote.importance(plain, id, progress))),
    partialDependence: (field, options = {}) => live(() => runTask(remote, options, (plain, id, progress) => remote.partialDependence(field, plain, id, progress))),
    on(type, listener) {
      const set = listeners.get(type) ?? new Set();
      listeners.set(type, set);
      const wrapped = listener as (event: DeploymentEvent) => void;
      set.add(wrapped);
      return () => void set.delete(wrapped);
    },
    dispose: () =>
      (disposed ??= remote.dispose().finally(() => {
        remote[Comlink.releaseProxy]();
        worker.terminate();
      })),
  };
}

let lastTaskId = 0;

/**
 * A long task in the worker: its progress callback goes as a comlink proxy, and its signal stays
 * here (it cannot be cloned): aborting it asks the worker to cancel the task by its id.
 */
async function runTask<O extends TaskOptions, T>(
  remote: Comlink.Remote<WorkerApi>,
  options: O,
  call: (plain: Omit<O, 'signal' | 'onProgress'>, id: string, onProgress: ((progress: TaskProgress) => void) | undefined) => Promise<T>,
): Promise<T> {
  const { signal, onProgress, ...plain } = options;
  if (signal?.aborted) throw new StateError('CANCELLED', 'the task was cancelled before it started', {});
  const id = String(++lastTaskId);
  const abort = (): void => void remote.cancel(id).catch(() => undefined);
  signal?.addEventListener('abort', abort, { once: true });
  try {
    return await call(plain, id, onProgress === undefined ? undefined : Comlink.proxy(onProgress));
  } finally {
    signal?.removeEventListener('abort', abort);
  }
}

/** The buffers of the typed arrays among the columns (dictionary codes too), each once: moved to the worker, not copied. */
function transferables(columns: ColumnarInput): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const column of Object.values(columns)) {
    const typed = ArrayBuffer.isView(column) ? column : !Array.isArray(column) && typeof column === 'object' && column !== null && 'codes' in column ? column.codes : undefined;
    if (ArrayBuffer.isView(typed) && typed.buffer instanceof ArrayBuffer) buffers.add(typed.buffer);
  }
  return [...buffers];
}

export type { Backend, ShardStatus } from './runtimes/index.js';
export type { BatchingOptions } from './client/batcher.js';
export type { CacheOptions } from './client/cache.js';
export type { ColumnarPrediction } from './scoring/index.js';
export type { RolloutPolicy, StrategyName } from './rollout/index.js';
/** A user's stable place in [0, 1) for a bundle's canary (the worker's own function): below the share, the candidate. */
export { canaryBucket } from './rollout/index.js';
export type { OndeviceModel, ModelInfo, FeatureMatrix, ColumnarInput, DictionaryColumn, RolloutInfo, ShadowStats, DeploymentEvent, DeploymentEventType, UpdateResult, TaskOptions, TaskProgress } from './worker/protocol.js';
export type { MonitorOptions, MonitorReport, TelemetryOptions, LatencySummary, DriftEvent, DriftReport, FeatureDrift, OutputDrift, DriftBin, OutboxStatus } from './monitor/index.js';
export type { Explanation, ExplainOptions, PermutationImportance, ImportanceOptions, PartialDependence, PartialDependenceOptions } from './explain/index.js';
export type { Prediction, ClassificationPrediction, RegressionPrediction } from './scoring/index.js';
export type { DownloadProgress } from './bundle/index.js';
export type { GateReport, EndToEndReport, MetricReport } from './gate/index.js';
export type { Manifest, Task, GateSpec } from './bundle/index.js';
export type { FeatureSpec, InputField, NumberField, CategoryField, TensorField } from './features/index.js';
export { OndeviceError, InputError, BundleError, GateError, ScoringError, StateError } from './errors/index.js';
export type { ErrorDetails, InputErrorCode, BundleErrorCode, GateErrorCode, ScoringErrorCode, StateErrorCode } from './errors/index.js';

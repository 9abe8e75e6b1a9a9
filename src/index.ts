import { StateError } from './errors/index.js';
import { openModel, type ClientOptions } from './client/model.js';
import { WORKER_START_TIMEOUT_MS, startWorkerLink, type WorkerSource } from './client/worker-link.js';
import { hasWebWorkers } from './util/environment.js';
import { installErrorTransfer, type LoadProgress, type OndeviceModel, type WorkerLoadOptions } from './worker/protocol.js';

export interface LoadOptions extends Omit<WorkerLoadOptions, 'persisted'>, ClientOptions {
  /** Called as the model loads, phase by phase: `download` (bytes), `verify` (bytes, from the device's store), `runtime`, `gate`, `ready`; for updates too. */
  readonly onProgress?: (progress: LoadProgress) => void;
  /**
   * Ask the browser for persistent storage (`navigator.storage.persist()`), so it does not evict the model under pressure.
   * @defaultValue `false`
   */
  readonly persistStorage?: boolean;
  /**
   * The worker the model runs in: a `Worker` running ondevice's `worker/entry.js`, or a function
   * that makes one.
   * @defaultValue the library starts its own: `new Worker(new URL('./worker/entry.js', import.meta.url))`
   */
  readonly worker?: WorkerSource;
  /**
   * How long the worker's script may take to load and answer, in milliseconds.
   * @defaultValue `30000` (`WORKER_START_TIMEOUT_MS`)
   */
  readonly workerStartTimeoutMs?: number;
}

/**
 * Starts a dedicated module worker, loads the channel's model there (cache first, else download and
 * verify), runs its gate, and resolves once it may serve.
 *
 * @param channelUrl URL of the bundle's `channel.json`, absolute or relative to the page.
 * @throws {ScoringError} `WORKER_LOAD_FAILED` (with the script's `url`): the worker's script did
 * not load or answer within `workerStartTimeoutMs`, or speaks another protocol (a stale cache);
 * `RUNTIME_MISSING`: the app was built without the bundle's runtime; `RUNTIME_LOAD_FAILED`: no
 * backend could load the model.
 * @throws {StateError} `UNSUPPORTED`: there are no Web Workers here (in Node, use `ondevice/node`).
 * @throws {BundleError} the channel, manifest or a file is unreachable or refused:
 * `FETCH_FAILED`, `INVALID_CHANNEL`, `INVALID_MANIFEST`, `INVALID_FEATURE_SPEC`, `INVALID_SET`,
 * `INVALID_REFERENCE`, `INVALID_JSON`, `INTEGRITY_MISMATCH`, `SIZE_MISMATCH`, `TOO_LARGE`,
 * `TIMEOUT` (a network wait ran out), `SIGNATURE_INVALID` (with `publicKeys`), `ROLLBACK_REFUSED`,
 * `CHANNEL_REPLAYED`.
 * @throws {GateError} `GATE_E2E_MISMATCH`, `GATE_METRIC_OUT_OF_RANGE`: the version failed its gate.
 * @throws {InputError} `INVALID_OPTION`: an option out of its range (e.g. `variant`, `telemetry.endpoint`).
 */
export async function load(channelUrl: string | URL, options: LoadOptions = {}): Promise<OndeviceModel> {
  const { onProgress, persistStorage, batching, cache, worker, workerStartTimeoutMs = WORKER_START_TIMEOUT_MS, ...workerOptions } = options;
  if (worker === undefined && !hasWebWorkers()) {
    throw new StateError(
      'UNSUPPORTED',
      "ondevice's load() runs a model in a Web Worker, and there are none here: in Node, import { load } from 'ondevice/node'",
      {
        instead: 'ondevice/node',
      },
    );
  }
  installErrorTransfer();
  const url = new URL(channelUrl, globalThis.location?.href).href;
  // persist() exists on the page's StorageManager only, not in workers.
  const persisted = persistStorage === true ? await navigator.storage?.persist?.().catch(() => false) : undefined;
  const link = await startWorkerLink(worker, workerStartTimeoutMs);
  return openModel(link, url, persisted === undefined ? workerOptions : { ...workerOptions, persisted }, onProgress, {
    ...(batching === undefined ? {} : { batching }),
    ...(cache === undefined ? {} : { cache }),
  });
}

export type { Backend, ShardStatus } from './runtimes/index.js';
export type { BatchingOptions } from './client/batcher.js';
export type { CacheOptions } from './client/cache.js';
export type { ColumnarPrediction } from './scoring/index.js';
export type { RolloutPolicy, StrategyName } from './rollout/index.js';
/** A user's stable place in [0, 1) for a bundle's canary (the worker's own function): below the share, the candidate. */
export { canaryBucket } from './rollout/index.js';
export type {
  OndeviceModel,
  ModelSession,
  ModelInfo,
  FeatureMatrix,
  ColumnarInput,
  DictionaryColumn,
  RolloutInfo,
  ShadowStats,
  DeploymentEvent,
  DeploymentEventType,
  UpdateResult,
  TaskOptions,
  TaskProgress,
} from './worker/protocol.js';
export type {
  MonitorOptions,
  MonitorReport,
  TelemetryOptions,
  LatencySummary,
  DriftEvent,
  DriftReport,
  FeatureDrift,
  OutputDrift,
  DriftBin,
  OutboxStatus,
} from './monitor/index.js';
export type {
  Explanation,
  ExplainOptions,
  PermutationImportance,
  ImportanceOptions,
  PartialDependence,
  PartialDependenceOptions,
} from './explain/index.js';
export type {
  Prediction,
  ClassificationPrediction,
  RegressionPrediction,
  OutputsPrediction,
  EmbeddingPrediction,
} from './scoring/index.js';
export type { TensorData, OutputTensor } from './runtimes/index.js';
export type { LoadProgress, RowResult } from './worker/protocol.js';
export type { GateReport, EndToEndReport, MetricReport, ChecksReport } from './gate/index.js';
export type { Manifest, Task, GateSpec } from './bundle/index.js';
export type { FeatureSpec, InputField, NumberField, CategoryField, TensorField } from './features/index.js';
export { OndeviceError, InputError, BundleError, GateError, ScoringError, StateError } from './errors/index.js';
export type { ErrorDetails, InputErrorCode, BundleErrorCode, GateErrorCode, ScoringErrorCode, StateErrorCode } from './errors/index.js';

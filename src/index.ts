import * as Comlink from 'comlink';
import type { DownloadProgress } from './bundle/index.js';
import { StateError } from './errors/index.js';
import type { Prediction } from './scoring/index.js';
import {
  installErrorTransfer,
  type DeploymentEvent,
  type FeatureMatrix,
  type OndeviceModel,
  type UpdateResult,
  type WorkerApi,
  type WorkerLoadOptions,
} from './worker/protocol.js';

export interface LoadOptions extends Omit<WorkerLoadOptions, 'persisted'> {
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
  const { onProgress, persistStorage, ...workerOptions } = options;
  const url = new URL(channelUrl, globalThis.location?.href).href;
  // persist() exists on the page's StorageManager only, not in workers.
  const persisted = persistStorage === true ? await navigator.storage?.persist?.().catch(() => false) : undefined;
  const listeners = new Map<string, Set<(event: DeploymentEvent) => void>>();
  const onEvent = (event: DeploymentEvent): void => listeners.get(event.type)?.forEach((listener) => listener(event));
  try {
    await remote.load(
      url,
      persisted === undefined ? workerOptions : { ...workerOptions, persisted },
      onProgress ? Comlink.proxy(onProgress) : undefined,
      Comlink.proxy(onEvent),
    );
  } catch (error) {
    worker.terminate();
    throw error;
  }
  let disposed: Promise<void> | undefined;
  // After dispose the proxy is released; answer with the library's own error, not comlink's.
  const live = <T>(call: () => Promise<T>): Promise<T> =>
    disposed === undefined ? call() : Promise.reject(new StateError('DISPOSED', 'this model was disposed', {}));
  return {
    predict: (row) => live<Prediction>(() => remote.predict(row)),
    predictBatch: (rows) => live<Prediction[]>(() => remote.predictBatch(rows)),
    features: (rows) => live<FeatureMatrix>(() => remote.features(rows)),
    info: () => live(() => remote.info()),
    update: () => live<UpdateResult>(() => remote.update()),
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

export type { OndeviceModel, ModelInfo, FeatureMatrix, DeploymentEvent, DeploymentEventType, UpdateResult } from './worker/protocol.js';
export type { Prediction, ClassificationPrediction, RegressionPrediction } from './scoring/index.js';
export type { DownloadProgress } from './bundle/index.js';
export type { GateReport, EndToEndReport, MetricReport } from './gate/index.js';
export type { Manifest, Task, GateSpec } from './bundle/index.js';
export type { FeatureSpec, InputField, NumberField, CategoryField, TensorField } from './features/index.js';
export { OndeviceError, InputError, BundleError, GateError, ScoringError, StateError } from './errors/index.js';
export type { ErrorDetails, InputErrorCode, BundleErrorCode, GateErrorCode, ScoringErrorCode, StateErrorCode } from './errors/index.js';

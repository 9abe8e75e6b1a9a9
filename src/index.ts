import * as Comlink from 'comlink';
import type { DownloadProgress } from './bundle/index.js';
import { StateError } from './errors/index.js';
import type { Prediction } from './scoring/index.js';
import { installErrorTransfer, type FeatureMatrix, type OndeviceModel, type WorkerApi, type WorkerLoadOptions } from './worker/protocol.js';

export interface LoadOptions extends WorkerLoadOptions {
  /** Called as the bundle downloads (not called when it starts from the cache). */
  readonly onProgress?: (progress: DownloadProgress) => void;
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
  const { onProgress, ...workerOptions } = options;
  const url = new URL(channelUrl, globalThis.location?.href).href;
  try {
    await remote.load(url, workerOptions, onProgress ? Comlink.proxy(onProgress) : undefined);
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
    dispose: () =>
      (disposed ??= remote.dispose().finally(() => {
        remote[Comlink.releaseProxy]();
        worker.terminate();
      })),
  };
}

export type { OndeviceModel, ModelInfo, FeatureMatrix } from './worker/protocol.js';
export type { Prediction, ClassificationPrediction, RegressionPrediction } from './scoring/index.js';
export type { DownloadProgress } from './bundle/index.js';
export type { GateReport, EndToEndReport, MetricReport } from './gate/index.js';
export type { Manifest, Task, GateSpec } from './bundle/index.js';
export type { FeatureSpec, InputField, NumberField, CategoryField, TensorField } from './features/index.js';
export { OndeviceError, InputError, BundleError, GateError, ScoringError, StateError } from './errors/index.js';
export type { ErrorDetails, InputErrorCode, BundleErrorCode, GateErrorCode, ScoringErrorCode, StateErrorCode } from './errors/index.js';

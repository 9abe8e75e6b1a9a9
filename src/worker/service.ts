import * as Comlink from 'comlink';
import { openBundle, type DownloadProgress } from '../bundle/index.js';
import { StateError } from '../errors/index.js';
import { prepareModel } from '../model/index.js';
import type { Prediction, Scorer } from '../scoring/index.js';
import type { FeatureMatrix, ModelInfo, WorkerApi, WorkerLoadOptions } from './protocol.js';

/** The model behind the worker boundary; usable in the same thread too (no worker needed in tests). */
export class ModelService implements WorkerApi {
  #scorer: Scorer | undefined;
  #info: ModelInfo | undefined;
  #disposed = false;

  async load(channelUrl: string, options: WorkerLoadOptions = {}, onProgress?: (progress: DownloadProgress) => void): Promise<ModelInfo> {
    this.#assertUsable();
    const started = performance.now();
    const bundle = await openBundle(channelUrl, onProgress ? { onProgress } : {});
    const bundleReady = performance.now();
    const model = await prepareModel(bundle.manifest, bundle.files, options.threads === undefined ? {} : { threads: options.threads });
    const { manifest } = bundle;
    const { runtime, transform } = model.scorer;
    this.#scorer = model.scorer;
    this.#info = {
      name: manifest.name,
      version: manifest.version,
      versions: manifest.versions,
      contentHash: manifest.contentHash,
      manifestSha256: bundle.manifestSha256,
      task: manifest.task,
      inputs: transform.inputs,
      featureNames: transform.names,
      runtime: { name: runtime.name, backend: runtime.backend, threads: runtime.threads },
      source: bundle.source,
      storage: bundle.storage,
      ...(bundle.storageError === undefined ? {} : { storageError: bundle.storageError }),
      bundleBytes: bundle.totalBytes,
      gate: model.gate,
      timings: { bundleMs: bundleReady - started, ...model.timings, totalMs: performance.now() - started },
      metadata: manifest.metadata,
    };
    return this.#info;
  }

  async predict(row: unknown): Promise<Prediction> {
    const [prediction] = await this.predictBatch([row]);
    return prediction!;
  }

  async predictBatch(rows: unknown): Promise<Prediction[]> {
    const scorer = this.#ready();
    return scorer.predictions(await scorer.score(rows));
  }

  async features(rows: unknown): Promise<FeatureMatrix> {
    const { transform } = this.#ready();
    const prepared = transform.prepare(rows);
    const values = prepared.features ?? new Float64Array(0);
    // Transferred, not copied, to the main thread.
    return Comlink.transfer({ rows: prepared.rows, names: transform.names, values }, [values.buffer]);
  }

  async info(): Promise<ModelInfo> {
    this.#ready();
    return this.#info!;
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
    const scorer = this.#scorer;
    this.#scorer = undefined;
    await scorer?.runtime.dispose();
  }

  #ready(): Scorer {
    this.#assertUsable();
    if (this.#scorer === undefined) throw new StateError('NOT_READY', 'no model is loaded yet', {});
    return this.#scorer;
  }

  #assertUsable(): void {
    if (this.#disposed) throw new StateError('DISPOSED', 'this model was disposed', {});
  }
}

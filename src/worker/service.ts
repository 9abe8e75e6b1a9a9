import * as Comlink from 'comlink';
import type { DownloadProgress } from '../bundle/index.js';
import { StateError } from '../errors/index.js';
import type { Prediction } from '../scoring/index.js';
import { Deployment } from './deployment.js';
import type { DeploymentEvent, FeatureMatrix, ModelInfo, UpdateResult, WorkerApi, WorkerLoadOptions } from './protocol.js';

/** The model behind the worker boundary; usable in the same thread too (no worker needed in tests). */
export class ModelService implements WorkerApi {
  #deployment: Deployment | undefined;
  #disposed = false;

  async load(
    channelUrl: string,
    options: WorkerLoadOptions = {},
    onProgress?: (progress: DownloadProgress) => void,
    onEvent?: (event: DeploymentEvent) => void,
  ): Promise<ModelInfo> {
    this.#assertUsable();
    if (this.#deployment !== undefined) throw new StateError('NOT_READY', 'this worker already serves a model');
    const deployment = new Deployment(channelUrl, options, (event) => onEvent?.(event), onProgress);
    await deployment.start();
    this.#deployment = deployment;
    return deployment.info();
  }

  async predict(row: unknown): Promise<Prediction> {
    const [prediction] = await this.predictBatch([row]);
    return prediction!;
  }

  async predictBatch(rows: unknown): Promise<Prediction[]> {
    // The version serving when the call starts answers it, even if an update swaps in meanwhile.
    const { scorer, release } = this.#ready().acquire();
    try {
      return scorer.predictions(await scorer.score(rows));
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
    return this.#ready().info();
  }

  async update(): Promise<UpdateResult> {
    return this.#ready().update();
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
    const deployment = this.#deployment;
    this.#deployment = undefined;
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

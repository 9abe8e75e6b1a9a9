import * as Comlink from 'comlink';
import type { DownloadProgress } from '../bundle/index.js';
import { InputError, StateError, serializeError } from '../errors/index.js';
import type { ColumnarPrediction, Prediction } from '../scoring/index.js';
import { Deployment } from './deployment.js';
import type { DeploymentEvent, FeatureMatrix, ModelInfo, RowResult, UpdateResult, WorkerApi, WorkerLoadOptions } from './protocol.js';

/** The model behind the worker boundary; usable in the same thread too (no worker needed in tests). */
export class ModelService implements WorkerApi {
  #deployment: Deployment | undefined;
  #disposed = false;
  /** Model runs and rows scored since load: what micro-batching saves shows here. */
  readonly #stats = { runs: 0, rows: 0 };

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
      return scorer.predictions(await this.#count(scorer.score(rows)));
    } finally {
      release();
    }
  }

  async predictEach(rows: unknown): Promise<RowResult[]> {
    if (!Array.isArray(rows)) throw new InputError('INVALID_BATCH', 'expected an array of rows', {});
    const { scorer, release } = this.#ready().acquire();
    try {
      const results = new Array<RowResult>(rows.length);
      let pending = rows.map((_, i) => i);
      // Score all; a bad row is answered with its own error and the rest scored again without it.
      while (pending.length > 0) {
        try {
          const predictions = scorer.predictions(await this.#count(scorer.score(pending.map((i) => rows[i]))));
          pending.forEach((i, k) => (results[i] = { ok: true, prediction: predictions[k]! }));
          pending = [];
        } catch (error) {
          const row = error instanceof InputError ? error.details.row : undefined;
          if (typeof row !== 'number' || pending[row] === undefined) throw error;
          results[pending[row]!] = { ok: false, error: serializeError(asFirstRow(error as InputError, row)) };
          pending = pending.filter((_, k) => k !== row);
        }
      }
      return results;
    } finally {
      release();
    }
  }

  async predictColumns(columns: unknown): Promise<ColumnarPrediction> {
    const { scorer, release } = this.#ready().acquire();
    try {
      const result = scorer.columnar(await this.#count(scorer.scoreColumns(columns)));
      return Comlink.transfer(result, [result.kind === 'classification' ? result.probabilities.buffer : result.values.buffer]);
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
    release();
    return { ...deployment.info(), stats: { ...this.#stats, ...(tensors === undefined ? {} : { tensors }) } };
  }

  async #count<T extends { rows: number }>(scored: Promise<T>): Promise<T> {
    const batch = await scored;
    this.#stats.runs++;
    this.#stats.rows += batch.rows;
    return batch;
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

/** A row's error as its own call sees it: row 0 of a batch of one. */
function asFirstRow(error: InputError, row: number): InputError {
  const message = error.message.startsWith(`row ${row}: `) ? `row 0: ${error.message.slice(`row ${row}: `.length)}` : error.message;
  return new InputError(error.code, message, { ...error.details, row: 0 });
}

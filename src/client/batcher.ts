import type { Prediction } from '../scoring/index.js';
import type { RowResult } from '../worker/protocol.js';

export interface BatchingOptions {
  /**
   * How long the first call of a batch waits for others, in milliseconds. With 0, the calls made in
   * the same task (e.g. a loop firing many `predict()`) go as one batch, with no added delay.
   * @defaultValue `0` (`DEFAULT_BATCH_WINDOW_MS`)
   */
  readonly windowMs?: number;
  /**
   * Most rows in one batch; a full batch goes at once.
   * @defaultValue `1024` (`DEFAULT_MAX_BATCH`)
   */
  readonly maxBatch?: number;
}

/** `windowMs` when not given: calls made in the same task are batched, none waits longer. */
export const DEFAULT_BATCH_WINDOW_MS = 0;
/** `maxBatch` when not given. */
export const DEFAULT_MAX_BATCH = 1024;

interface Pending {
  readonly row: unknown;
  readonly resolve: (prediction: Prediction) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Concurrent `predict()` calls scored as one batch in the worker, each answered on its own: one
 * round trip and one model run instead of thousands. A bad row fails its own call only.
 */
export class MicroBatcher {
  readonly #send: (rows: unknown[]) => Promise<RowResult[]>;
  readonly #windowMs: number;
  readonly #maxBatch: number;
  #queue: Pending[] = [];
  #scheduled = false;

  constructor(send: (rows: unknown[]) => Promise<RowResult[]>, options: BatchingOptions = {}) {
    this.#send = send;
    this.#windowMs = Math.max(0, options.windowMs ?? DEFAULT_BATCH_WINDOW_MS);
    this.#maxBatch = Math.max(1, options.maxBatch ?? DEFAULT_MAX_BATCH);
  }

  add(row: unknown): Promise<Prediction> {
    return new Promise<Prediction>((resolve, reject) => {
      this.#queue.push({ row, resolve, reject });
      if (this.#queue.length >= this.#maxBatch) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        if (this.#windowMs === 0) queueMicrotask(() => this.#flush());
        else setTimeout(() => this.#flush(), this.#windowMs);
      }
    });
  }

  #flush(): void {
    this.#scheduled = this.#queue.length > this.#maxBatch;
    const batch = this.#queue.splice(0, this.#maxBatch);
    if (this.#queue.length > 0 && !this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#flush());
    }
    if (batch.length === 0) return;
    this.#send(batch.map((p) => p.row)).then(
      (results) =>
        batch.forEach((pending, i) => {
          const result = results[i]!;
          if (result.ok) pending.resolve(result.prediction);
          else pending.reject(result.error);
        }),
      (error: unknown) => batch.forEach((pending) => pending.reject(error)),
    );
  }
}

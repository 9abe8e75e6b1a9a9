import type { Prediction } from '../scoring/index.js';

export interface CacheOptions {
  /** Most predictions kept; the least recently used goes first. */
  readonly maxEntries: number;
}

/**
 * Memoised predictions on the main thread, keyed by the canonical row: a repeated input is answered
 * without a worker round trip. Emptied when a new model version is activated.
 */
export class PredictionCache {
  readonly #entries = new Map<string, Prediction>();
  readonly #maxEntries: number;
  hits = 0;

  constructor(options: CacheOptions) {
    this.#maxEntries = Math.max(1, Math.floor(options.maxEntries));
  }

  get(key: string): Prediction | undefined {
    const prediction = this.#entries.get(key);
    if (prediction === undefined) return undefined;
    // Re-inserted: a Map iterates in insertion order, so the first key is the least recently used.
    this.#entries.delete(key);
    this.#entries.set(key, prediction);
    this.hits++;
    return prediction;
  }

  set(key: string, prediction: Prediction): void {
    this.#entries.delete(key);
    this.#entries.set(key, deepFreeze(prediction));
    if (this.#entries.size > this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}

/**
 * The canonical key of a row: its fields sorted, values JSON-encoded. Only plain rows of strings,
 * finite numbers, booleans and null are cached; anything else (typed arrays, NaN) is not, so that
 * two different inputs can never share a key.
 */
export function cacheKey(row: unknown): string | undefined {
  if (typeof row !== 'object' || row === null || Array.isArray(row) || Object.getPrototypeOf(row) !== Object.prototype) return undefined;
  const entries = Object.entries(row as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [, value] of entries) {
    const plain =
      value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
    if (!plain) return undefined;
  }
  return JSON.stringify(entries);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

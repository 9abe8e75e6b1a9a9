import * as Comlink from 'comlink';
import type { DownloadProgress, Manifest, Task } from '../bundle/index.js';
import { OndeviceError, deserializeError, serializeError, type SerializedError } from '../errors/index.js';
import type { InputField } from '../features/index.js';
import type { GateReport } from '../gate/index.js';
import type { Prediction } from '../scoring/index.js';

/**
 * The contract between the main thread and the worker. Both `ModelService` (in the worker, or in the
 * same thread for tests) and the comlink proxy returned by `load()` implement `OndeviceModel`.
 */
export interface OndeviceModel {
  /** Scores one raw row: `{ field: value }`, null for a missing value. */
  predict(row: Readonly<Record<string, unknown>>): Promise<Prediction>;
  /** Scores many rows in one model run. A bad row rejects the whole batch, naming the row. */
  predictBatch(rows: readonly Readonly<Record<string, unknown>>[]): Promise<Prediction[]>;
  /**
   * The feature matrix the model would be given for these rows (tabular models): float64, as the
   * feature spec computes it, before the cast to the model's input type. For checking parity with
   * the research pipeline's `transform()`.
   */
  features(rows: readonly Readonly<Record<string, unknown>>[]): Promise<FeatureMatrix>;
  info(): Promise<ModelInfo>;
  /** Releases the runtime; with `load()`, also ends the worker. Later calls fail with `StateError`. */
  dispose(): Promise<void>;
}

export interface FeatureMatrix {
  readonly rows: number;
  readonly names: readonly string[];
  /** `rows x names.length`, row-major. Empty for tensor models. */
  readonly values: Float64Array;
}

export interface WorkerLoadOptions {
  /** onnxruntime-web WASM threads. Default: up to 4 when cross-origin isolated, else 1. */
  readonly threads?: number;
}

export interface ModelInfo {
  readonly name: string;
  readonly version: string;
  readonly versions: Manifest['versions'];
  readonly contentHash: string;
  readonly manifestSha256: string;
  readonly task: Task;
  /** The raw fields a row carries: enough to build a form or validate before sending. */
  readonly inputs: readonly InputField[];
  /** One name per model input column, e.g. `island=Dream`. */
  readonly featureNames: readonly string[];
  readonly runtime: { readonly name: string; readonly backend: string; readonly threads: number };
  /** Where this load found the bundle: `cache` means no network request at all. */
  readonly source: 'cache' | 'network';
  /** `memory` when the bundle could not be stored (it still serves, but will download again). */
  readonly storage: 'cache' | 'memory';
  readonly storageError?: string;
  readonly bundleBytes: number;
  readonly gate: GateReport;
  /** Milliseconds spent in the worker: bundle (fetch or cache + verify), runtime start, gate. */
  readonly timings: { readonly bundleMs: number; readonly runtimeMs: number; readonly gateMs: number; readonly totalMs: number };
  readonly metadata: Readonly<Record<string, unknown>>;
}

/** What the worker exposes over comlink. */
export interface WorkerApi extends Omit<OndeviceModel, 'predict' | 'predictBatch' | 'features'> {
  load(channelUrl: string, options: WorkerLoadOptions, onProgress?: (progress: DownloadProgress) => void): Promise<ModelInfo>;
  // The worker receives whatever the app sent: validation happens there.
  predict(row: unknown): Promise<Prediction>;
  predictBatch(rows: unknown): Promise<Prediction[]>;
  features(rows: unknown): Promise<FeatureMatrix>;
}

interface ThrownWrapper {
  readonly value: unknown;
}

type WireThrown = { readonly kind: 'ondevice'; readonly error: SerializedError } | { readonly kind: 'error'; readonly message: string; readonly name: string; readonly stack?: string } | { readonly kind: 'value'; readonly value: unknown };

/**
 * Replaces comlink's "throw" handler, which flattens every error into a plain `Error`, with one that
 * carries `OndeviceError` classes intact (class, code, details). Call it in both threads.
 */
export function installErrorTransfer(): void {
  Comlink.transferHandlers.set('throw', {
    // comlink wraps a thrown value as { value, [throwMarker]: 0 }; the marker symbol is not exported.
    canHandle: (value: unknown): value is ThrownWrapper =>
      typeof value === 'object' && value !== null && Object.getOwnPropertySymbols(value).some((s) => s.description === 'Comlink.thrown'),
    serialize: ({ value }: ThrownWrapper): [WireThrown, Transferable[]] => {
      if (value instanceof OndeviceError) return [{ kind: 'ondevice', error: serializeError(value) }, []];
      if (value instanceof Error) return [{ kind: 'error', message: value.message, name: value.name, ...(value.stack ? { stack: value.stack } : {}) }, []];
      return [{ kind: 'value', value }, []];
    },
    deserialize: (wire: WireThrown): never => {
      if (wire.kind === 'ondevice') throw deserializeError(wire.error);
      if (wire.kind === 'error') throw Object.assign(new Error(wire.message), { name: wire.name, stack: wire.stack });
      throw wire.value;
    },
  } as Comlink.TransferHandler<unknown, unknown>);
}

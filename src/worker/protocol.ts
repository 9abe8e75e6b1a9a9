import * as Comlink from 'comlink';
import type { Manifest, MetadataCaps, ModelMetadata, NetworkLimits, Task } from '../bundle/index.js';
import { OndeviceError, deserializeError, serializeError, type SerializedError } from '../errors/index.js';
import type { InputField } from '../features/index.js';
import type { GateReport } from '../gate/index.js';
import type { RolloutPolicy, StrategyName } from '../rollout/index.js';
import type { Backend, ShardStatus, TensorData } from '../runtimes/index.js';
import type { ColumnarPrediction, Prediction } from '../scoring/index.js';
import type { RowResult, ScoreReply, ScoreRequest } from './score-protocol.js';

export type { RowResult } from './score-protocol.js';
import type { DriftEvent, MonitorOptions, MonitorReport, OutboxStatus, TelemetryOptions } from '../monitor/index.js';
import type {
  ExplainOptions,
  Explanation,
  ImportanceOptions,
  PartialDependence,
  PartialDependenceOptions,
  PermutationImportance,
} from '../explain/index.js';

/**
 * The contract between the main thread and the worker. Both `ModelService` (in the worker, or in the
 * same thread for tests) and the comlink proxy returned by `load()` implement `OndeviceModel`.
 *
 * Each method's `@throws` lists the error classes and codes it rejects with (see the README's error
 * table). Besides those, with `ondevice/node`'s `thread: 'worker'`, a call rejects with
 * `ScoringError` `WORKER_LOAD_FAILED` if the worker thread exits.
 */
export interface OndeviceModel {
  /**
   * Scores one raw row: `{ field: value }`, null for a missing value.
   * @throws {InputError} a row that does not fit the feature spec (`details.row` 0,
   * `details.field`): `INVALID_ROW`, `FORBIDDEN_KEY`, `UNEXPECTED_FIELD`, `MISSING_FIELD`,
   * `MISSING_VALUE`, `WRONG_TYPE`, `NOT_FINITE`, `VALUE_TOO_LONG`, `UNKNOWN_CATEGORY`,
   * `OUT_OF_DOMAIN`; tensor models: `TENSOR_SHAPE`, `TENSOR_DTYPE`.
   * @throws {ScoringError} `SCORING_FAILED`: the runtime failed to run the model.
   * @throws {StateError} `DISPOSED`: called after `dispose()`, or disposed while under way.
   */
  predict(row: Readonly<Record<string, unknown>>): Promise<Prediction>;
  /**
   * Scores many rows in one model run. A bad row rejects the whole batch, naming the row.
   * @throws {InputError} `INVALID_BATCH` (not an array), `BATCH_TOO_LARGE` (more rows than the
   * spec's `limits.maxBatchRows`), or the first refused row's code (`details.row`): `INVALID_ROW`,
   * `FORBIDDEN_KEY`, `UNEXPECTED_FIELD`, `MISSING_FIELD`, `MISSING_VALUE`, `WRONG_TYPE`,
   * `NOT_FINITE`, `VALUE_TOO_LONG`, `UNKNOWN_CATEGORY`, `OUT_OF_DOMAIN`; tensor models:
   * `TENSOR_SHAPE`, `TENSOR_DTYPE`.
   * @throws {ScoringError} `SCORING_FAILED`: the runtime failed to run the model.
   * @throws {StateError} `DISPOSED`: called after `dispose()`, or disposed while under way.
   */
  predictBatch(rows: readonly Readonly<Record<string, unknown>>[]): Promise<Prediction[]>;
  /**
   * Scores many rows, each answered on its own: a refused row gets its `InputError` (told as row 0,
   * as if sent alone) and the others are scored, in one model run. What micro-batching does for
   * concurrent `predict()` calls, for a batch in hand (e.g. a file, where bad lines are skipped).
   * @throws {InputError} only for the call as a whole: `INVALID_BATCH` (not an array),
   * `BATCH_TOO_LARGE`; a refused row's code is in its own result.
   * @throws {ScoringError} `SCORING_FAILED`: the runtime failed to run the model.
   * @throws {StateError} `DISPOSED`: called after `dispose()`, or disposed while under way.
   */
  predictEach(rows: readonly Readonly<Record<string, unknown>>[]): Promise<RowResult[]>;
  /**
   * Scores columns (`{ field: typed array | array }`, one value per row; NaN in a numeric typed
   * array means missing) in one run. Typed arrays are transferred to the worker, not copied: the
   * caller's arrays are detached afterwards. The result's typed arrays are transferred back.
   * @throws {InputError} `INVALID_BATCH` (not an object of columns, columns of different lengths,
   * a dictionary code out of range, or a tensor model), `BATCH_TOO_LARGE`, `WRONG_TYPE` (a column
   * of the wrong kind), `MISSING_FIELD`, `UNEXPECTED_FIELD`, `FORBIDDEN_KEY` (the columns' names),
   * or a refused value's code (`details.row`): `MISSING_VALUE`, `NOT_FINITE`, `VALUE_TOO_LONG`,
   * `UNKNOWN_CATEGORY`, `OUT_OF_DOMAIN`.
   * @throws {ScoringError} `SCORING_FAILED`: the runtime failed to run the model.
   * @throws {StateError} `DISPOSED`: called after `dispose()`, or disposed while under way.
   */
  predictColumns(columns: ColumnarInput): Promise<ColumnarPrediction>;
  /**
   * The feature matrix the model would be given for these rows (tabular models): float64, as the
   * feature spec computes it, before the cast to the model's input type. For checking parity with
   * the research pipeline's `transform()`.
   * @throws {InputError} as `predictBatch`: `INVALID_BATCH`, `BATCH_TOO_LARGE`, or the first
   * refused row's code (`details.row`).
   * @throws {StateError} `DISPOSED`: called after `dispose()`, or disposed while under way.
   */
  features(rows: readonly Readonly<Record<string, unknown>>[]): Promise<FeatureMatrix>;
  /**
   * Opens a streaming session on a model whose feature spec declares state (e.g. a recurrent net's
   * `h`): each `predict` feeds the state the previous one produced, kept in the worker. Sessions are
   * independent of each other and of plain `predict`, which always starts from the initial state.
   * A session keeps the version it opened on until `reset()`, even when an update activates another.
   * @throws {StateError} `UNSUPPORTED`: the model declares no state; `TOO_MANY_SESSIONS`: 256 are
   * open; `DISPOSED`.
   */
  session(): Promise<ModelSession>;
  /**
   * What serves: version, inputs, runtime and backend, gate report, rollout, timings.
   * @throws {StateError} `DISPOSED`: called after `dispose()`, or disposed while under way.
   */
  info(): Promise<ModelInfo>;
  /**
   * Checks the channel now. A newer version is downloaded, verified, stored and gated, then swapped
   * in for new calls (calls in flight finish on the old one). A failed check or a refused version
   * does not reject: the current version keeps serving, and the result (and events) say what happened.
   * @throws {StateError} `DISPOSED`: called after `dispose()`, or disposed while under way.
   */
  update(): Promise<UpdateResult>;
  /**
   * Reports how a prediction turned out (`prediction.id`; reward 1 a success, 0 a failure, or in
   * between): a bandit rollout learns from it. Ids are remembered for the last 100,000 predictions.
   * @throws {InputError} `NOT_FINITE` (`reward` is not a finite number), `UNKNOWN_PREDICTION`
   * (`id` is not among the recent predictions).
   * @throws {StateError} `DISPOSED`: called after `dispose()`, or disposed while under way.
   */
  reportOutcome(id: string, reward: number): Promise<void>;
  /**
   * Drift of live inputs and outputs against the training distribution the bundle ships (counts
   * persist across reloads), rows refused per error code, and scoring latency, for the live version
   * (or `version`, a version this device serves).
   * @throws {InputError} `INVALID_OPTION`: `version` is not one this device serves.
   * @throws {StateError} `DISPOSED`: called after `dispose()`, or disposed while under way.
   */
  monitor(version?: string): Promise<MonitorReport>;
  /**
   * Per-field attributions of one prediction in the raw feature space: exact for linear models,
   * sampled Shapley values with a stated error bound otherwise. Runs in the worker, with progress;
   * cancel with `signal` (rejects with `StateError` `CANCELLED`).
   * @throws {InputError} `INVALID_OPTION` (`class`, `method`, `samples`, `seed`), or the row's
   * code as `predict` would refuse it.
   * @throws {StateError} `CANCELLED` (its `signal` aborted), `UNSUPPORTED` (a tensor model, or
   * `method: 'exact-linear'` for a model that is not additive), `DISPOSED`.
   * @throws {BundleError} `INVALID_REFERENCE`: the bundle's reference does not fit its feature
   * spec.
   * @throws {ScoringError} `SCORING_FAILED`: the runtime failed to run the model.
   */
  explain(row: Readonly<Record<string, unknown>>, options?: ExplainOptions & TaskOptions): Promise<Explanation>;
  /**
   * Permutation importance of every field on the bundle's confidence set, with the gate's metric.
   * @throws {InputError} `INVALID_OPTION` (`repeats`, `seed`; a confidence set without the
   * labels or targets the metric needs).
   * @throws {StateError} `CANCELLED` (its `signal` aborted), `UNSUPPORTED` (a tensor model: no
   * fields to attribute to), `DISPOSED`.
   * @throws {ScoringError} `SCORING_FAILED`: the runtime failed to run the model.
   */
  importance(options?: ImportanceOptions & TaskOptions): Promise<PermutationImportance>;
  /**
   * Partial dependence of the model's answer on one field, averaged over the confidence set.
   * @throws {InputError} `WRONG_TYPE` (`field` is not a string), `UNEXPECTED_FIELD` (not one of
   * the model's fields), `INVALID_OPTION` (`grid`, `gridSize`, `class`), or a grid value's code as
   * `predictBatch` would refuse it (`details.row` is its index in `grid`).
   * @throws {StateError} `CANCELLED` (its `signal` aborted), `UNSUPPORTED` (a tensor model: no
   * fields to attribute to), `DISPOSED`.
   * @throws {ScoringError} `SCORING_FAILED`: the runtime failed to run the model.
   */
  partialDependence(field: string, options?: PartialDependenceOptions & TaskOptions): Promise<PartialDependence>;
  /**
   * The telemetry outbox: queued, dropped and delivered records. Undefined without `telemetry`.
   * @throws {StateError} `DISPOSED`: called after `dispose()`, or disposed while under way.
   */
  telemetry(): Promise<OutboxStatus | undefined>;
  /**
   * Queues the aggregates gathered so far and tries to deliver the outbox now. A failed delivery
   * does not reject: it is in the status's `lastError`, and retried.
   * @throws {StateError} `DISPOSED`: called after `dispose()`, or disposed while under way.
   */
  flushTelemetry(): Promise<OutboxStatus | undefined>;
  /**
   * Releases the runtime; with `load()`, also ends the worker. Later calls fail with `StateError`
   * `DISPOSED`. Settles within `DISPOSE_TIMEOUT_MS` even when the service does not answer.
   * @throws Never: it resolves however releasing went, and calls again resolve too.
   */
  dispose(): Promise<void>;
  /**
   * Listens to deployment events; returns a function that stops listening.
   * @throws Never: it only records the listener.
   */
  on<T extends DeploymentEventType>(type: T, listener: (event: Extract<DeploymentEvent, { type: T }>) => void): () => void;
}

/**
 * How a load (or an update's install) gets on, phase by phase; warm starts from the device's store
 * report too. `download` and `verify` count bytes: of the files received, or read back and hashed.
 */
export type LoadProgress =
  | { readonly phase: 'download'; readonly loadedBytes: number; readonly totalBytes: number; readonly file: string }
  | { readonly phase: 'verify'; readonly loadedBytes: number; readonly totalBytes: number; readonly file: string }
  | { readonly phase: 'runtime'; readonly runtime: string }
  | { readonly phase: 'gate' }
  | { readonly phase: 'ready'; readonly version: string; readonly source: 'cache' | 'network' };

/** For the long tasks (explanations): progress reports and cancellation. */
export interface TaskOptions {
  readonly onProgress?: (progress: TaskProgress) => void;
  readonly signal?: AbortSignal;
}

export interface TaskProgress {
  readonly done: number;
  readonly total: number;
}

export interface FeatureMatrix {
  readonly rows: number;
  readonly names: readonly string[];
  /** `rows x names.length`, row-major. Empty for tensor models. */
  readonly values: Float64Array;
}

export interface WorkerLoadOptions {
  /**
   * onnxruntime-web WASM threads.
   * @defaultValue up to 4 when cross-origin isolated, else 1; 1 in Firefox, whose workers can freeze starting workers of their own
   */
  readonly threads?: number;
  /**
   * Workers a batch of 8,192 rows or more is split across, each with a one-thread onnxruntime-web
   * session (the `wasm` backend); 0 never splits. Started on the first such batch;
   * `info().runtime.shards` says how they stand.
   * @defaultValue the device's cores, up to 4 (none on one core, nor in Firefox)
   */
  readonly shards?: number;
  /**
   * Backends to try, in order, for the bundle's runtime (e.g. `['webgpu', 'wasm']`); one that fails
   * falls back to the next and `info().runtime.fallbacks` says why. `'auto'`: chosen by model size
   * and what the device offers.
   * @defaultValue `'auto'`
   */
  readonly backends?: 'auto' | readonly Backend[];
  /**
   * Which model variant of a bundle may serve (e.g. `int8` for WASM): `'auto'` the first built for
   * the backends this device uses that passes its own gate; `'none'` the main model; or a variant's
   * name. `info().runtime.variant` says which serves, `variantsPassedOver` why not others.
   * @defaultValue `'auto'`
   */
  readonly variant?: string;
  /**
   * Ed25519 public keys (raw 32 bytes, base64url, as `ondevice keygen` writes them). When given, a
   * channel or manifest without a valid signature by one of them is refused.
   * @defaultValue none: hashes are checked, signatures are not required
   */
  readonly publicKeys?: readonly string[];
  /**
   * Check the channel in the background after starting from the cache.
   * @defaultValue `true`
   */
  readonly checkForUpdates?: boolean;
  /**
   * The user the canary buckets (any stable id).
   * @defaultValue a random id kept on this device
   */
  readonly userId?: string;
  /**
   * Seed for the rollout's random choices (shadow sampling, bandit draws), to replay them.
   * @defaultValue a random seed per load
   */
  readonly rolloutSeed?: number;
  /**
   * Also check every this many milliseconds.
   * @defaultValue never: only at load and on `update()`
   */
  readonly updateIntervalMs?: number;
  /**
   * Versions whose files are kept in the device's store (the serving one included); at least 1.
   * @defaultValue `2` (`DEFAULT_KEEP_VERSIONS`)
   */
  readonly keepVersions?: number;
  /** Set by `load()`: whether the browser granted persistent storage (when asked to request it). */
  readonly persisted?: boolean;
  /**
   * Drift monitoring (needs `reference.json` in the bundle); `false` turns it off.
   * @defaultValue `{}`: on, with `MonitorOptions`' defaults (a window of 10,000 rows, at most 1,024 rows counted per call)
   */
  readonly monitor?: MonitorOptions | false;
  /**
   * Send aggregates (predictions, latency, drift, refusals, deployment events, gate results; never
   * raw rows) to an OpenTelemetry collector's OTLP/HTTP endpoint, e.g. `https://collector/v1/metrics`,
   * through an outbox in IndexedDB that survives offline periods and reloads.
   * @defaultValue off: nothing is sent
   */
  readonly telemetry?: TelemetryOptions;
  /**
   * Serve exactly this version instead of the channel's live one: its manifest, pinned by SHA-256
   * (e.g. `ondevice score --version`). No update checks, no rollout.
   * @defaultValue none: the channel's live version (and its rollout) serves
   */
  readonly pinned?: PinnedVersion;
  /**
   * Bounds on every request: how long its response (`firstByteMs`), each chunk of its body
   * (`idleMs`) and the whole file (`fileMs`) may take, and how many bytes `channel.json`
   * (`channelBytes`) and a manifest (`manifestBytes`) may hold. Past one, the request ends with
   * `BundleError` `TIMEOUT` or `TOO_LARGE` (the URL and the limit in `details`).
   * @defaultValue `DEFAULT_NETWORK_LIMITS` and `DEFAULT_METADATA_CAPS`: 30 s, 30 s, 10 min; 64 KiB, 1 MiB
   */
  readonly network?: Partial<NetworkLimits & MetadataCaps>;
}

/** How many versions' files the device keeps when `keepVersions` is not given (the serving one included). */
export const DEFAULT_KEEP_VERSIONS = 2;

/** A version named by the app rather than by a channel. */
export interface PinnedVersion {
  readonly name: string;
  readonly version: string;
  /** Absolute URL of its manifest.json. */
  readonly manifestUrl: string;
  /** SHA-256 (hex) of that manifest.json's bytes. */
  readonly sha256: string;
}

/** What the worker tells the app about deployments. */
export type DeploymentEvent =
  | { readonly type: 'update-available'; readonly version: string }
  | { readonly type: 'installed'; readonly version: string }
  | { readonly type: 'activated'; readonly version: string; readonly previous?: string }
  | { readonly type: 'rejected'; readonly version: string; readonly reason: string; readonly code: string }
  | { readonly type: 'stale'; readonly expires: string }
  /** The rollout in force changed: its strategy, the version this user is assigned (canary, single), and why it is not the channel's (when a version could not be made ready). */
  | { readonly type: 'rollout'; readonly strategy: StrategyName; readonly version?: string; readonly reason?: string }
  /** The fields (or the output) that drifted past the bundle's thresholds changed. */
  | DriftEvent;

/** The rollout in force on this device. */
export interface RolloutInfo {
  readonly strategy: StrategyName;
  /** What the channel asked for (it differs from `strategy` when a version could not be made ready: see `note`). */
  readonly policy: RolloutPolicy;
  readonly note?: string;
  readonly candidate?: string;
  /** Canary: the share of users on the candidate, this user's bucket in [0, 1), and the version assigned. */
  readonly share?: number;
  readonly bucket?: number;
  readonly assigned?: string;
  /** Bandit: successes and failures reported per version. */
  readonly arms?: Readonly<Record<string, { readonly successes: number; readonly failures: number }>>;
  /** Shadow: how the candidate compares with the live answers. */
  readonly shadow?: ShadowStats;
}

export interface ShadowStats {
  readonly comparisons: number;
  /** Share of compared rows where both gave the same label (classification) or agreed within the candidate's tolerance (regression). */
  readonly agreement: number;
  /** Mean absolute difference of the probabilities (classification) or values (regression). */
  readonly meanAbsoluteDifference: number;
  /** Candidate's mean scoring time per call, milliseconds. */
  readonly candidateMeanMs: number;
}

export type DeploymentEventType = DeploymentEvent['type'];

export interface UpdateResult {
  /** `failed`: the channel could not be fetched or was refused (replayed, older, bad signature). */
  readonly status: 'up-to-date' | 'activated' | 'rejected' | 'failed';
  readonly version?: string;
  readonly reason?: string;
  readonly code?: string;
  /** The channel is past its expiry date. */
  readonly stale: boolean;
  /** The rollout strategy in force after the check. */
  readonly strategy?: StrategyName;
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
  readonly runtime: {
    readonly name: string;
    readonly backend: string;
    readonly threads: number;
    /** Why it scores on one thread, when it does: e.g. WebKit offers no SharedArrayBuffer, even cross-origin isolated. */
    readonly threadsLimitedBy?: string;
    /** Why the runtime ordered its backends as it did (TensorFlow.js: a GPU for a convolutional network, WASM for a small dense model). */
    readonly backendReason?: string;
    /** Backends tried before this one, and why each failed. */
    readonly fallbacks: readonly { readonly backend: string; readonly reason: string }[];
    /** The bundle's model variant serving (e.g. `int8`), or null for its main model. */
    readonly variant: string | null;
    /** Variants considered before it, and why each was passed over. */
    readonly variantsPassedOver: readonly { readonly variant: string; readonly reason: string }[];
    /** The workers large batches are split across (onnxruntime-web `wasm` only), and how they stand. */
    readonly shards?: ShardStatus;
  };
  /** Where this load found the bundle: `cache` means no network request at all. */
  readonly source: 'cache' | 'network';
  /** `memory` when the bundle could not be stored (it still serves, but will download again). */
  readonly storage: 'cache' | 'memory';
  readonly storageError?: string;
  readonly bundleBytes: number;
  readonly gate: GateReport;
  /** Milliseconds spent in the worker: bundle (fetch or cache + verify), runtime start, gate. */
  readonly timings: { readonly bundleMs: number; readonly runtimeMs: number; readonly gateMs: number; readonly totalMs: number };
  readonly metadata: ModelMetadata;
  /** Whether the browser granted persistent storage, when `load()` was asked to request it. */
  readonly persisted?: boolean;
  /** The newest channel sequence accepted, and whether the channel is past its expiry. */
  readonly channel: { readonly sequence: number; readonly stale: boolean };
  /** Model runs and rows scored by this worker since load; live tensors where the runtime counts them (TensorFlow.js). */
  readonly stats?: { readonly runs: number; readonly rows: number; readonly tensors?: number };
  readonly rollout: RolloutInfo;
  /** Versions this device knows for the channel. */
  readonly installed: readonly {
    readonly version: string;
    readonly status: 'installed' | 'good' | 'rejected';
    readonly stored: boolean;
    readonly reason?: string;
  }[];
}

/**
 * A category column dictionary-encoded: `codes[r]` is row r's index into `levels`, -1 when missing.
 * Each level is checked and looked up once, not once per row, and `codes` is moved to the worker
 * without a copy.
 */
export interface DictionaryColumn {
  readonly codes: Int32Array;
  readonly levels: readonly string[];
}

export type ColumnarInput = Readonly<
  Record<string, Float64Array | Float32Array | Int32Array | readonly (number | null)[] | readonly (string | null)[] | DictionaryColumn>
>;

/**
 * Bumped whenever the messages between page and worker change: a worker script left in a cache by
 * another version of the library is refused at start instead of misreading calls.
 */
export const PROTOCOL_VERSION = 2;

/** What the worker exposes over comlink: one scoring call for every form of input (score-protocol.ts), and the rest of the model. */
/** A streaming session (`OndeviceModel.session()`). */
export interface ModelSession {
  /** The version the session scores with (fixed until `reset()`). */
  readonly version: string;
  /**
   * One step: scores the row with the session's state and keeps the state it produces. A refused
   * row leaves the state as it was.
   * @throws {InputError} as `OndeviceModel.predict`; `CONSTANT_INPUT` when the row sends a constant,
   * `UNEXPECTED_FIELD` when it sends a state input (the session feeds those).
   * @throws {StateError} `DISPOSED`: the session or the model was disposed.
   */
  predict(row: Readonly<Record<string, unknown>>): Promise<Prediction>;
  /** Back to the initial state, on the version live now. */
  reset(): Promise<void>;
  /** A copy of the state the next step will be fed (undefined before the first step). */
  state(): Promise<Record<string, { readonly data: TensorData; readonly dims: readonly number[] }> | undefined>;
  /** Ends the session and frees its state; later calls reject with `DISPOSED`. */
  dispose(): Promise<void>;
}

export interface WorkerApi extends Omit<
  OndeviceModel,
  | 'predict'
  | 'predictBatch'
  | 'predictEach'
  | 'predictColumns'
  | 'features'
  | 'on'
  | 'explain'
  | 'importance'
  | 'partialDependence'
  | 'session'
> {
  /** The first call: the worker's script loaded and speaks this protocol. */
  hello(): Promise<{ readonly protocol: number }>;
  load(
    channelUrl: string,
    options: WorkerLoadOptions,
    onProgress?: (progress: LoadProgress) => void,
    onEvent?: (event: DeploymentEvent) => void,
  ): Promise<ModelInfo>;
  /** Scores one call; the worker receives whatever the app sent: validation happens there. */
  score(request: ScoreRequest): Promise<ScoreReply>;
  /** A large batch in parts: open it (null: send it whole), add every part in row order, then score it (`{ input: 'parts' }`) or abort it. */
  openParts(rows: number): Promise<number | null>;
  addPart(id: number, at: number, columns: unknown): void;
  abortParts(id: number): void;
  features(rows: unknown): Promise<FeatureMatrix>;
  // Long tasks: options without the signal and the callback (not cloneable); `taskId` names the call
  // for `cancel`; `onProgress` travels as a comlink proxy (only top-level arguments can).
  explain(row: unknown, options: ExplainOptions, taskId: string, onProgress?: (progress: TaskProgress) => void): Promise<Explanation>;
  importance(options: ImportanceOptions, taskId: string, onProgress?: (progress: TaskProgress) => void): Promise<PermutationImportance>;
  partialDependence(
    field: unknown,
    options: PartialDependenceOptions,
    taskId: string,
    onProgress?: (progress: TaskProgress) => void,
  ): Promise<PartialDependence>;
  /** Cancels a long task by its id: it rejects with `StateError` `CANCELLED` at its next step. */
  cancel(taskId: string): Promise<void>;
  // Streaming sessions (`OndeviceModel.session()`): the state stays in the worker, under the session's id.
  openSession(): Promise<{ readonly id: number; readonly version: string }>;
  sessionStep(id: number, rows: unknown): Promise<ScoreReply>;
  resetSession(id: number): Promise<{ readonly version: string }>;
  sessionState(id: number): Promise<Record<string, { readonly data: TensorData; readonly dims: readonly number[] }> | undefined>;
  closeSession(id: number): Promise<void>;
}

interface ThrownWrapper {
  readonly value: unknown;
}

type WireThrown =
  | { readonly kind: 'ondevice'; readonly error: SerializedError }
  | { readonly kind: 'error'; readonly message: string; readonly name: string; readonly stack?: string }
  | { readonly kind: 'value'; readonly value: unknown };

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
      if (value instanceof Error)
        return [{ kind: 'error', message: value.message, name: value.name, ...(value.stack ? { stack: value.stack } : {}) }, []];
      return [{ kind: 'value', value }, []];
    },
    deserialize: (wire: WireThrown): never => {
      if (wire.kind === 'ondevice') throw deserializeError(wire.error);
      if (wire.kind === 'error') throw Object.assign(new Error(wire.message), { name: wire.name, stack: wire.stack });
      throw wire.value;
    },
  } as Comlink.TransferHandler<unknown, unknown>);
}

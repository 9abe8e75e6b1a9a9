// What the bench page (bench/page/) and the runner (bench/run.ts) exchange through page.evaluate:
// plain JSON-safe data only, since it crosses the DevTools protocol.

/** Who is measured. ondevice takes raw rows; the rivals are handed a ready feature tensor. */
export type ContestantId =
  /** ondevice `predict()` / `predictBatch()` (defaults: micro-batching on, cache off). */
  | 'ondevice'
  /** ondevice with `batching: false`: every `predict()` is its own message and model run. */
  | 'ondevice-unbatched'
  /** ondevice `predictColumns()`: typed-array columns in, typed arrays out. */
  | 'ondevice-columns'
  /** (a) onnxruntime-web on the main thread, `session.run` on a ready feature tensor. */
  | 'ort-main'
  /** (b) onnxruntime-web in a hand-written worker: Float32Array/Float64Array transferred in and out. */
  | 'ort-worker'
  /** (c) onnxruntime-web's own proxy worker (`env.wasm.proxy = true`). */
  | 'ort-proxy'
  /** (d) TensorFlow.js on its WASM backend, single-threaded, on the main thread. */
  | 'tfjs-wasm'
  /** (e) a plain comlink worker around a raw session, one row per call. */
  | 'comlink-worker';

export type RivalId = Extract<ContestantId, 'ort-main' | 'ort-worker' | 'ort-proxy' | 'tfjs-wasm' | 'comlink-worker'>;

export interface PageEnvironment {
  readonly userAgent: string;
  readonly hardwareConcurrency: number;
  readonly crossOriginIsolated: boolean;
  /** Smallest step performance.now() was seen to take (5 µs isolated, 100 µs otherwise, in Chromium). */
  readonly timerResolutionMs: number;
  readonly url: string;
}

export interface SetupInput {
  /** Bundle name under bench/public/bundles/. */
  readonly model: string;
  /** The research pipeline's features for every confidence-set row (models/<m>/build/parity.json). */
  readonly researchFeatures: readonly (readonly number[])[];
  readonly rivals: readonly RivalId[];
}

export interface ModelSetup {
  readonly model: string;
  readonly runtime: { readonly name: string; readonly backend: string; readonly threads: number };
  /** Threads every onnxruntime-web rival was given: the same as ondevice's runtime. */
  readonly rivalThreads: number;
  readonly task: 'classification' | 'regression';
  readonly width: number;
  readonly inputDtype: 'float32' | 'float64';
  readonly confidenceRows: number;
  /** max |ondevice features() - research features| over the confidence set: the rivals' inputs are the same numbers. */
  readonly featureMaxAbsDiff: number;
  /**
   * Largest difference between ondevice's and each rival's outputs on the confidence set, as the gate
   * measures it (|a - b| / max(1, |b|)): a check that every contestant scores the same thing.
   */
  readonly predictionMaxDiff: Readonly<Partial<Record<RivalId, number>>>;
  readonly loadMs: number;
}

export interface LatencyStats {
  readonly calls: number;
  readonly warmup: number;
  /** The whole loop of `calls` sequential awaited calls. */
  readonly totalMs: number;
  /** totalMs / calls: exact enough even with a coarse timer. */
  readonly meanMs: number;
  /** Per-call percentiles: only when the timer is fine (cross-origin isolated), else null. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

export interface LatencyFigure {
  readonly model: string;
  readonly results: Readonly<Partial<Record<ContestantId, LatencyStats>>>;
}

export interface TimedRuns {
  /** Every repetition, in order (after one untimed warm-up). */
  readonly runsMs: readonly number[];
  readonly medianMs: number;
}

export interface ConcurrentFigure {
  readonly model: string;
  readonly calls: number;
  /**
   * ondevice: all calls fired, then all awaited. comlink-worker, ort-main, tfjs-wasm: each call
   * awaited before the next (the way such an API is used one row at a time).
   */
  readonly results: Readonly<Partial<Record<ContestantId, TimedRuns>>>;
  /** Model runs the ondevice worker made for one repetition of `calls` predict() calls (from info().stats). */
  readonly ondeviceRunsPerRepetition: number | null;
  readonly ondeviceUnbatchedRunsPerRepetition: number | null;
}

export interface BatchFigure {
  readonly model: string;
  readonly rows: number;
  readonly results: Readonly<Partial<Record<ContestantId, TimedRuns & { readonly rowsPerSecond: number }>>>;
  /** Why a contestant has no figure (e.g. the API is missing), by contestant. */
  readonly skipped: Readonly<Partial<Record<ContestantId, string>>>;
  /** ondevice's shard workers after the repetitions (`info().runtime.shards`), or null where it has none. */
  readonly shards?: { readonly workers: number; readonly state: string; readonly batches: number; readonly reason?: string } | null;
  /** Parts of predictBatch(rows), timed on the main thread with the same rows: where its time goes. */
  readonly reference: {
    /** structuredClone() of the row objects: what sending them costs one side (the worker pays to read them too). */
    readonly structuredCloneRowsMs: number;
    /** ondevice's own validation + feature code (`prepare()`) over the rows, without any messaging. */
    readonly prepareRowsMs: number;
    /** ondevice `features(rows)`: the rows sent, validated and turned into features, the matrix transferred back. No model run. */
    readonly featuresCallMs: number;
    /** structuredClone() of predictBatch's answer (one object per row). */
    readonly structuredClonePredictionsMs: number;
    /** The worker's JS heap (info().stats.heapBytes) before and after the predictBatch repetitions. */
    readonly workerHeapBytes: { readonly before: number | null; readonly after: number | null };
  };
}

/** Fixed costs of one call, measured each on its own (penguins). Mean microseconds per call. */
export interface Breakdown {
  readonly model: string;
  readonly calls: number;
  readonly us: Readonly<Record<BreakdownPart, number>>;
}

export type BreakdownPart =
  | 'postMessageRoundTrip'
  | 'comlinkNoopRoundTrip'
  | 'comlinkEchoRow'
  | 'comlinkEchoPrediction'
  | 'structuredCloneRow'
  | 'structuredClonePrediction'
  | 'validateAndFeaturesInPage'
  | 'ondeviceFeaturesCall'
  | 'sessionRunMainOneRow'
  | 'sessionRunWorkerOneRow'
  /** The same hand-written worker with onnxruntime-web on one thread instead of the default. */
  | 'sessionRunWorkerOneRowOneThread'
  | 'ondevicePredict'
  | 'ondevicePredictUnbatched'
  /** ondevice loaded with `threads: 1`. */
  | 'ondevicePredictOneThread'
  | 'ondevicePredictBatchOfOne';

export interface StartResult {
  /** From calling load() to the first prediction's answer. */
  readonly ms: number;
  /** ondevice: where info() says the bundle came from. */
  readonly source?: 'cache' | 'network';
  /** ondevice: its own split of the time in the worker. */
  readonly workerTimings?: { readonly bundleMs: number; readonly runtimeMs: number; readonly gateMs: number; readonly totalMs: number };
  readonly bundleBytes?: number;
}

/** The functions the bench page puts on `window.bench`. */
export interface BenchApi {
  environment(): PageEnvironment;
  /** Times one fetch of `url` (no-store) from the page and from a fresh dedicated worker. */
  throttleCheck(url: string): Promise<{ readonly pageMs: number; readonly workerMs: number; readonly bytes: number }>;
  setup(input: SetupInput): Promise<ModelSetup>;
  latency(calls: number, warmup: number): Promise<LatencyFigure>;
  concurrent(calls: number, repetitions: number): Promise<ConcurrentFigure>;
  batch(rows: number, repetitions: number): Promise<BatchFigure>;
  breakdown(calls: number): Promise<Breakdown>;
  teardown(): Promise<void>;
  /** Cold or warm start of ondevice: load() to first prediction. */
  startOndevice(model: string, row: Readonly<Record<string, unknown>>, checkForUpdates: boolean): Promise<StartResult>;
  /** The same for raw onnxruntime-web on the main thread: import it, fetch model.onnx, create the session, run one ready row. */
  startOrtMain(modelUrl: string, features: readonly number[], dtype: 'float32' | 'float64', threads: number): Promise<StartResult>;
}

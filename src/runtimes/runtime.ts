/** What every model runtime offers: named numeric tensors in, named numeric tensors out. */
export interface Runtime {
  readonly name: RuntimeName;
  /** The execution provider or backend in use, e.g. `wasm`. */
  readonly backend: string;
  /** Threads the runtime scores with. */
  readonly threads: number;
  /** Why it scores on one thread, when it does (no SharedArrayBuffer, the app's `threads`, one core). */
  readonly threadsLimitedBy?: string;
  /** Why the runtime ordered its backends as it did (TensorFlow.js: a GPU for a convolutional network, WASM for a small dense model). */
  readonly backendReason?: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Each backend tried before this one, in order, and why it failed. Empty when the first one loaded. */
  readonly fallbacks: readonly BackendFailure[];
  /** Scores the inputs; `outputs` names the outputs wanted (default: all), so the others need not be read back. */
  run(inputs: Readonly<Record<string, InputTensor>>, outputs?: readonly string[]): Promise<Record<string, OutputTensor>>;
  /** The workers large batches are split across (onnxruntime-web WASM), and how they stand. */
  shards?(): ShardStatus;
  /** Tensors the runtime holds right now, where it keeps count (TensorFlow.js): a leak shows here. */
  liveTensors?(): number;
  dispose(): Promise<void>;
}

/**
 * A tensor's values as the runtimes take and give them: int64 in a `BigInt64Array`, bool in a
 * `Uint8Array`, float16 as its bits in a `Uint16Array`.
 */
export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Int8Array | Uint8Array | Uint16Array;

export interface InputTensor {
  readonly data: TensorData;
  readonly dims: readonly number[];
}

export interface OutputTensor {
  /** As the model produced it (float16 widened to float32). */
  readonly data: TensorData;
  readonly dims: readonly number[];
}

export type RuntimeName = 'onnxruntime-web' | 'tensorflow-js';

/** The packages each runtime needs in the app; TensorFlow.js's are optional peer dependencies of ondevice. */
export const RUNTIME_PACKAGES: Readonly<Record<RuntimeName, readonly string[]>> = {
  'onnxruntime-web': ['onnxruntime-web'],
  'tensorflow-js': [
    '@tensorflow/tfjs-core',
    '@tensorflow/tfjs-layers',
    '@tensorflow/tfjs-converter',
    '@tensorflow/tfjs-backend-cpu',
    '@tensorflow/tfjs-backend-wasm',
    '@tensorflow/tfjs-backend-webgl',
    '@tensorflow/tfjs-backend-webgpu',
  ],
};

/**
 * A backend (execution provider) name. onnxruntime-web has `webgpu` and `wasm`; TensorFlow.js knows
 * `webgpu`, `webgl`, `wasm` and `cpu` (the GPU ones fetched only when tried). Asking a runtime for one
 * it does not have is a recorded failure, not an exception: the next backend is tried.
 */
export type Backend = 'webgpu' | 'webgl' | 'wasm' | 'cpu';

export interface BackendFailure {
  readonly backend: string;
  readonly reason: string;
}

export interface RuntimeFiles {
  /** `model.onnx`, or a TensorFlow.js `model.json`. */
  readonly model: Uint8Array;
  /** TensorFlow.js weights: one file holding every shard, joined in `model.json`'s order. */
  readonly weights?: Uint8Array;
  /** TensorFlow.js weights as `model.json`'s `weightsManifest` lists them, one file per shard, in order. */
  readonly weightShards?: readonly Uint8Array[];
  /** Friendly output names (alias -> the model's output name, `Manifest.outputAliases`): the runtime answers to both. */
  readonly outputAliases?: Readonly<Record<string, string>>;
}

export interface RuntimeOptions {
  /**
   * Threads for onnxruntime-web's WASM code (the `wasm` backend, and the CPU side of `webgpu`).
   * Takes effect when the first session of a build is created in the worker: onnxruntime-web starts its
   * WASM module once. TensorFlow.js always scores on one thread.
   * @defaultValue up to 4 when the page is cross-origin isolated, else 1 (threads need SharedArrayBuffer); 1 in Firefox (`nestedWorkersWithheld`)
   */
  readonly threads?: number;
  /**
   * Backends to try, in order; the first that loads the model serves, and the ones before it are
   * listed in `Runtime.fallbacks` with the reason each failed. `'auto'`:
   * - onnxruntime-web: `['webgpu', 'wasm']` when WebGPU has an adapter and the model file is at least
   *   4 MiB (`WEBGPU_MIN_MODEL_BYTES`), else `['wasm']`;
   * - TensorFlow.js: `['webgpu', 'webgl', 'wasm', 'cpu']` (those of the GPU ones the device has) for a
   *   convolutional network or at least 4 MiB of weights (`TFJS_GPU_MIN_WEIGHT_BYTES`), else
   *   `['wasm', 'cpu']`; while another TensorFlow.js model is live in the worker, its backend first
   *   (TensorFlow.js has one backend per worker). `Runtime.backendReason` says which case it was.
   * Takes effect each time a version's runtime is created (first load and every update).
   * @defaultValue `'auto'`
   */
  readonly backends?: 'auto' | readonly Backend[];
  /**
   * Which of the bundle's model variants may serve (`Manifest.variants`, e.g. int8 for WASM):
   * `'auto'` the first built for the backend about to be tried first that passes its gate, else
   * the main model; `'none'` always the main model; a name: that variant if it loads and passes,
   * else the main model. Why a variant was passed over is in `info().runtime`.
   * @defaultValue `'auto'`
   */
  readonly variant?: string;
  /**
   * Workers a batch of at least `SHARD_MIN_ROWS` (8,192) rows is split across, by rows, each with a
   * one-thread onnxruntime-web session of the model (the `wasm` backend only). They start on the
   * first such batch and serve once checked against the worker's own session on its first rows.
   * 0 (or 1) never splits.
   * @defaultValue the device's cores, up to 4; none on one core or in Firefox (`defaultShards()`)
   */
  readonly shards?: number;
}

/** How the workers a runtime splits large batches across stand (`RuntimeOptions.shards`). */
export interface ShardStatus {
  /** Workers a large batch is split across. */
  readonly workers: number;
  /** `idle` until a batch of `minRows` arrives; `off` after a failure (see `reason`), for good. */
  readonly state: 'idle' | 'starting' | 'ready' | 'off';
  readonly minRows: number;
  /** Batches scored by the shards. */
  readonly batches: number;
  readonly reason?: string;
}

/** A runtime's model loaded on one backend; the registry adds `fallbacks`. */
export type LoadedRuntime = Omit<Runtime, 'fallbacks'>;

/** One runtime's entry in the registry (`index.ts`): its backends and its `auto` policy. */
export interface RuntimeProvider {
  readonly name: RuntimeName;
  /** Loads the model on one backend, or throws why it cannot. */
  readonly backends: Readonly<Partial<Record<Backend, (files: RuntimeFiles, options: RuntimeOptions) => Promise<LoadedRuntime>>>>;
  /** The backends `'auto'` tries, in order, for these files on this device. */
  auto(files: RuntimeFiles): Promise<readonly Backend[]>;
  /**
   * Starts what loading a model of `modelBytes` bytes will wait for that needs no model (the
   * runtime's WebAssembly, downloaded and compiled), while the bundle's files are still coming.
   */
  warm?(modelBytes: number, options: RuntimeOptions): Promise<void>;
  /** Set when the app was built without this runtime: what to install, and why it is missing. */
  readonly missing?: { readonly packages: readonly string[]; readonly reason: string };
}

import { ScoringError, describeUnknown } from '../errors/index.js';
import { nestedWorkersWithheld } from '../util/environment.js';
import { webGpuUnavailable } from './device.js';
import type { LoadedRuntime, OutputTensor, RuntimeFiles, RuntimeOptions, RuntimeProvider } from './runtime.js';

/** The WASM and WebGPU builds share one API (and one `types.d.ts`); each has its own `env` and WASM module. */
type Ort = typeof import('onnxruntime-web/wasm');
type OrtBackend = 'webgpu' | 'wasm';

/**
 * Under `auto`, WebGPU is tried first only for a model file of at least this many bytes (4 MiB).
 * Below it WASM wins: the tabular models this library ships (bytes to a few hundred KB, a few
 * thousand multiply-adds per row) finish on the CPU in less time than WebGPU spends on dispatching
 * kernels and reading results back, and the WebGPU build is a second, larger download.
 */
export const WEBGPU_MIN_MODEL_BYTES = 4 * 1024 * 1024;

/** onnxruntime-web, loaded only when a bundle asks for it: `wasm`, or `webgpu` with its own build. */
export const onnxProvider: RuntimeProvider = {
  name: 'onnxruntime-web',
  backends: { webgpu: loadWebGpu, wasm: loadWasm },
  async auto(files) {
    // Size first: a small model never even asks for a GPU adapter.
    if (files.model.byteLength < WEBGPU_MIN_MODEL_BYTES) return ['wasm'];
    return (await webGpuUnavailable()) === undefined ? ['webgpu', 'wasm'] : ['wasm'];
  },
  async warm(modelBytes, options) {
    const first =
      options.backends === undefined || options.backends === 'auto'
        ? modelBytes < WEBGPU_MIN_MODEL_BYTES
          ? 'wasm'
          : undefined
        : options.backends[0];
    if (first !== 'wasm') return;
    warming ??= warmWasm(options);
    await warming;
  },
};

/**
 * The warm-up under way or done. A session waits for it to end before it is created: each session
 * starts a pool of threads, and two pools at once can need more thread workers than the module
 * started with, which it cannot start while a session is being created (a hang, seen in Firefox).
 */
let warming: Promise<void> | undefined;

async function warmWasm(options: RuntimeOptions): Promise<void> {
  const ort = await importBuild('wasm', () => import('onnxruntime-web/wasm'));
  configureEnvironment(ort, options);
  // A session on a one-node model starts the WebAssembly module (download, compile, threads); the
  // bundle's own session then finds it started.
  const session = await ort.InferenceSession.create(WARM_UP_MODEL, { executionProviders: ['wasm'] });
  await session.release();
}

/**
 * An ONNX model with one Identity node (float[1] in, float[1] out; opset 13), serialized with
 * onnx.helper: `warm` creates a session on it to start onnxruntime-web before the bundle's model is in.
 */
const WARM_UP_MODEL = Uint8Array.from(
  atob('CAcSCG9uZGV2aWNlOjoKEAoBeBIBeSIISWRlbnRpdHkSBHdhcm1aDwoBeBIKCggIARIECgIIAWIPCgF5EgoKCAgBEgQKAggBQgQKABAN'),
  (c) => c.charCodeAt(0),
);

/**
 * onnxruntime-web's global settings, read once when its module starts: set once per build (by
 * `warm` or the first session), never again: the module clamps them while it starts (one thread
 * without SharedArrayBuffer), and setting them back midway would start it on threads it cannot have.
 */
function configureEnvironment(ort: Ort, options: RuntimeOptions): { isolated: boolean } {
  const isolated = typeof crossOriginIsolated !== 'undefined' && crossOriginIsolated;
  if (configured.has(ort.env)) return { isolated };
  configured.add(ort.env);
  const cores = typeof navigator !== 'undefined' ? navigator.hardwareConcurrency : 1;
  // Threads only where SharedArrayBuffer exists: asking for more elsewhere makes onnxruntime-web warn.
  ort.env.wasm.numThreads = options.threads ?? (isolated && nestedWorkersWithheld() === undefined ? Math.max(1, Math.min(4, cores)) : 1);
  // Already in a worker: a second proxy worker would only add a hop.
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  return { isolated };
}

const configured = new WeakSet<object>();

async function loadWasm(files: RuntimeFiles, options: RuntimeOptions): Promise<LoadedRuntime> {
  const ort = await importBuild('wasm', () => import('onnxruntime-web/wasm'));
  return createSession(ort, 'wasm', files.model, options);
}

async function loadWebGpu(files: RuntimeFiles, options: RuntimeOptions): Promise<LoadedRuntime> {
  // Checked before the import: a device without WebGPU never downloads the WebGPU build.
  const unavailable = await webGpuUnavailable();
  if (unavailable !== undefined) throw new Error(unavailable);
  // The WebGPU build (its JS and a WASM binary about twice the size of the plain WASM build's) is a
  // separate chunk, fetched only here.
  const ort: Ort = await importBuild('webgpu', () => import('onnxruntime-web/webgpu'));
  return createSession(ort, 'webgpu', files.model, options);
}

async function importBuild(backend: OrtBackend, load: () => Promise<Ort>): Promise<Ort> {
  try {
    return await load();
  } catch (error) {
    throw new Error(`could not load onnxruntime-web's ${backend} build: ${describeUnknown(error)}`);
  }
}

async function createSession(ort: Ort, backend: OrtBackend, model: Uint8Array, options: RuntimeOptions): Promise<LoadedRuntime> {
  await warming?.catch(() => undefined);
  const { isolated } = configureEnvironment(ort, options);

  let session: import('onnxruntime-web/wasm').InferenceSession;
  try {
    session = await ort.InferenceSession.create(model, {
      executionProviders: [backend],
      graphOptimizationLevel: 'all',
      // Outputs are copied back to the CPU (WebGPU's would otherwise stay in GPU buffers).
      preferredOutputLocation: 'cpu',
    });
  } catch (error) {
    throw new Error(`onnxruntime-web could not create a ${backend} session: ${describeUnknown(error)}`);
  }
  // The module clamps the value it was started with: report what it really uses.
  const threads = ort.env.wasm.numThreads ?? 1;
  const limitedBy = threadsLimitedBy(threads, options.threads, isolated);

  // onnxruntime-web runs one call at a time per session: concurrent predict() calls queue here.
  let queue: Promise<unknown> = Promise.resolve();
  return {
    name: 'onnxruntime-web',
    backend,
    threads,
    ...(limitedBy === undefined ? {} : { threadsLimitedBy: limitedBy }),
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(inputs, wanted) {
      const feeds: Record<string, import('onnxruntime-web/wasm').Tensor> = {};
      for (const [name, input] of Object.entries(inputs)) feeds[name] = new ort.Tensor(input.data, [...input.dims]);
      let results: import('onnxruntime-web/wasm').InferenceSession.OnnxValueMapType;
      try {
        // Only the outputs wanted come back (a classifier's int64 labels cost a copy and a BigInt each).
        const run = queue.then(() => (wanted === undefined ? session.run(feeds) : session.run(feeds, wanted)));
        queue = run.catch(() => undefined);
        results = await run;
      } catch (error) {
        throw new ScoringError('SCORING_FAILED', `onnxruntime-web (${backend}) failed to score: ${describeUnknown(error)}`, {
          runtime: 'onnxruntime-web',
        });
      }
      const outputs: Record<string, OutputTensor> = {};
      try {
        for (const [name, tensor] of Object.entries(results)) {
          // CPU data by default; a tensor left on the GPU is downloaded rather than misread.
          const data = tensor.location === 'cpu' || tensor.location === 'cpu-pinned' ? tensor.data : await downloaded(tensor, name);
          outputs[name] = { data: toNumeric(data, name), dims: tensor.dims };
        }
      } finally {
        // Output tensors own WASM-side, GPU or copied memory; release it now, not at garbage collection.
        for (const tensor of Object.values(results)) tensor.dispose();
      }
      return outputs;
    },
    async dispose() {
      await session.release();
    },
  };
}

/** Why the session runs on one thread, when it does: the app asked, or the page or engine lacks SharedArrayBuffer. */
function threadsLimitedBy(threads: number, asked: number | undefined, isolated: boolean): string | undefined {
  if (threads > 1) return undefined;
  if (asked !== undefined) return `the app asked for ${asked} thread${asked === 1 ? '' : 's'}`;
  if (!isolated)
    return 'the page is not cross-origin isolated (Cross-Origin-Opener-Policy same-origin and Cross-Origin-Embedder-Policy require-corp): no SharedArrayBuffer';
  if (typeof SharedArrayBuffer === 'undefined') return 'this engine offers no SharedArrayBuffer, even cross-origin isolated (WebKit)';
  const withheld = nestedWorkersWithheld();
  if (withheld !== undefined) return withheld;
  return 'the device has one core';
}

async function downloaded(tensor: import('onnxruntime-web/wasm').Tensor, name: string): Promise<unknown> {
  try {
    return await tensor.getData();
  } catch (error) {
    throw new ScoringError(
      'SCORING_FAILED',
      `could not read output "${name}" back from the ${tensor.location}: ${describeUnknown(error)}`,
      { output: name },
    );
  }
}

function toNumeric(data: unknown, name: string): OutputTensor['data'] {
  if (
    data instanceof Float32Array ||
    data instanceof Float64Array ||
    data instanceof Int32Array ||
    data instanceof BigInt64Array ||
    data instanceof Int8Array ||
    data instanceof Uint8Array
  )
    return data.slice();
  // float16: a Float16Array where the engine has one, else its bits (onnxruntime-web's Uint16Array).
  const Half = (globalThis as { Float16Array?: abstract new (...args: never[]) => ArrayLike<number> }).Float16Array;
  if (Half !== undefined && data instanceof Half) return Float32Array.from(data);
  if (data instanceof Uint16Array) return halfToFloat32(data);
  throw new ScoringError('SCORING_FAILED', `model output "${name}" has a type this library does not read`, { output: name });
}

/** float16 bits as float32 values (IEEE 754 half precision: 1 sign, 5 exponent, 10 fraction bits). */
function halfToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i]!;
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) out[i] = sign * 2 ** -14 * (fraction / 1024);
    else if (exponent === 31) out[i] = fraction === 0 ? sign * Infinity : NaN;
    else out[i] = sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }
  return out;
}

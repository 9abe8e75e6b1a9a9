import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModel } from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { InputError, ScoringError, describeUnknown } from '../errors/index.js';
import { runtimeEnvironment } from './environment.js';
import type { LoadedRuntime, OutputTensor, RuntimeFiles, TensorData, RuntimeProvider } from './runtime.js';
import { isGraphModel, readTfjsModelJson, weightBuffers, withOutputAliases, type TfjsModelJson } from './tfjs-files.js';
import { planBackends, registerGpuBackend, type TfjsBackend } from './tfjs-gpu.js';
import { loadGraph } from './tfjs-graph.js';

/** Why `wasm` failed in this worker: its module cannot start twice, so a second attempt is not made. */
let wasmFailure: string | undefined;

/**
 * TensorFlow.js: a layers model or a graph model (tfjs-converter's `model.json` and its weight
 * shards, or one joined weights file) loaded from memory, from bytes the bundle already verified.
 * Loaded only for bundles that ask for it.
 *
 * `auto` (`planBackends`): WebGPU, then WebGL 2, for a convolutional network or a model of 4 MiB of
 * weights or more where the device has a GPU; WASM otherwise (a small dense model loses more to
 * uploading inputs and reading results back than a GPU saves); the CPU backend last. Why is in
 * `Runtime.backendReason` (`info().runtime.backendReason`). The GPU backends are chunks of their own,
 * fetched only when tried.
 */
export const tfjsProvider: RuntimeProvider = {
  name: 'tensorflow-js',
  backends: {
    webgpu: (files) => loadOn('webgpu', files),
    webgl: (files) => loadOn('webgl', files),
    wasm: (files) => loadOn('wasm', files),
    cpu: (files) => loadOn('cpu', files),
  },
  async auto(files) {
    const plan = await planBackends(files, liveBackend());
    planned.set(files.model, plan.reason);
    return plan.backends;
  },
  async warm(_modelBytes, options) {
    const first = options.backends === undefined || options.backends === 'auto' ? 'wasm' : options.backends[0];
    if (first === 'wasm') await startWasm();
  },
};

let wasmStart: Promise<void> | undefined;

/** The wasm backend started once per worker: `warm` and the first model's load share one start. */
function startWasm(): Promise<void> {
  // A failed start is asked again: useBackend then says at once that it is not retried.
  wasmStart ??= useBackend('wasm').catch((error: unknown) => {
    wasmStart = undefined;
    throw error;
  });
  return wasmStart;
}

/** Why `auto` ordered the backends as it did, by the model bytes it planned for. */
const planned = new WeakMap<Uint8Array, string>();

/** Models loaded in this worker and not yet disposed, by backend: TensorFlow.js has one backend at a time. */
const live = new Map<TfjsBackend, number>();

function liveBackend(): TfjsBackend | undefined {
  for (const [backend, count] of live) if (count > 0) return backend;
  return undefined;
}

/**
 * Makes `backend` TensorFlow.js's backend. The backend is global to the worker: every model loaded
 * here scores on the last one set (TensorFlow.js moves a tensor's data when another backend reads it).
 */
async function useBackend(backend: TfjsBackend): Promise<void> {
  if (backend === 'webgpu' || backend === 'webgl') await registerGpuBackend(backend);
  if (backend === 'wasm') {
    if (wasmFailure !== undefined) throw new Error(`${wasmFailure} (on the first attempt in this worker; not retried)`);
    try {
      const prepare = runtimeEnvironment.prepareTfjsWasm;
      if (prepare === undefined) (await import('./tfjs-wasm.js')).prepareWasmBackend();
      else await prepare();
    } catch (error) {
      throw new Error(`could not load TensorFlow.js's wasm backend: ${describeUnknown(error)}`);
    }
  }
  const { ok, logged } = await setBackendQuietly(backend);
  // A GPU that renders float16 only would miss the gate's tolerance: the next backend serves instead.
  if (ok && backend === 'webgl' && !tf.env().getBool('WEBGL_RENDER_FLOAT32_CAPABLE'))
    throw new Error('this GPU renders float16 only in WebGL: results would be less precise than the gate allows');
  if (ok) return;
  // The first line logged is the cause (e.g. the .wasm file that could not be fetched); the rest repeat it.
  const cause = logged[0] === undefined ? '' : `: ${logged[0].length > 300 ? `${logged[0].slice(0, 300)}…` : logged[0]}`;
  const reason = `tf.setBackend('${backend}') failed${cause}`;
  if (backend === 'wasm') wasmFailure = reason;
  throw new Error(reason);
}

/**
 * `tf.setBackend`, which reports a failed start only by returning false and logging why: the log is
 * kept as the failure's reason instead of reaching the console (and is passed on if the backend starts).
 */
async function setBackendQuietly(backend: TfjsBackend): Promise<{ ok: boolean; logged: string[] }> {
  const logged: string[] = [];
  const { warn, error } = console;
  const keep = (...parts: unknown[]): void =>
    void logged.push(parts.map((part) => (part instanceof Error ? part.message : String(part))).join(' '));
  console.warn = keep;
  console.error = keep;
  let ok = false;
  try {
    ok = await tf.setBackend(backend);
  } catch (thrown) {
    logged.push(describeUnknown(thrown));
  } finally {
    console.warn = warn;
    console.error = error;
  }
  if (ok) for (const line of logged) warn(line);
  return { ok, logged: logged.map((line) => line.split('\n')[0]!.trim()).filter((line) => line.length > 0) };
}

/**
 * The model on `backend`: `model.json` and its weights checked against each other first (shards,
 * bytes), so a wrong file fails with what is wrong instead of TensorFlow.js's message about it.
 */
async function loadOn(backend: TfjsBackend, files: RuntimeFiles): Promise<LoadedRuntime> {
  if (backend === 'wasm') await startWasm();
  await useBackend(backend);
  let json: TfjsModelJson;
  let weightData: ArrayBuffer;
  try {
    json = readTfjsModelJson(files.model);
    weightData = weightBuffers(json, files);
  } catch (error) {
    throw new Error(`TensorFlow.js could not load the model: ${describeUnknown(error)}`);
  }
  const loaded = isGraphModel(json) ? await loadGraph(json, weightData, backend) : await loadLayers(json, weightData, backend);
  let runtime: LoadedRuntime;
  try {
    runtime = withOutputAliases(loaded, files.outputAliases);
  } catch (error) {
    await loaded.dispose();
    throw error;
  }
  live.set(backend, (live.get(backend) ?? 0) + 1);
  let disposed = false;
  return {
    ...runtime,
    backendReason: planned.get(files.model) ?? `the app asked for ${backend}`,
    async dispose() {
      if (!disposed) live.set(backend, (live.get(backend) ?? 1) - 1);
      disposed = true;
      await runtime.dispose();
    },
  };
}

async function loadLayers(json: TfjsModelJson, weightData: ArrayBuffer, backend: TfjsBackend): Promise<LoadedRuntime> {
  let model: Awaited<ReturnType<typeof loadLayersModel>>;
  try {
    model = await loadLayersModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology as tf.io.ModelJSON['modelTopology'],
        weightSpecs: json.weightsManifest.flatMap((group) => group.weights) as tf.io.WeightsManifestEntry[],
        weightData,
      }),
    );
  } catch (error) {
    throw new Error(`TensorFlow.js could not load the model: ${describeUnknown(error)}`);
  }

  // Named after their layers: a Sequential model reports no inputNames/outputNames of its own.
  const inputNames = model.inputs.map((input) => input.sourceLayer.name);
  const outputNames = model.outputs.map((output) => output.sourceLayer.name);
  return {
    name: 'tensorflow-js',
    backend,
    threads: 1,
    inputNames,
    outputNames,
    async run(inputs, wanted) {
      const outputs: Record<string, OutputTensor> = {};
      try {
        // tidy() disposes every intermediate tensor; only the outputs' data leave it.
        const results = tf.tidy(() => {
          const feeds = inputNames.map((name) => {
            const input = inputs[name]!;
            return tf.tensor(tfjsData(name, input.data), [...input.dims]);
          });
          // One pass over the whole batch: predict()'s default batchSize of 32 makes 100k rows 800x slower.
          const rows = feeds[0]?.shape[0] ?? 1;
          const predicted = model.predict(feeds.length === 1 ? feeds[0]! : feeds, { batchSize: Math.max(1, rows) });
          return (Array.isArray(predicted) ? predicted : [predicted]).map((t) => ({
            data: t.dataSync() as Float32Array | Int32Array,
            dims: t.shape,
          }));
        });
        results.forEach((result, i) => {
          const name = outputNames[i]!;
          if (wanted === undefined || wanted.includes(name)) outputs[name] = { data: result.data.slice(), dims: result.dims };
        });
      } catch (error) {
        throw new ScoringError('SCORING_FAILED', `TensorFlow.js (${backend}) failed to score: ${describeUnknown(error)}`, {
          runtime: 'tensorflow-js',
        });
      }
      return outputs;
    },
    liveTensors: () => tf.memory().numTensors,
    async dispose() {
      model.dispose();
    },
  };
}

/** TensorFlow.js takes float32, int32 and bool (as a Uint8Array): float64 is narrowed, other types refused by name. */
function tfjsData(name: string, data: TensorData): Float32Array | Int32Array | Uint8Array {
  if (data instanceof Float64Array) return Float32Array.from(data);
  if (data instanceof Float32Array || data instanceof Int32Array || data instanceof Uint8Array) return data;
  throw new InputError('TENSOR_DTYPE', `input "${name}" is a ${data.constructor.name}: TensorFlow.js takes float32, int32 and bool`, {
    field: name,
    actual: data.constructor.name,
  });
}

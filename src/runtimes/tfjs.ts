import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModel } from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { ScoringError, describeUnknown } from '../errors/index.js';
import { runtimeEnvironment } from './environment.js';
import type { Backend, LoadedRuntime, OutputTensor, RuntimeFiles, RuntimeProvider } from './runtime.js';

interface LayersModelJson {
  readonly modelTopology: tf.io.ModelJSON['modelTopology'];
  readonly weightsManifest: readonly { readonly paths: readonly string[]; readonly weights: readonly tf.io.WeightsManifestEntry[] }[];
}

type TfjsBackend = 'wasm' | 'cpu';

/** Why `wasm` failed in this worker: its module cannot start twice, so a second attempt is not made. */
let wasmFailure: string | undefined;

/**
 * TensorFlow.js: a layers model (`model.json` + one weights file) loaded from memory, from bytes the
 * bundle already verified. Loaded only for bundles that ask for it.
 *
 * WebGL and WebGPU are not shipped: the dense models TensorFlow.js bundles carry (tens of thousands
 * of weights) lose to the cost of uploading inputs and reading results back, and each backend is
 * another large download. Asking for them is a recorded failure, and the next backend is tried.
 */
export const tfjsProvider: RuntimeProvider = {
  name: 'tensorflow-js',
  backends: {
    webgpu: notShipped('webgpu'),
    webgl: notShipped('webgl'),
    wasm: (files) => loadOn('wasm', files),
    cpu: (files) => loadOn('cpu', files),
  },
  async auto() {
    return ['wasm', 'cpu'];
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

function notShipped(backend: Backend): () => Promise<never> {
  return async () => {
    throw new Error(
      `TensorFlow.js's ${backend} backend is not included in this build (tiny dense models lose to its transfer overhead; use wasm or cpu)`,
    );
  };
}

/**
 * Makes `backend` TensorFlow.js's backend. The backend is global to the worker: every model loaded
 * here scores on the last one set (TensorFlow.js moves a tensor's data when another backend reads it).
 */
async function useBackend(backend: TfjsBackend): Promise<void> {
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

async function loadOn(backend: TfjsBackend, files: RuntimeFiles): Promise<LoadedRuntime> {
  if (backend === 'wasm') await startWasm();
  await useBackend(backend);
  let model: Awaited<ReturnType<typeof loadLayersModel>>;
  try {
    const artifacts = JSON.parse(new TextDecoder().decode(files.model)) as LayersModelJson;
    const weightData = files.weights === undefined ? new ArrayBuffer(0) : files.weights.slice().buffer;
    model = await loadLayersModel(
      tf.io.fromMemory({
        modelTopology: artifacts.modelTopology,
        weightSpecs: artifacts.weightsManifest.flatMap((group) => group.weights),
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
            return tf.tensor(input.data instanceof Float64Array ? Float32Array.from(input.data) : input.data, [...input.dims]);
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

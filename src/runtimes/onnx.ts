import { ScoringError, describeUnknown } from '../errors/index.js';
import type { InputTensor, OutputTensor, Runtime } from './runtime.js';

export interface OnnxOptions {
  /** Threads for the WASM backend. Default: up to 4 when the page is cross-origin isolated, else 1 (threads need SharedArrayBuffer). */
  readonly threads?: number;
}

/** onnxruntime-web on its WASM backend, loaded only when a bundle asks for it. */
export async function createOnnxRuntime(model: Uint8Array, options: OnnxOptions = {}): Promise<Runtime> {
  let ort: typeof import('onnxruntime-web/wasm');
  try {
    ort = await import('onnxruntime-web/wasm');
  } catch (error) {
    throw new ScoringError('RUNTIME_LOAD_FAILED', `could not load onnxruntime-web: ${describeUnknown(error)}`, { runtime: 'onnxruntime-web' });
  }
  const isolated = typeof crossOriginIsolated !== 'undefined' && crossOriginIsolated;
  const cores = typeof navigator !== 'undefined' ? navigator.hardwareConcurrency : 1;
  const threads = options.threads ?? (isolated ? Math.max(1, Math.min(4, cores)) : 1);
  ort.env.wasm.numThreads = threads;
  // Already in a worker: a second proxy worker would only add a hop.
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';

  let session: import('onnxruntime-web/wasm').InferenceSession;
  // onnxruntime-web runs one call at a time per session: concurrent predict() calls queue here.
  let queue: Promise<unknown> = Promise.resolve();
  try {
    session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  } catch (error) {
    throw new ScoringError('RUNTIME_LOAD_FAILED', `onnxruntime-web could not load the model: ${describeUnknown(error)}`, { runtime: 'onnxruntime-web' });
  }

  return {
    name: 'onnxruntime-web',
    backend: 'wasm',
    threads,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(inputs) {
      const feeds: Record<string, import('onnxruntime-web/wasm').Tensor> = {};
      for (const [name, input] of Object.entries(inputs)) feeds[name] = new ort.Tensor(input.data, [...input.dims]);
      let results: import('onnxruntime-web/wasm').InferenceSession.OnnxValueMapType;
      try {
        const run = queue.then(() => session.run(feeds));
        queue = run.catch(() => undefined);
        results = await run;
      } catch (error) {
        throw new ScoringError('SCORING_FAILED', `onnxruntime-web failed to score: ${describeUnknown(error)}`, { runtime: 'onnxruntime-web' });
      }
      const outputs: Record<string, OutputTensor> = {};
      for (const [name, tensor] of Object.entries(results)) {
        outputs[name] = { data: toNumeric(tensor.data, name), dims: tensor.dims };
        // Output tensors own WASM-side or copied memory; release it now, not at garbage collection.
        tensor.dispose();
      }
      return outputs;
    },
    async dispose() {
      await session.release();
    },
  };
}

function toNumeric(data: unknown, name: string): OutputTensor['data'] {
  if (data instanceof Float32Array || data instanceof Float64Array || data instanceof Int32Array) return data.slice();
  if (data instanceof BigInt64Array) return Float64Array.from(data, Number);
  throw new ScoringError('SCORING_FAILED', `model output "${name}" has a type this library does not read`, { output: name });
}


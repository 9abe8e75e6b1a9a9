import type { RivalId } from '../../protocol.js';
import { rowOf, type FeatureArray, type Rival, type RivalInit } from './rival.js';

export type Ort = typeof import('onnxruntime-web/wasm');

/**
 * A raw onnxruntime-web session, as an app would use it without ondevice: `session.run` on a tensor
 * made from a ready feature matrix. `ort` is the module instance to use: the main-thread rival and
 * the proxy rival each have their own (see ORT_PROXY_INSTANCE in bench/vite.config.ts).
 */
export async function createOrtRival(id: Extract<RivalId, 'ort-main' | 'ort-proxy'>, ort: Ort, init: RivalInit): Promise<Rival> {
  const proxy = id === 'ort-proxy';
  ort.env.wasm.numThreads = init.threads;
  ort.env.wasm.proxy = proxy;
  ort.env.logLevel = 'error';
  // The proxy worker is handed the model's buffer (transferred): give it a copy, keep ours.
  const session = await ort.InferenceSession.create(init.model.slice(), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const input = session.inputNames[0]!;
  const { width, features, output } = init;
  // Main thread: one tensor per row, made once (the rival is "session.run on a ready tensor"). The
  // proxy transfers every input buffer to its worker, so it needs a fresh copy of the row per call.
  const ready = proxy
    ? []
    : Array.from({ length: features.length / width }, (_, r) => new ort.Tensor(rowOf(features, width, r), [1, width]));
  const run = async (tensor: InstanceType<Ort['Tensor']>): Promise<ArrayLike<number>> => {
    const results = await session.run({ [input]: tensor });
    const data = results[output]?.data;
    if (!(data instanceof Float32Array || data instanceof Float64Array)) throw new Error(`${id}: output ${output} is not float`);
    return data;
  };
  return {
    id,
    consumes: proxy,
    one: (r) => run(proxy ? new ort.Tensor(rowOf(features, width, r).slice(), [1, width]) : ready[r]!),
    many: (matrix: FeatureArray, rows: number) => run(new ort.Tensor(matrix, [rows, width])),
    dispose: () => session.release(),
  };
}

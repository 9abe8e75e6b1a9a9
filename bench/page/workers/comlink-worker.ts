// (e) A plain comlink worker around a raw onnxruntime-web session: one row per call, no batching,
// nothing transferred (comlink's defaults). Also answers a no-op and an echo, to time the round trip.
import * as Comlink from 'comlink';
import type { InferenceSession } from 'onnxruntime-web/wasm';

// On demand, in a chunk of its own: onnxruntime-web starts its threads from the script that holds it,
// and this file, inlined, would expose comlink in each of them (see ort-worker.ts).
const ortModule = import('onnxruntime-web/wasm');

let session: InferenceSession | undefined;
let input = '';
let output = '';

const api = {
  async init(model: Uint8Array, threads: number, outputName: string): Promise<void> {
    const ort = await ortModule;
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.proxy = false;
    ort.env.logLevel = 'error';
    session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    input = session.inputNames[0]!;
    output = outputName;
  },
  async score(row: Float32Array | Float64Array): Promise<Float32Array | Float64Array> {
    const ort = await ortModule;
    const results = await session!.run({ [input]: new ort.Tensor(row, [1, row.length]) });
    const data = results[output]?.data;
    if (!(data instanceof Float32Array || data instanceof Float64Array)) throw new Error(`output ${output} is not float`);
    return data;
  },
  noop(): void {},
  echo(value: unknown): unknown {
    return value;
  },
};

export type ComlinkRivalApi = typeof api;
Comlink.expose(api);

// A shard: one worker holding a one-thread onnxruntime-web session of the model, scoring the rows
// the ondevice worker sends it (shards.ts). Started by that worker, never by the page.
import * as Comlink from 'comlink';
import { onnxProvider } from './onnx.js';
import type { Inputs, ShardAnswer } from './shards.js';
import type { LoadedRuntime } from './runtime.js';

let runtime: LoadedRuntime | undefined;

const api = {
  async init(model: Uint8Array): Promise<void> {
    // One thread (the pool is the parallelism) and no shards of its own.
    runtime = await onnxProvider.backends.wasm!({ model }, { threads: 1, shards: 0 });
  },
  async run(inputs: Inputs, wanted: readonly string[] | undefined): Promise<ShardAnswer> {
    if (runtime === undefined) throw new Error('the shard has no model');
    const outputs = await runtime.run(inputs, wanted);
    // The outputs are the shard's own copies, and the inputs go back to be written again: all transferred, not cloned.
    const buffers = new Set([...Object.values(outputs), ...Object.values(inputs)].map((tensor) => tensor.data.buffer as ArrayBuffer));
    return Comlink.transfer({ outputs, inputs }, [...buffers]);
  },
};

export type ShardWorkerApi = typeof api;

Comlink.expose(api);

// A shard worker's service: one onnxruntime-web session on one thread and the feature transform,
// scoring the rows the ondevice worker sends it (scoring/shards.ts). Loaded by shard-entry.ts.
import * as Comlink from 'comlink';
import { parseJsonBytes } from '../bundle/index.js';
import { compileFeatureSpec, parseFeatureSpec } from '../features/index.js';
import { createRuntimeWith, type OutputTensor, type Runtime } from '../runtimes/index.js';
// onnxruntime-web's provider alone: a shard never runs TensorFlow.js, so its chunk stays out.
import { onnxProvider } from '../runtimes/onnx.js';
import { createScorer, type Scorer, type ShardColumn, type ShardColumns, type ShardInit, type ShardInputs } from '../scoring/index.js';
import { exposeOnce } from './expose.js';
import type { HeldMessages } from './held-messages.js';

let served: { runtime: Runtime; scorer: Scorer } | undefined;

const ready = (): { runtime: Runtime; scorer: Scorer } => {
  if (served === undefined) throw new Error('the shard has no model');
  return served;
};

/** Every buffer once: a transfer list may not name one twice. */
const buffersOf = (views: readonly ArrayBufferView[]): ArrayBuffer[] => [...new Set(views.map((view) => view.buffer as ArrayBuffer))];
const codesOrValues = (column: ShardColumn): ArrayBufferView => (column instanceof Float64Array ? column : column.codes);

const api = {
  async init(init: ShardInit): Promise<void> {
    const transform = compileFeatureSpec(parseFeatureSpec(parseJsonBytes(init.featureSpec, 'feature-spec.json')));
    // One thread: the shards are the parallelism.
    const runtime = await createRuntimeWith(onnxProvider, { model: init.model }, { backends: ['wasm'], threads: 1 });
    served = { runtime, scorer: createScorer(transform, runtime, init.task) };
  },
  async run(
    inputs: ShardInputs,
    wanted: readonly string[] | undefined,
  ): Promise<{ outputs: Record<string, OutputTensor>; inputs: ShardInputs }> {
    const outputs = await ready().runtime.run(inputs, wanted);
    const views = [...Object.values(outputs).map((tensor) => tensor.data), ...Object.values(inputs).map((tensor) => tensor.data)];
    return Comlink.transfer({ outputs, inputs }, buffersOf(views));
  },
  async scoreColumns(columns: ShardColumns): Promise<{ outputs: Record<string, OutputTensor>; columns: ShardColumns }> {
    const batch = await ready().scorer.scoreColumns(columns, { keepFeatures: false });
    const outputs = { ...batch.outputs };
    const views = [...Object.values(outputs).map((tensor) => tensor.data), ...Object.values(columns).map(codesOrValues)];
    return Comlink.transfer({ outputs, columns }, buffersOf(views));
  },
};

export type ShardApi = typeof api;

/** Starts the shard's service; a refused value reaches the ondevice worker as the InputError it is. */
export function serve(held: HeldMessages): void {
  exposeOnce(api, held);
}

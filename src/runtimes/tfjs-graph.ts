import * as tf from '@tensorflow/tfjs-core';
import { InputError, ScoringError, describeUnknown } from '../errors/index.js';
import type { InputTensor, LoadedRuntime, OutputTensor, TensorData } from './runtime.js';
import type { TfjsModelJson } from './tfjs-files.js';

type GraphModel = import('@tensorflow/tfjs-converter').GraphModel;

/**
 * A graph model (tfjs-converter's `format: "graph-model"`), loaded from memory with
 * `@tensorflow/tfjs-converter` (imported here only: a layers-only app never runs it). Its inputs are
 * fed by name (a single-input model by position too); its outputs are named as the model's
 * signature names them (e.g. `Identity:0`, `StatefulPartitionedCall:0`).
 */
export async function loadGraph(json: TfjsModelJson, weightData: ArrayBuffer, backend: string): Promise<LoadedRuntime> {
  let model: GraphModel;
  try {
    const { loadGraphModel } = await import('@tensorflow/tfjs-converter');
    model = await loadGraphModel(tf.io.fromMemory(graphArtifacts(json, weightData)));
  } catch (error) {
    throw new Error(`TensorFlow.js could not load the graph model: ${describeUnknown(error)}`);
  }
  const inputNames = model.inputs.map((input) => input.name);
  const outputNames = [...model.outputNodes];
  // execute() where the graph allows it (no control flow or dynamic shapes); executeAsync() where not.
  let asynchronous = false;
  const run = async (inputs: Readonly<Record<string, InputTensor>>, wanted: readonly string[]): Promise<Record<string, OutputTensor>> => {
    const feeds = feedsOf(inputNames, inputs);
    try {
      let results: tf.Tensor | tf.Tensor[] | undefined;
      if (!asynchronous) {
        try {
          // tidy() disposes every intermediate tensor; the outputs it returns are disposed below.
          results = tf.tidy(() => model.execute(feeds, [...wanted]));
        } catch (error) {
          if (!describeUnknown(error).includes('executeAsync')) throw error;
          asynchronous = true;
        }
      }
      results ??= await model.executeAsync(feeds, [...wanted]);
      try {
        return await readOutputs(wanted, results, backend);
      } finally {
        tf.dispose(results);
      }
    } finally {
      tf.dispose(Object.values(feeds));
    }
  };
  return {
    name: 'tensorflow-js',
    backend,
    threads: 1,
    inputNames,
    outputNames,
    async run(inputs, wanted) {
      try {
        return await run(inputs, wanted ?? outputNames);
      } catch (error) {
        if (error instanceof InputError) throw error;
        throw new ScoringError('SCORING_FAILED', `TensorFlow.js (${backend}) failed to score: ${describeUnknown(error)}`, {
          runtime: 'tensorflow-js',
        });
      }
    },
    liveTensors: () => tf.memory().numTensors,
    async dispose() {
      model.dispose();
    },
  };
}

/** What `tf.io.fromMemory` takes of a graph model's `model.json`, with the weights (one buffer per shard). */
function graphArtifacts(json: TfjsModelJson, weightData: ArrayBuffer): tf.io.ModelArtifacts {
  const signature = json.signature ?? json.userDefinedMetadata?.signature;
  return {
    modelTopology: json.modelTopology as NonNullable<tf.io.ModelArtifacts['modelTopology']>,
    format: 'graph-model',
    weightSpecs: json.weightsManifest.flatMap((group) => group.weights) as tf.io.WeightsManifestEntry[],
    weightData,
    ...(signature === undefined ? {} : { signature: signature as object }),
    ...(json.userDefinedMetadata === undefined ? {} : { userDefinedMetadata: json.userDefinedMetadata as Record<string, object> }),
    ...(json.modelInitializer === undefined ? {} : { modelInitializer: json.modelInitializer as object }),
  };
}

/** One tensor per model input, by name; a single-input model takes the one input whatever it is called. */
function feedsOf(inputNames: readonly string[], inputs: Readonly<Record<string, InputTensor>>): Record<string, tf.Tensor> {
  const given = Object.keys(inputs);
  const feeds: Record<string, tf.Tensor> = {};
  for (const name of inputNames) {
    const input = inputs[name] ?? (inputNames.length === 1 && given.length === 1 ? inputs[given[0]!] : undefined);
    if (input === undefined) {
      tf.dispose(Object.values(feeds));
      throw new InputError('MISSING_FIELD', `the model's input "${name}" is not fed (given: ${given.join(', ') || 'none'})`, {
        field: name,
      });
    }
    feeds[name] = tf.tensor(graphData(name, input.data), [...input.dims]);
  }
  return feeds;
}

/** The outputs' values: read synchronously on the CPU-side backends, awaited on WebGPU (whose synchronous read stalls and warns). */
async function readOutputs(
  wanted: readonly string[],
  results: tf.Tensor | tf.Tensor[],
  backend: string,
): Promise<Record<string, OutputTensor>> {
  const list = Array.isArray(results) ? results : [results];
  const outputs: Record<string, OutputTensor> = {};
  for (const [i, name] of wanted.entries()) {
    const tensor = list[i]!;
    const data = backend === 'webgpu' ? await tensor.data() : tensor.dataSync();
    outputs[name] = { data: (data as Float32Array | Int32Array | Uint8Array).slice(), dims: tensor.shape };
  }
  return outputs;
}

/** A graph model takes float32, int32 and bool (a Uint8Array); float64 is narrowed, int64 within int32's range narrowed, others refused. */
function graphData(name: string, data: TensorData): Float32Array | Int32Array | Uint8Array {
  if (data instanceof Float64Array) return Float32Array.from(data);
  if (data instanceof Float32Array || data instanceof Int32Array || data instanceof Uint8Array) return data;
  if (data instanceof BigInt64Array && data.every((v) => v >= -(2n ** 31n) && v < 2n ** 31n)) return Int32Array.from(data, Number);
  throw new InputError('TENSOR_DTYPE', `input "${name}" is a ${data.constructor.name}: TensorFlow.js takes float32, int32 and bool`, {
    field: name,
    actual: data.constructor.name,
  });
}

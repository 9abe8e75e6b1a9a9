import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModel } from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { ScoringError, describeUnknown } from '../errors/index.js';
import type { OutputTensor, Runtime } from './runtime.js';

interface LayersModelJson {
  readonly modelTopology: tf.io.ModelJSON['modelTopology'];
  readonly weightsManifest: readonly { readonly paths: readonly string[]; readonly weights: readonly tf.io.WeightsManifestEntry[] }[];
}

/**
 * TensorFlow.js on its CPU backend: a layers model (`model.json` + one weights file) loaded from
 * memory, from bytes the bundle already verified. Loaded only for bundles that ask for it.
 */
export async function createTfjsRuntime(modelJson: Uint8Array, weights: Uint8Array | undefined): Promise<Runtime> {
  let model: Awaited<ReturnType<typeof loadLayersModel>>;
  try {
    await tf.setBackend('cpu');
    const artifacts = JSON.parse(new TextDecoder().decode(modelJson)) as LayersModelJson;
    const weightData = weights === undefined ? new ArrayBuffer(0) : weights.slice().buffer;
    model = await loadLayersModel(
      tf.io.fromMemory({ modelTopology: artifacts.modelTopology, weightSpecs: artifacts.weightsManifest.flatMap((group) => group.weights), weightData }),
    );
  } catch (error) {
    throw new ScoringError('RUNTIME_LOAD_FAILED', `TensorFlow.js could not load the model: ${describeUnknown(error)}`, { runtime: 'tensorflow-js' });
  }

  // Named after their layers: a Sequential model reports no inputNames/outputNames of its own.
  const inputNames = model.inputs.map((input) => input.sourceLayer.name);
  const outputNames = model.outputs.map((output) => output.sourceLayer.name);
  return {
    name: 'tensorflow-js',
    backend: tf.getBackend(),
    threads: 1,
    inputNames,
    outputNames,
    async run(inputs) {
      const outputs: Record<string, OutputTensor> = {};
      try {
        // tidy() disposes every intermediate tensor; only the outputs' data leave it.
        const results = tf.tidy(() => {
          const feeds = inputNames.map((name) => {
            const input = inputs[name]!;
            return tf.tensor(input.data instanceof Float64Array ? Float32Array.from(input.data) : input.data, [...input.dims]);
          });
          const predicted = model.predict(feeds.length === 1 ? feeds[0]! : feeds);
          return (Array.isArray(predicted) ? predicted : [predicted]).map((t) => ({ data: t.dataSync() as Float32Array | Int32Array, dims: t.shape }));
        });
        results.forEach((result, i) => (outputs[outputNames[i]!] = { data: result.data.slice(), dims: result.dims }));
      } catch (error) {
        throw new ScoringError('SCORING_FAILED', `TensorFlow.js failed to score: ${describeUnknown(error)}`, { runtime: 'tensorflow-js' });
      }
      return outputs;
    },
    async dispose() {
      model.dispose();
    },
  };
}

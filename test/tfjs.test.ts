import * as tf from '@tensorflow/tfjs-core';
import { sequential, layers } from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { compileFeatureSpec, parseFeatureSpec } from '../src/features/index.js';
import { createRuntime } from '../src/runtimes/index.js';
import { createScorer } from '../src/scoring/index.js';

/** A real TensorFlow.js layers model saved to the files a bundle carries: model.json + weights.bin. */
async function savedModel(): Promise<{ modelJson: Uint8Array; weights: Uint8Array }> {
  await tf.setBackend('cpu');
  const model = sequential({
    layers: [layers.dense({ units: 2, inputShape: [3], activation: 'relu', name: 'hidden' }), layers.dense({ units: 1, name: 'out' })],
  });
  model.setWeights([
    tf.tensor2d([
      [1, 0],
      [0, 1],
      [1, 1],
    ]),
    tf.tensor1d([0, -1]),
    tf.tensor2d([[0.5], [0.25]]),
    tf.tensor1d([1]),
  ]);
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(
      async (saved) => ((artifacts = saved), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }),
    ),
  );
  const modelJson = {
    modelTopology: artifacts!.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: artifacts!.weightSpecs }],
  };
  const data = artifacts!.weightData as ArrayBuffer;
  return { modelJson: new TextEncoder().encode(JSON.stringify(modelJson)), weights: new Uint8Array(data) };
}

describe('TensorFlow.js runtime', () => {
  it('loads a layers model from bundle bytes and scores a batch, behind the Runtime interface', async () => {
    const { modelJson, weights } = await savedModel();
    // The CPU backend, named: `auto` would try wasm first, which Node cannot fetch (test/runtimes.test.ts covers that).
    const runtime = await createRuntime('tensorflow-js', { model: modelJson, weights }, { backends: ['cpu'] });
    expect(runtime).toMatchObject({ name: 'tensorflow-js', backend: 'cpu', outputNames: ['out'], fallbacks: [] });
    const outputs = await runtime.run({ [runtime.inputNames[0]!]: { data: new Float32Array([1, 2, 3, 0, 0, 0]), dims: [2, 3] } });
    // hidden = relu([1+3, 2+3-1]) = [4, 4] -> 0.5*4 + 0.25*4 + 1 = 4; zeros -> relu([0, -1]) = [0, 0] -> 1
    expect([...outputs.out!.data]).toEqual([4, 1]);
    expect(outputs.out!.dims).toEqual([2, 1]);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) await runtime.run({ [runtime.inputNames[0]!]: { data: new Float32Array(3), dims: [1, 3] } });
    expect(tf.memory().numTensors).toBe(before);
    await runtime.dispose();
  });

  it('feeds a single-input model by position and applies the task’s inverse (expm1) to regression outputs', async () => {
    const { modelJson, weights } = await savedModel();
    const runtime = await createRuntime('tensorflow-js', { model: modelJson, weights }, { backends: ['cpu'] });
    const spec = parseFeatureSpec({
      format: 'ondevice/feature-spec',
      formatVersion: 1,
      name: 't',
      version: '1',
      fields: [
        { name: 'a', type: 'number' },
        { name: 'b', type: 'number' },
        { name: 'c', type: 'number' },
      ],
      features: [
        { field: 'a', steps: [] },
        { field: 'b', steps: [] },
        { field: 'c', steps: [] },
      ],
      output: { input: 'features', dtype: 'float32' },
    });
    const scorer = createScorer(compileFeatureSpec(spec), runtime, { kind: 'regression', value: 'out', inverse: 'expm1' });
    const predictions = scorer.predictions(await scorer.score([{ a: 1, b: 2, c: 3 }]));
    expect(predictions).toEqual([{ kind: 'regression', value: Math.expm1(4) }]);
    await runtime.dispose();
  });
});

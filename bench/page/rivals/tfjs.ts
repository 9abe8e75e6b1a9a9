import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModel, type LayersModel } from '@tensorflow/tfjs-layers';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import simdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import threadedSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import type { Rival } from './rival.js';
import { rowOf } from './rival.js';

/**
 * (d) TensorFlow.js on its WASM backend on the main thread, loading the bundle's model.json and
 * weights.bin itself. Single-threaded on purpose (WASM_HAS_MULTITHREAD_SUPPORT off): the threaded
 * build needs its own worker script that Vite does not emit.
 */
export async function createTfjsRival(modelJsonUrl: string, features: Float32Array, width: number): Promise<Rival> {
  setWasmPaths({
    'tfjs-backend-wasm.wasm': wasmUrl,
    'tfjs-backend-wasm-simd.wasm': simdUrl,
    'tfjs-backend-wasm-threaded-simd.wasm': threadedSimdUrl,
  });
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  if (!(await tf.setBackend('wasm'))) throw new Error('TensorFlow.js: the wasm backend did not start');
  await tf.ready();
  const model: LayersModel = await loadLayersModel(modelJsonUrl);
  const run = async (data: Float32Array, rows: number): Promise<ArrayLike<number>> => {
    const input = tf.tensor2d(data, [rows, width]);
    // One batch of all the rows: predict()'s default batchSize of 32 splits a 100k-row input into 3,125
    // slices and concatenates the results, which costs far more than the model (see bench/README.md).
    const output = model.predict(input, { batchSize: rows }) as tf.Tensor;
    const values = (await output.data()) as Float32Array;
    tf.dispose([input, output]);
    return values;
  };
  return {
    id: 'tfjs-wasm',
    consumes: false,
    one: (r) => run(rowOf(features, width, r) as Float32Array, 1),
    many: (matrix, rows) => run(matrix as Float32Array, rows),
    dispose: async () => void model.dispose(),
  };
}

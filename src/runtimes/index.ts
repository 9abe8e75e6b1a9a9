import type { OnnxOptions } from './onnx.js';
import type { Runtime, RuntimeName } from './runtime.js';

export type { Runtime, RuntimeName, InputTensor, OutputTensor } from './runtime.js';
export type { OnnxOptions } from './onnx.js';

export interface RuntimeFiles {
  /** `model.onnx`, or a TensorFlow.js `model.json`. */
  readonly model: Uint8Array;
  /** TensorFlow.js weights. */
  readonly weights?: Uint8Array;
}

export type RuntimeOptions = OnnxOptions;

/**
 * The runtime a bundle names, imported on demand: an app whose bundles are all ONNX never downloads
 * TensorFlow.js, and the other way round.
 */
export async function createRuntime(name: RuntimeName, files: RuntimeFiles, options: RuntimeOptions = {}): Promise<Runtime> {
  if (name === 'tensorflow-js') {
    const { createTfjsRuntime } = await import('./tfjs.js');
    return createTfjsRuntime(files.model, files.weights);
  }
  const { createOnnxRuntime } = await import('./onnx.js');
  return createOnnxRuntime(files.model, options);
}

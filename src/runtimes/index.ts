export type { Runtime, InputTensor, OutputTensor } from './runtime.js';
export { createOnnxRuntime } from './onnx.js';
export type { OnnxOptions } from './onnx.js';

/**
 * What differs between a bundled page and Node: where a runtime's WASM binaries are. In a page,
 * the bundler emits them beside the code (`?url` imports); in Node, `ondevice/node` points the
 * runtimes at the files in `node_modules` instead.
 */
export interface RuntimeEnvironment {
  /** Readies TensorFlow.js's `wasm` backend before `tf.setBackend('wasm')`. Default: the bundled binaries. */
  prepareTfjsWasm?: () => Promise<void>;
}

export const runtimeEnvironment: RuntimeEnvironment = {};

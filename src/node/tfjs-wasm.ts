import { createRequire } from 'node:module';
import { dirname, sep } from 'node:path';

let pathsSet = false;

/**
 * TensorFlow.js's `wasm` backend in Node: its binaries read from `node_modules`, where the page
 * has them emitted by the bundler. One thread, as in the browser.
 */
export async function prepareNodeTfjsWasm(): Promise<void> {
  const tf = await import('@tensorflow/tfjs-core');
  const { setWasmPaths } = await import('@tensorflow/tfjs-backend-wasm');
  if (!pathsSet) {
    // The package's main file sits in dist/, beside its .wasm files.
    const main = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
    setWasmPaths(`${dirname(main)}${sep}`);
    pathsSet = true;
  }
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
}

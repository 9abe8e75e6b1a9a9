/// <reference path="./url-imports.d.ts" />
// TensorFlow.js's WASM backend and where its binaries are. Imported only when `wasm` is tried, so the
// backend's JS is a chunk of its own and its binaries are fetched only then.
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import plainUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import simdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';

let pathsSet = false;

/** Registers the `wasm` backend (importing this module does) and readies it for `tf.setBackend('wasm')`. */
export function prepareWasmBackend(): void {
  // setWasmPaths throws once the backend has started (or failed to): set the paths once per worker.
  if (!pathsSet) {
    setWasmPaths({
      'tfjs-backend-wasm.wasm': plainUrl,
      'tfjs-backend-wasm-simd.wasm': simdUrl,
      // Never chosen (threads are off below); pointing it at the SIMD binary keeps the threaded one out of the build.
      'tfjs-backend-wasm-threaded-simd.wasm': simdUrl,
    });
    pathsSet = true;
  }
  // The threaded build starts its own workers from a Blob and breaks under a Vite build with
  // cross-origin isolation; one thread is ample for the dense models TensorFlow.js bundles carry.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
}

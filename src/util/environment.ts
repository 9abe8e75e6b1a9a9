/**
 * Whether this is a browser-like place with Web Workers (a page, a worker, Electron's renderer).
 * Not Node, even once something there has set `globalThis.Worker` (onnxruntime-web's WASM module
 * does, with worker_threads, whose workers cannot run ondevice's scripts).
 */
export function hasWebWorkers(): boolean {
  if (typeof Worker === 'undefined') return false;
  const node = (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node;
  return node === undefined || typeof (globalThis as { document?: unknown }).document !== 'undefined';
}

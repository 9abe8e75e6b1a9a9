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

/**
 * Why this engine gets no nested workers by default, or undefined where it does. In Firefox (ESR
 * 153), a worker that starts workers of its own (onnxruntime-web's thread pool, shard workers) froze
 * for good in about 1 load in 10 (no message answered again); without them, never in 30. So there
 * the defaults are one thread and no shards; an app that asks for more gets them.
 */
export function nestedWorkersWithheld(): string | undefined {
  const agent = typeof navigator !== 'undefined' ? navigator.userAgent : '';
  return /\bFirefox\//.test(agent)
    ? 'Firefox: a worker that starts workers of its own can freeze, so none by default (ask with the threads and shards options)'
    : undefined;
}

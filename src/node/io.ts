import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { globalFetch, memoryStore, type BundleIo, type FetchLike } from '../bundle/index.js';
import { runtimeEnvironment } from '../runtimes/index.js';
import { prepareNodeTfjsWasm } from './tfjs-wasm.js';

// TensorFlow.js's wasm backend reads its binaries from node_modules here (a page has them bundled).
runtimeEnvironment.prepareTfjsWasm ??= prepareNodeTfjsWasm;

/** `fetch`, reading `file:` URLs from disk (Node's own fetch does not): a missing file is a 404. */
export const fileOrNetworkFetch: FetchLike = async (url, init) => {
  if (!url.startsWith('file:')) return globalFetch(url, init);
  try {
    const bytes = await readFile(fileURLToPath(url));
    return new Response(bytes, { status: 200, headers: { 'content-length': String(bytes.byteLength) } });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') return new Response(null, { status: 404, statusText: 'Not Found' });
    throw error;
  }
};

/** Bundles from files or the network, versions kept in memory: Node's io, in this thread or a worker thread. */
export function nodeIo(): BundleIo {
  return { fetch: fileOrNetworkFetch, store: memoryStore() };
}

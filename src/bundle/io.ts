import { globalFetch, type FetchLike } from './download.js';
import { defaultStore, type VersionStore } from './store.js';

/**
 * Where a deployment reads bundles from and keeps them: in a browser `fetch` and Cache Storage;
 * in Node (`ondevice/node`) a fetch that also reads `file:` URLs, and memory.
 */
export interface BundleIo {
  readonly fetch: FetchLike;
  readonly store: VersionStore;
}

export function defaultIo(): BundleIo {
  return { fetch: globalFetch, store: defaultStore() };
}

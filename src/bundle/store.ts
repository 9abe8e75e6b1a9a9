import { BundleError, describeUnknown } from '../errors/index.js';

/**
 * Installed versions in Cache Storage. Each version's files live in a cache named after the
 * manifest's hash; an index entry per channel names the installed version and is written last, so a
 * version is installed only once every one of its files is stored.
 */

const INDEX_CACHE = 'ondevice-index-v1';
const filesCacheName = (manifestSha256: string): string => `ondevice-files-v1-${manifestSha256}`;

export interface InstalledVersion {
  readonly channelUrl: string;
  readonly name: string;
  readonly version: string;
  readonly manifestUrl: string;
  readonly manifestSha256: string;
  readonly installedAt: string;
}

export function hasCacheStorage(): boolean {
  return typeof caches !== 'undefined';
}

export async function readInstalled(channelUrl: string): Promise<InstalledVersion | undefined> {
  if (!hasCacheStorage()) return undefined;
  const response = await (await caches.open(INDEX_CACHE)).match(channelUrl);
  if (response === undefined) return undefined;
  try {
    const entry = (await response.json()) as InstalledVersion;
    return entry.channelUrl === channelUrl && typeof entry.manifestSha256 === 'string' ? entry : undefined;
  } catch {
    return undefined;
  }
}

/** Stores every file, then the index entry. On any failure the half-written version is removed. */
export async function install(entry: InstalledVersion, files: ReadonlyMap<string, Uint8Array>): Promise<void> {
  if (!hasCacheStorage()) throw new BundleError('STORAGE_FAILED', 'Cache Storage is not available here', {});
  const name = filesCacheName(entry.manifestSha256);
  try {
    const cache = await caches.open(name);
    for (const [url, bytes] of files) {
      await cache.put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-length': String(bytes.byteLength) } }));
    }
    const index = await caches.open(INDEX_CACHE);
    await index.put(entry.channelUrl, new Response(JSON.stringify(entry), { headers: { 'content-type': 'application/json' } }));
  } catch (error) {
    await caches.delete(name).catch(() => false);
    throw new BundleError('STORAGE_FAILED', `could not store ${entry.name} ${entry.version}: ${describeUnknown(error)}`, {
      version: entry.version,
    });
  }
}

/** The stored bytes of one file of an installed version, or undefined if it is gone. */
export async function readStored(entry: InstalledVersion, url: string): Promise<Uint8Array | undefined> {
  const response = await (await caches.open(filesCacheName(entry.manifestSha256))).match(url);
  return response === undefined ? undefined : new Uint8Array(await response.arrayBuffer());
}

/** Forgets an installed version whose stored files are missing or corrupt. */
export async function uninstall(entry: InstalledVersion): Promise<void> {
  const index = await caches.open(INDEX_CACHE);
  const current = await readInstalled(entry.channelUrl);
  if (current?.manifestSha256 === entry.manifestSha256) await index.delete(entry.channelUrl);
  await caches.delete(filesCacheName(entry.manifestSha256));
}

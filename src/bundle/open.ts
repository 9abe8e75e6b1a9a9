import { BundleError, describeUnknown } from '../errors/index.js';
import { parseChannel } from './channel.js';
import { downloadVerified, fetchJson, parseJsonBytes, verifyHash, type ProgressListener } from './download.js';
import { parseManifest, presentRoles, type FileRole, type Manifest, type RequiredRole } from './manifest.js';
import { hasCacheStorage, install, readInstalled, readStored, uninstall, type InstalledVersion } from './store.js';

/** A version's files by role: the four required ones and, for TensorFlow.js, `weights`. */
export type BundleBytes = Readonly<Record<RequiredRole, Uint8Array>> & Readonly<Partial<Record<FileRole, Uint8Array>>>;

/** A version whose every file has been verified against its manifest, held in memory. */
export interface OpenedBundle {
  readonly manifest: Manifest;
  readonly manifestSha256: string;
  readonly files: BundleBytes;
  /** `cache`: started from Cache Storage with no network request; `network`: downloaded now. */
  readonly source: 'cache' | 'network';
  /** `cache` once the version is installed in Cache Storage; `memory` when storing failed. */
  readonly storage: 'cache' | 'memory';
  /** Why storing failed, when it did. */
  readonly storageError?: string;
  readonly totalBytes: number;
}

export interface OpenOptions {
  readonly onProgress?: ProgressListener;
}

/**
 * The installed version for this channel if there is one (no network at all), else the channel's
 * live version from the network, verified, then installed.
 */
export async function openBundle(channelUrl: string, options: OpenOptions = {}): Promise<OpenedBundle> {
  const installed = await readInstalled(channelUrl);
  if (installed !== undefined) {
    const fromCache = await openInstalled(installed).catch(async () => {
      // A damaged install is dropped and fetched again rather than served or left to fail forever.
      await uninstall(installed);
      return undefined;
    });
    if (fromCache !== undefined) return fromCache;
  }
  return downloadLive(channelUrl, options);
}

async function openInstalled(entry: InstalledVersion): Promise<OpenedBundle> {
  const manifestBytes = await readStored(entry, entry.manifestUrl);
  if (manifestBytes === undefined) throw new BundleError('NOT_INSTALLED', `${entry.manifestUrl} is not in the cache`, { url: entry.manifestUrl });
  await verifyHash(manifestBytes, entry.manifestSha256, entry.manifestUrl);
  const manifest = parseManifest(parseJsonBytes(manifestBytes, entry.manifestUrl));
  const files = {} as Record<FileRole, Uint8Array>;
  for (const role of presentRoles(manifest.files)) {
    const file = manifest.files[role]!;
    const url = new URL(file.path, entry.manifestUrl).href;
    const bytes = await readStored(entry, url);
    if (bytes === undefined) throw new BundleError('NOT_INSTALLED', `${url} is not in the cache`, { url });
    // Stored bytes are checked again: storage can be altered or damaged after install.
    await verifyHash(bytes, file.sha256, url);
    files[role] = bytes;
  }
  return { manifest, manifestSha256: entry.manifestSha256, files, source: 'cache', storage: 'cache', totalBytes: totalBytes(manifest) };
}

async function downloadLive(channelUrl: string, options: OpenOptions): Promise<OpenedBundle> {
  // The channel is the one file that must not come from an HTTP cache: it says what is live now.
  const channel = parseChannel((await fetchJson(channelUrl, { cache: 'no-cache' })).json);
  const manifestUrl = new URL(channel.live.manifest, channelUrl).href;
  const { bytes: manifestBytes, json } = await fetchJson(manifestUrl);
  await verifyHash(manifestBytes, channel.live.sha256, manifestUrl);
  const manifest = parseManifest(json);
  if (manifest.version !== channel.live.version || manifest.name !== channel.name) {
    throw new BundleError('INVALID_MANIFEST', `${manifestUrl} is ${manifest.name} ${manifest.version}; the channel names ${channel.name} ${channel.live.version}`, {
      url: manifestUrl,
    });
  }

  const total = totalBytes(manifest);
  let loaded = 0;
  const files = {} as Record<FileRole, Uint8Array>;
  const toStore = new Map<string, Uint8Array>([[manifestUrl, manifestBytes]]);
  for (const role of presentRoles(manifest.files)) {
    const file = manifest.files[role]!;
    const url = new URL(file.path, manifestUrl).href;
    options.onProgress?.({ loadedBytes: loaded, totalBytes: total, file: file.path });
    files[role] = await downloadVerified(url, file, (bytes) => {
      loaded += bytes;
      options.onProgress?.({ loadedBytes: loaded, totalBytes: total, file: file.path });
    });
    toStore.set(url, files[role]);
  }

  const entry: InstalledVersion = {
    channelUrl,
    name: manifest.name,
    version: manifest.version,
    manifestUrl,
    manifestSha256: channel.live.sha256,
    installedAt: new Date().toISOString(),
  };
  let storageError: string | undefined;
  if (!hasCacheStorage()) storageError = 'Cache Storage is not available here';
  else await install(entry, toStore).catch((error: unknown) => (storageError = describeUnknown(error)));
  return {
    manifest,
    manifestSha256: channel.live.sha256,
    files,
    source: 'network',
    storage: storageError === undefined ? 'cache' : 'memory',
    ...(storageError === undefined ? {} : { storageError }),
    totalBytes: total,
  };
}

function totalBytes(manifest: Manifest): number {
  return presentRoles(manifest.files).reduce((sum, role) => sum + manifest.files[role]!.size, 0);
}

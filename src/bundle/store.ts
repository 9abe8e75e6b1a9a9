import { BundleError, describeUnknown } from '../errors/index.js';
import type { RolloutPolicy } from '../rollout/index.js';
import type { ExpectedVersion } from './remote.js';

/**
 * Installed versions. Each version's files live under its manifest's hash; one record per channel
 * says which versions are installed, which one is the last known good, and the newest channel and
 * version ever accepted (so nothing older is taken later). The record is written only after a
 * version's files are all stored: a version is never half-installed.
 *
 * Browsers keep them in Cache Storage (`cacheStorageStore`); Node and tests in memory (`memoryStore`).
 */
export interface VersionStore {
  /** Where versions persist: `cache` survives a reload, `memory` does not. */
  readonly kind: 'cache' | 'memory';
  readRecord(channelUrl: string): Promise<ChannelRecord | undefined>;
  writeRecord(record: ChannelRecord): Promise<void>;
  /** Stores every file of a verified version; on any failure (a full quota, say) what was written is removed. */
  storeFiles(manifestSha256: string, files: ReadonlyMap<string, Uint8Array>, label: string): Promise<void>;
  /** The stored bytes of one file of a version, or undefined if it is gone. */
  readStored(manifestSha256: string, url: string): Promise<Uint8Array | undefined>;
  deleteFiles(manifestSha256: string): Promise<void>;
}

export type VersionStatus = 'installed' | 'good' | 'rejected';

export interface StoredVersion {
  readonly name: string;
  readonly version: string;
  readonly manifestUrl: string;
  readonly manifestSha256: string;
  readonly status: VersionStatus;
  /** Why it was rejected. */
  readonly reason?: string;
  readonly installedAt: string;
  /** Whether its files are in the store (rejected versions keep only this record). */
  readonly stored: boolean;
}

export interface ChannelRecord {
  readonly channelUrl: string;
  /** Highest channel `sequence` accepted: a lower one is a replayed or frozen channel. */
  readonly sequence: number;
  /** Lowest version a non-rollback channel may name: the newest ever activated, or an accepted rollback's. */
  readonly floorVersion: string | undefined;
  /** manifestSha256 of the last known good version, served first on the next start. */
  readonly active: string | undefined;
  readonly versions: readonly StoredVersion[];
  /** The rollout last in force and the candidate versions it used. */
  readonly rollout?: { readonly policy: RolloutPolicy; readonly candidates: readonly ExpectedVersion[] };
  /** A bandit's successes and failures per version, across reloads. */
  readonly bandit?: Readonly<Record<string, { readonly successes: number; readonly failures: number }>>;
}

export function emptyRecord(channelUrl: string): ChannelRecord {
  return { channelUrl, sequence: 0, floorVersion: undefined, active: undefined, versions: [] };
}

const RECORDS_CACHE = 'ondevice-channels-v2';
const filesCacheName = (manifestSha256: string): string => `ondevice-files-v1-${manifestSha256}`;

export function hasCacheStorage(): boolean {
  return typeof caches !== 'undefined';
}

/** Cache Storage, where the page or worker has it; without it, the versions of this session only. */
export function defaultStore(): VersionStore {
  return hasCacheStorage() ? cacheStorageStore() : memoryStore();
}

export function cacheStorageStore(): VersionStore {
  return {
    kind: 'cache',
    async readRecord(channelUrl) {
      const response = await (await caches.open(RECORDS_CACHE)).match(channelUrl);
      if (response === undefined) return undefined;
      try {
        return checkedRecord((await response.json()) as unknown, channelUrl);
      } catch {
        return undefined;
      }
    },
    async writeRecord(record) {
      const records = await caches.open(RECORDS_CACHE);
      await records.put(record.channelUrl, new Response(JSON.stringify(record), { headers: { 'content-type': 'application/json' } }));
    },
    async storeFiles(manifestSha256, files, label) {
      const name = filesCacheName(manifestSha256);
      try {
        const cache = await caches.open(name);
        for (const [url, bytes] of files) {
          await cache.put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-length': String(bytes.byteLength) } }));
        }
      } catch (error) {
        await caches.delete(name).catch(() => false);
        throw new BundleError('STORAGE_FAILED', `could not store ${label}: ${describeUnknown(error)}`, { version: label });
      }
    },
    async readStored(manifestSha256, url) {
      const response = await (await caches.open(filesCacheName(manifestSha256))).match(url);
      return response === undefined ? undefined : new Uint8Array(await response.arrayBuffer());
    },
    async deleteFiles(manifestSha256) {
      await caches.delete(filesCacheName(manifestSha256));
    },
  };
}

/** Versions kept in this process only: for Node, and for tests of the deployment. */
export function memoryStore(): VersionStore {
  const records = new Map<string, string>();
  const files = new Map<string, Map<string, Uint8Array>>();
  return {
    kind: 'memory',
    async readRecord(channelUrl) {
      const text = records.get(channelUrl);
      return text === undefined ? undefined : checkedRecord(JSON.parse(text) as unknown, channelUrl);
    },
    async writeRecord(record) {
      records.set(record.channelUrl, JSON.stringify(record));
    },
    async storeFiles(manifestSha256, stored) {
      files.set(manifestSha256, new Map([...stored].map(([url, bytes]) => [url, bytes.slice()])));
    },
    async readStored(manifestSha256, url) {
      return files.get(manifestSha256)?.get(url)?.slice();
    },
    async deleteFiles(manifestSha256) {
      files.delete(manifestSha256);
    },
  };
}

function checkedRecord(record: unknown, channelUrl: string): ChannelRecord | undefined {
  const candidate = record as ChannelRecord;
  return typeof record === 'object' && record !== null && candidate.channelUrl === channelUrl && Array.isArray(candidate.versions) ? candidate : undefined;
}

import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { BundleError, describeUnknown } from '../errors/index.js';
import type { RolloutPolicy } from '../rollout/index.js';
import type { ExpectedVersion } from './remote.js';

/**
 * Installed versions. Each version's files live under its manifest's hash; one record per channel
 * says which versions are installed, which one is the last known good, and the newest channel and
 * version ever accepted (so nothing older is taken later). The record is written only after a
 * version's files are all stored: a version is never half-installed.
 *
 * Browsers keep them in IndexedDB (`indexedDbStore`); Node and tests in memory (`memoryStore`).
 */
export interface VersionStore {
  /** Where versions persist: `cache` (the device's storage) survives a reload, `memory` does not. */
  readonly kind: 'cache' | 'memory';
  readRecord(channelUrl: string): Promise<ChannelRecord | undefined>;
  writeRecord(record: ChannelRecord): Promise<void>;
  /** Stores every file of a verified version; on any failure (a full quota, say) what was written is removed. */
  storeFiles(manifestSha256: string, files: ReadonlyMap<string, Uint8Array>, label: string): Promise<void>;
  /** The stored bytes of one file of a version, or undefined if it is gone. */
  readStored(manifestSha256: string, url: string): Promise<Uint8Array | undefined>;
  deleteFiles(manifestSha256: string): Promise<void>;
  /** A random id made once and kept: this device's identity for canary buckets when the app gives none. */
  deviceId(): Promise<string>;
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

/**
 * The device's store, where it has IndexedDB (pages and workers in every engine); else memory.
 *
 * Not Cache Storage: WebKit drops the entries a dedicated worker wrote to Cache Storage once no
 * client holds that cache open (seen in its ephemeral sessions: Safari's Private Browsing, and
 * WebDriver), so a version stored by the worker was gone at the next start. IndexedDB keeps them,
 * and writes a version's files in one transaction: all of them or none.
 */
export function defaultStore(): VersionStore {
  return typeof indexedDB === 'undefined' ? memoryStore() : indexedDbStore();
}

const DATABASE = 'ondevice-bundles';
const RECORDS = 'records';
const FILES = 'files';
const DEVICE = 'device';

interface StoreSchema extends DBSchema {
  records: { key: string; value: ChannelRecord };
  device: { key: string; value: string };
  /** Keyed by [manifestSha256, url]: a version's files are one key range. */
  files: { key: [string, string]; value: { readonly bytes: ArrayBuffer } };
}

export function indexedDbStore(): VersionStore {
  let opened: Promise<IDBPDatabase<StoreSchema>> | undefined;
  const database = (): Promise<IDBPDatabase<StoreSchema>> =>
    (opened ??= openDB<StoreSchema>(DATABASE, 1, {
      upgrade(db) {
        db.createObjectStore(RECORDS, { keyPath: 'channelUrl' });
        db.createObjectStore(FILES);
        db.createObjectStore(DEVICE);
      },
    }).then((db) => {
      void dropCacheStorageLeftovers();
      return db;
    }));
  const versionRange = (manifestSha256: string): IDBKeyRange => IDBKeyRange.bound([manifestSha256, ''], [manifestSha256, '\uffff']);
  return {
    kind: 'cache',
    async readRecord(channelUrl) {
      return checkedRecord(await (await database()).get(RECORDS, channelUrl), channelUrl);
    },
    async writeRecord(record) {
      await (await database()).put(RECORDS, record);
    },
    async storeFiles(manifestSha256, files, label) {
      try {
        const transaction = (await database()).transaction(FILES, 'readwrite');
        for (const [url, bytes] of files) void transaction.store.put({ bytes: bytes.slice().buffer }, [manifestSha256, url]);
        await transaction.done;
      } catch (error) {
        // A failed transaction writes nothing (a full quota aborts it whole).
        throw new BundleError('STORAGE_FAILED', `could not store ${label}: ${describeUnknown(error)}`, { version: label });
      }
    },
    async readStored(manifestSha256, url) {
      const entry = await (await database()).get(FILES, [manifestSha256, url]);
      return entry === undefined ? undefined : new Uint8Array(entry.bytes);
    },
    async deleteFiles(manifestSha256) {
      await (await database()).delete(FILES, versionRange(manifestSha256));
    },
    async deviceId() {
      const db = await database();
      const kept = await db.get(DEVICE, 'id');
      if (kept !== undefined) return kept;
      const id = crypto.randomUUID();
      // Two workers starting at once: the first id written wins, for both.
      const transaction = db.transaction(DEVICE, 'readwrite');
      const raced = await transaction.store.get('id');
      if (raced === undefined) await transaction.store.put(id, 'id');
      await transaction.done;
      return raced ?? id;
    },
  };
}

/** Versions an earlier release of the library kept in Cache Storage: removed once, best effort. */
async function dropCacheStorageLeftovers(): Promise<void> {
  if (typeof caches === 'undefined') return;
  const names = await caches.keys().catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((name) => name === 'ondevice-channels-v2' || name.startsWith('ondevice-files-v1-'))
      .map((name) => caches.delete(name).catch(() => false)),
  );
}

/** Versions kept in this process only: for Node, and for tests of the deployment. */
export function memoryStore(): VersionStore {
  const records = new Map<string, string>();
  const files = new Map<string, Map<string, Uint8Array>>();
  const device = crypto.randomUUID();
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
    async deviceId() {
      return device;
    },
  };
}

function checkedRecord(record: unknown, channelUrl: string): ChannelRecord | undefined {
  const candidate = record as ChannelRecord;
  return typeof record === 'object' && record !== null && candidate.channelUrl === channelUrl && Array.isArray(candidate.versions)
    ? candidate
    : undefined;
}

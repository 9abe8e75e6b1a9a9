import { BundleError, describeUnknown } from '../errors/index.js';
import type { RolloutPolicy } from '../rollout/index.js';
import type { ExpectedVersion } from './remote.js';

/**
 * Installed versions in Cache Storage. Each version's files live in a cache named after its
 * manifest's hash; one record per channel says which versions are installed, which one is the last
 * known good, and the newest channel and version ever accepted (so nothing older is taken later).
 * The record is written only after a version's files are all stored: a version is never half-installed.
 */

const RECORDS_CACHE = 'ondevice-channels-v2';
const filesCacheName = (manifestSha256: string): string => `ondevice-files-v1-${manifestSha256}`;

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
  /** Whether its files are in Cache Storage (rejected versions keep only this record). */
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

export function hasCacheStorage(): boolean {
  return typeof caches !== 'undefined';
}

export function emptyRecord(channelUrl: string): ChannelRecord {
  return { channelUrl, sequence: 0, floorVersion: undefined, active: undefined, versions: [] };
}

export async function readRecord(channelUrl: string): Promise<ChannelRecord | undefined> {
  if (!hasCacheStorage()) return undefined;
  const response = await (await caches.open(RECORDS_CACHE)).match(channelUrl);
  if (response === undefined) return undefined;
  try {
    const record = (await response.json()) as ChannelRecord;
    return record.channelUrl === channelUrl && Array.isArray(record.versions) ? record : undefined;
  } catch {
    return undefined;
  }
}

export async function writeRecord(record: ChannelRecord): Promise<void> {
  if (!hasCacheStorage()) return;
  const records = await caches.open(RECORDS_CACHE);
  await records.put(record.channelUrl, new Response(JSON.stringify(record), { headers: { 'content-type': 'application/json' } }));
}

/** Stores every file of a verified version. On any failure (a full quota, say) what was written is removed. */
export async function storeFiles(manifestSha256: string, files: ReadonlyMap<string, Uint8Array>, label: string): Promise<void> {
  if (!hasCacheStorage()) throw new BundleError('STORAGE_FAILED', 'Cache Storage is not available here', {});
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
}

/** The stored bytes of one file of a version, or undefined if it is gone. */
export async function readStored(manifestSha256: string, url: string): Promise<Uint8Array | undefined> {
  if (!hasCacheStorage()) return undefined;
  const response = await (await caches.open(filesCacheName(manifestSha256))).match(url);
  return response === undefined ? undefined : new Uint8Array(await response.arrayBuffer());
}

export async function deleteFiles(manifestSha256: string): Promise<void> {
  if (hasCacheStorage()) await caches.delete(filesCacheName(manifestSha256));
}

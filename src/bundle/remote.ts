import { BundleError } from '../errors/index.js';
import { parseChannel, type Channel } from './channel.js';
import {
  DEFAULT_METADATA_CAPS,
  MAX_SIGNATURE_BYTES,
  downloadVerified,
  fetchJson,
  fetchOk,
  parseJsonBytes,
  readCapped,
  verifyHash,
  type FetchLike,
  type MetadataCaps,
  type ProgressListener,
} from './download.js';
import { parseManifest, presentRoles, type FileRole, type Manifest, type RequiredRole } from './manifest.js';
import { parseSignatureFile, signatureUrlOf, verifySigned } from './signature.js';
import type { StoredVersion, VersionStore } from './store.js';

/** A version's files by role: the four required ones, `weights` for TensorFlow.js, and `reference` when the bundle ships one. */
export type BundleBytes = Readonly<Record<RequiredRole, Uint8Array>> & Readonly<Partial<Record<FileRole, Uint8Array>>>;

/** A version whose every file has been verified against its manifest, held in memory. */
export interface VerifiedVersion {
  readonly manifest: Manifest;
  readonly manifestUrl: string;
  readonly manifestSha256: string;
  readonly files: BundleBytes;
  /** Every file by URL, the manifest included: what goes to storage. */
  readonly byUrl: ReadonlyMap<string, Uint8Array>;
  readonly totalBytes: number;
}

export interface TrustOptions {
  /**
   * Ed25519 public keys (raw, base64url) the app pins. When given, a channel or manifest without a
   * valid signature by one of them is refused. Default: none (hashes only).
   */
  readonly publicKeys?: readonly string[];
}

export interface FetchedChannel {
  readonly channel: Channel;
  /** The id of the pinned key that signed it, when keys are pinned. */
  readonly signedBy?: string;
}

/** The channel as the server has it now (never from an HTTP cache), its signature checked when keys are pinned. */
export async function fetchChannel(
  fetcher: FetchLike,
  channelUrl: string,
  trust: TrustOptions,
  caps: MetadataCaps = DEFAULT_METADATA_CAPS,
): Promise<FetchedChannel> {
  const { bytes, json } = await fetchJson(fetcher, channelUrl, caps.channelBytes, { cache: 'no-cache' });
  const signedBy = await checkSignature(fetcher, bytes, channelUrl, trust, { cache: 'no-cache' });
  const channel = parseChannel(json);
  return signedBy === undefined ? { channel } : { channel, signedBy };
}

/** What a version must be: named by a channel, or recorded when it was installed. */
export interface ExpectedVersion {
  readonly manifestUrl: string;
  readonly manifestSha256: string;
  readonly name: string;
  readonly version: string;
}

export function expectedFromChannel(channelUrl: string, channel: Channel): ExpectedVersion {
  return {
    manifestUrl: new URL(channel.live.manifest, channelUrl).href,
    manifestSha256: channel.live.sha256,
    name: channel.name,
    version: channel.live.version,
  };
}

/**
 * Downloads a version: the manifest (its hash pinned by the channel, its signature checked when keys
 * are pinned, its name and version those the channel names: no mixing of releases), then every
 * file, streamed and verified.
 */
export async function fetchVersion(
  fetcher: FetchLike,
  expected: ExpectedVersion,
  trust: TrustOptions,
  onProgress?: ProgressListener,
  onManifest?: (manifest: Manifest) => void,
  caps: MetadataCaps = DEFAULT_METADATA_CAPS,
): Promise<VerifiedVersion> {
  const { manifestUrl } = expected;
  const manifestBytes = await readCapped(await fetchOk(fetcher, manifestUrl), manifestUrl, caps.manifestBytes);
  await verifyHash(manifestBytes, expected.manifestSha256, manifestUrl);
  await checkSignature(fetcher, manifestBytes, manifestUrl, trust);
  const manifest = parseManifest(parseJsonBytes(manifestBytes, manifestUrl));
  if (manifest.version !== expected.version || manifest.name !== expected.name) {
    throw new BundleError(
      'INVALID_MANIFEST',
      `${manifestUrl} is ${manifest.name} ${manifest.version}; the channel names ${expected.name} ${expected.version}`,
      {
        url: manifestUrl,
      },
    );
  }
  onManifest?.(manifest);

  const total = totalBytes(manifest);
  let loaded = 0;
  // Every file at once: one round trip for all of them, not one each.
  const roles = presentRoles(manifest.files);
  const downloaded = await Promise.all(
    roles.map((role) => {
      const file = manifest.files[role]!;
      const url = new URL(file.path, manifestUrl).href;
      onProgress?.({ loadedBytes: loaded, totalBytes: total, file: file.path });
      return downloadVerified(fetcher, url, file, (bytes) => {
        loaded += bytes;
        onProgress?.({ loadedBytes: loaded, totalBytes: total, file: file.path });
      }).then((bytes) => ({ role, url, bytes }));
    }),
  );
  const files = {} as Record<FileRole, Uint8Array>;
  const byUrl = new Map<string, Uint8Array>([[manifestUrl, manifestBytes]]);
  for (const { role, url, bytes } of downloaded) {
    files[role] = bytes;
    byUrl.set(url, bytes);
  }
  return { manifest, manifestUrl, manifestSha256: expected.manifestSha256, files, byUrl, totalBytes: total };
}

/** An installed version read back from Cache Storage, every byte hashed again (storage can be altered or damaged). */
export async function openStored(
  store: VersionStore,
  entry: StoredVersion,
  onProgress?: ProgressListener,
  onManifest?: (manifest: Manifest) => void,
): Promise<VerifiedVersion> {
  const manifestBytes = await store.readStored(entry.manifestSha256, entry.manifestUrl);
  if (manifestBytes === undefined)
    throw new BundleError('NOT_INSTALLED', `${entry.manifestUrl} is not in the cache`, { url: entry.manifestUrl });
  await verifyHash(manifestBytes, entry.manifestSha256, entry.manifestUrl);
  const manifest = parseManifest(parseJsonBytes(manifestBytes, entry.manifestUrl));
  onManifest?.(manifest);
  const files = {} as Record<FileRole, Uint8Array>;
  const byUrl = new Map<string, Uint8Array>([[entry.manifestUrl, manifestBytes]]);
  const total = totalBytes(manifest);
  let verified = 0;
  for (const role of presentRoles(manifest.files)) {
    const file = manifest.files[role]!;
    const url = new URL(file.path, entry.manifestUrl).href;
    const bytes = await store.readStored(entry.manifestSha256, url);
    if (bytes === undefined) throw new BundleError('NOT_INSTALLED', `${url} is not in the cache`, { url });
    await verifyHash(bytes, file.sha256, url);
    verified += bytes.byteLength;
    onProgress?.({ loadedBytes: verified, totalBytes: total, file: file.path });
    files[role] = bytes;
    byUrl.set(url, bytes);
  }
  return { manifest, manifestUrl: entry.manifestUrl, manifestSha256: entry.manifestSha256, files, byUrl, totalBytes: totalBytes(manifest) };
}

async function checkSignature(
  fetcher: FetchLike,
  bytes: Uint8Array,
  url: string,
  trust: TrustOptions,
  init?: RequestInit,
): Promise<string | undefined> {
  if (trust.publicKeys === undefined || trust.publicKeys.length === 0) return undefined;
  const signatureUrl = signatureUrlOf(url);
  let json: unknown;
  try {
    json = (await fetchJson(fetcher, signatureUrl, MAX_SIGNATURE_BYTES, init)).json;
  } catch {
    throw new BundleError('SIGNATURE_INVALID', `${url} has no signature (${signatureUrl}) and this app pins signing keys`, { url });
  }
  return verifySigned(bytes, parseSignatureFile(json, signatureUrl), trust.publicKeys, url);
}

function totalBytes(manifest: Manifest): number {
  return presentRoles(manifest.files).reduce((sum, role) => sum + manifest.files[role]!.size, 0);
}

import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import {
  compareVersions,
  isExpired,
  isVersion,
  parseChannel,
  parseManifest,
  presentRoles,
  sha256Hex,
  signatureUrlOf,
  verifySigned,
  type BundleBytes,
  type Channel,
  type FileRole,
  type Manifest,
} from '../bundle/index.js';
import { BundleError } from '../errors/index.js';
import { CHANNEL_FILE, MANIFEST_FILE } from './channel-file.js';
import { UsageError } from './command.js';
import { exists, isDirectory, parseJsonFile, readBytes, shown } from './files.js';
import { readSignatureFile } from './keys.js';

/**
 * A bundle folder read from disk and verified the way the browser verifies what it downloads
 * (bundle/open.ts): channel -> manifest pinned by its SHA-256 -> every file's size and SHA-256,
 * plus signatures when keys are given. Shared by verify, diff and score.
 */
export interface LocalVersion {
  readonly bundleDir: string;
  readonly manifestPath: string;
  readonly manifest: Manifest;
  readonly manifestSha256: string;
  readonly files: BundleBytes;
  /** Whether the channel pins this manifest by hash (it is the live version). */
  readonly pinned: boolean;
  /** The key whose signature over manifest.json verified, when keys were given. */
  readonly manifestSignedBy?: string;
}

export interface LocalBundle extends LocalVersion {
  /** Undefined when nothing was promoted yet (pack --no-promote) and a version was asked for. */
  readonly channel: Channel | undefined;
  readonly channelPath: string;
  readonly channelSignedBy?: string;
}

/** One check passed (`ok`), or something worth knowing that is not a failure (`warn`, `note`). */
export interface CheckEvent {
  readonly level: 'ok' | 'warn' | 'note';
  readonly subject: string;
  readonly message: string;
}

export interface ReadOptions {
  /** A version other than the live one (its manifest is then not pinned by the channel). */
  readonly version?: string;
  /** Trusted Ed25519 public keys (base64url): when given, channel.json and manifest.json must carry a verifying signature. */
  readonly publicKeys?: readonly string[];
  /** Milliseconds since the epoch, for the expiry check. Default now. */
  readonly now?: number;
  readonly onCheck?: (event: CheckEvent) => void;
}

/**
 * `target` is a bundle folder (`<bundles>/<name>/`) or its channel.json. A bundles folder holding
 * several bundles is refused with their names.
 */
export async function locateBundle(target: string): Promise<{ bundleDir: string; channelPath: string }> {
  const path = resolve(target);
  const info = await stat(path).catch(() => undefined);
  if (info === undefined)
    throw new BundleError(
      'FETCH_FAILED',
      `${shown(path)} does not exist; give a bundle folder (<bundles>/<name>/) or its ${CHANNEL_FILE}`,
      { url: shown(path) },
    );
  if (info.isFile()) return { bundleDir: dirname(path), channelPath: path };
  const channelPath = join(path, CHANNEL_FILE);
  if ((await exists(channelPath)) || (await listVersions(path)).length > 0) return { bundleDir: path, channelPath };
  const entries = await readdir(path, { withFileTypes: true });
  const bundles: string[] = [];
  for (const entry of entries) if (entry.isDirectory() && (await exists(join(path, entry.name, CHANNEL_FILE)))) bundles.push(entry.name);
  if (bundles.length > 0) {
    throw new BundleError(
      'FETCH_FAILED',
      `${shown(path)} is a folder of bundles (${bundles.join(', ')}): give one of them, e.g. ${shown(join(path, bundles[0]!))}`,
      {
        url: shown(path),
      },
    );
  }
  throw new BundleError(
    'FETCH_FAILED',
    `${shown(path)} is not a bundle folder: it has no ${CHANNEL_FILE} and no <version>/${MANIFEST_FILE} (ondevice pack writes them)`,
    {
      url: shown(path),
    },
  );
}

/** The versions packed in a bundle folder (sub-folders holding a manifest.json), oldest first. */
export async function listVersions(bundleDir: string): Promise<string[]> {
  const entries = await readdir(bundleDir, { withFileTypes: true }).catch(() => []);
  const versions: string[] = [];
  for (const entry of entries)
    if (entry.isDirectory() && isVersion(entry.name) && (await exists(join(bundleDir, entry.name, MANIFEST_FILE))))
      versions.push(entry.name);
  return versions.sort(compareVersions);
}

/** The channel file read, its signature checked when keys are pinned, and what a release manager should know about it. */
async function readLocalChannel(
  channelPath: string,
  keys: readonly string[],
  check: (event: CheckEvent) => void,
  now: number,
): Promise<{ channel: Channel; channelSignedBy: string | undefined }> {
  let channelSignedBy: string | undefined;
  const bytes = await readBytes(channelPath, 'channel');
  // Signature first, over the exact bytes, before anything in them is believed.
  if (keys.length > 0) {
    channelSignedBy = await verifySignatureOf(channelPath, bytes, keys);
    check({ level: 'ok', subject: shown(signatureUrlOf(channelPath)), message: `signed by pinned key ${channelSignedBy}` });
  }
  const channel = naming(channelPath, () => parseChannel(parseJsonFile(bytes, channelPath)));
  const { live } = channel;
  check({
    level: 'ok',
    subject: shown(channelPath),
    message: `${channel.name} sequence ${channel.sequence}, live ${live.version}, approved by ${live.approval.by} at ${live.approval.at}: "${live.approval.reason}"`,
  });
  if (keys.length === 0) {
    const signatures = await readSignatureFile(channelPath).catch(() => undefined);
    if (signatures !== undefined)
      check({
        level: 'note',
        subject: shown(signatureUrlOf(channelPath)),
        message: `signed by ${signatures.signatures.map((s) => s.keyId).join(', ')}; not checked (give --public-key)`,
      });
  }
  if (isExpired(channel, now)) {
    check({
      level: 'warn',
      subject: shown(channelPath),
      message: `expired at ${channel.expires}: clients report it as stale (and keep serving); promote again to renew it`,
    });
  } else if (channel.expires !== undefined) {
    check({ level: 'note', subject: shown(channelPath), message: `expires at ${channel.expires}` });
  }
  if (channel.rollback !== undefined) {
    check({
      level: 'note',
      subject: shown(channelPath),
      message: `a rollback from ${channel.rollback.from}: "${channel.rollback.reason}"`,
    });
  }
  return { channel, channelSignedBy };
}

/** Reads and verifies the live version (or `options.version`) of the bundle at `target`. */
export async function readLocalBundle(target: string, options: ReadOptions = {}): Promise<LocalBundle> {
  const { bundleDir, channelPath } = await locateBundle(target);
  const check = options.onCheck ?? (() => undefined);
  const keys = options.publicKeys ?? [];
  let channel: Channel | undefined;
  let channelSignedBy: string | undefined;

  if (await exists(channelPath)) {
    ({ channel, channelSignedBy } = await readLocalChannel(channelPath, keys, check, options.now ?? Date.now()));
  } else if (options.version === undefined) {
    const versions = await listVersions(bundleDir);
    throw new BundleError(
      'FETCH_FAILED',
      `${shown(channelPath)} is missing: no version is live (packed: ${versions.join(', ') || 'none'}); promote one (ondevice promote) or name a version`,
      { url: shown(channelPath) },
    );
  }

  const version = options.version ?? channel!.live.version;
  const pinned = channel !== undefined && version === channel.live.version;
  const manifestPath = pinned
    ? resolve(dirname(channelPath), channel!.live.manifest)
    : join(bundleDir, checkedVersion(version), MANIFEST_FILE);
  if (!pinned && channel !== undefined)
    check({
      level: 'note',
      subject: shown(manifestPath),
      message: `${version} is not the live version (${channel.live.version}): its manifest is not pinned by the channel`,
    });
  const read = await readLocalVersion(bundleDir, version, {
    ...options,
    manifestPath,
    ...(pinned ? { pinnedSha256: channel!.live.sha256 } : {}),
  });
  if (channel !== undefined && read.manifest.name !== channel.name) {
    throw new BundleError(
      'INVALID_MANIFEST',
      `${shown(manifestPath)} is of bundle ${read.manifest.name}; ${shown(channelPath)} is of ${channel.name}`,
      { url: shown(manifestPath) },
    );
  }
  return { ...read, channel, channelPath, ...(channelSignedBy === undefined ? {} : { channelSignedBy }) };
}

/**
 * Reads and verifies one version folder: manifest (against `pinnedSha256` when the channel pins it,
 * and its signature when keys are given), then every file's size and SHA-256. Every bad file is
 * named, not only the first.
 */
export async function readLocalVersion(
  bundleDir: string,
  version: string,
  options: ReadOptions & { readonly manifestPath?: string; readonly pinnedSha256?: string } = {},
): Promise<LocalVersion> {
  const check = options.onCheck ?? (() => undefined);
  const manifestPath = options.manifestPath ?? join(bundleDir, checkedVersion(version), MANIFEST_FILE);
  const manifestBytes = await readBytes(manifestPath, `the manifest of ${version}`);
  const manifestSha256 = await sha256Hex(manifestBytes);
  if (options.pinnedSha256 !== undefined && manifestSha256 !== options.pinnedSha256) {
    throw new BundleError(
      'INTEGRITY_MISMATCH',
      `${shown(manifestPath)} does not match the SHA-256 that ${CHANNEL_FILE} pins: expected ${options.pinnedSha256}, got ${manifestSha256} (altered after promotion? promote it again)`,
      { url: shown(manifestPath), expected: options.pinnedSha256, actual: manifestSha256 },
    );
  }
  let manifestSignedBy: string | undefined;
  if ((options.publicKeys ?? []).length > 0) {
    manifestSignedBy = await verifySignatureOf(manifestPath, manifestBytes, options.publicKeys!);
    check({ level: 'ok', subject: shown(signatureUrlOf(manifestPath)), message: `signed by pinned key ${manifestSignedBy}` });
  }
  const manifest = naming(manifestPath, () => parseManifest(parseJsonFile(manifestBytes, manifestPath)));
  if (manifest.version !== version) {
    throw new BundleError('INVALID_MANIFEST', `${shown(manifestPath)} is version ${manifest.version}, not ${version}`, {
      url: shown(manifestPath),
    });
  }
  check({
    level: 'ok',
    subject: shown(manifestPath),
    message: `${manifest.name} ${manifest.version}, ${manifest.runtime}, ${manifest.task.kind}; sha256 ${manifestSha256.slice(0, 16)}…${options.pinnedSha256 === undefined ? '' : ' as pinned'}`,
  });

  const files = await readVerifiedFiles(dirname(manifestPath), manifest, check);
  return {
    bundleDir,
    manifestPath,
    manifest,
    manifestSha256,
    files,
    pinned: options.pinnedSha256 !== undefined,
    ...(manifestSignedBy === undefined ? {} : { manifestSignedBy }),
  };
}

/** Every file of a version read and checked against its manifest; every bad one named, not only the first. */
async function readVerifiedFiles(
  versionDir: string,
  manifest: Manifest,
  check: (event: CheckEvent) => void,
): Promise<Record<FileRole, Uint8Array>> {
  const files = {} as Record<FileRole, Uint8Array>;
  const failures: BundleError[] = [];
  for (const role of presentRoles(manifest.files)) {
    const file = manifest.files[role]!;
    const path = join(versionDir, file.path);
    try {
      files[role] = await readVerifiedFile(path, `${role} of ${manifest.version}`, file);
      check({ level: 'ok', subject: shown(path), message: `${role}, ${file.size} bytes, sha256 ${file.sha256.slice(0, 16)}… matches` });
    } catch (error) {
      if (!(error instanceof BundleError)) throw error;
      failures.push(error);
    }
  }
  if (failures.length === 1) throw failures[0]!;
  if (failures.length > 1) {
    throw new BundleError(
      failures[0]!.code,
      `${failures.length} files of ${manifest.name} ${manifest.version} fail verification: ${failures.map((f) => f.message).join('; ')}`,
      { url: failures.map((f) => String(f.details.url)) },
    );
  }
  return files;
}

async function readVerifiedFile(path: string, what: string, file: { readonly size: number; readonly sha256: string }): Promise<Uint8Array> {
  const bytes = await readBytes(path, what);
  if (bytes.byteLength !== file.size) {
    throw new BundleError('SIZE_MISMATCH', `${shown(path)} has ${bytes.byteLength} bytes; its manifest lists ${file.size}`, {
      url: shown(path),
      expected: file.size,
      actual: bytes.byteLength,
    });
  }
  const sha256 = await sha256Hex(bytes);
  if (sha256 !== file.sha256) {
    throw new BundleError('INTEGRITY_MISMATCH', `${shown(path)} does not match its SHA-256: expected ${file.sha256}, got ${sha256}`, {
      url: shown(path),
      expected: file.sha256,
      actual: sha256,
    });
  }
  return bytes;
}

async function verifySignatureOf(path: string, bytes: Uint8Array, keys: readonly string[]): Promise<string> {
  const signatures = await readSignatureFile(path);
  if (signatures === undefined) {
    throw new BundleError(
      'SIGNATURE_INVALID',
      `${shown(path)} is not signed (no ${basename(signatureUrlOf(path))}); sign it with ondevice sign`,
      { url: shown(path) },
    );
  }
  return verifySigned(bytes, signatures, keys, shown(path));
}

/** The parsers say what is wrong inside a file; the file's path says which file. */
function naming<T>(path: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof BundleError && !error.message.includes(shown(path)))
      throw new BundleError(error.code, `${shown(path)}: ${error.message}`, { ...error.details, url: shown(path) });
    throw error;
  }
}

/** A version names a folder: nothing that could climb out of the bundle. */
function checkedVersion(version: string): string {
  if (!isVersion(version)) throw new UsageError(`"${version}" is not a version like 1.2.0`);
  return version;
}

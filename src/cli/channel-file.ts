import { join } from 'node:path';
import { parseChannel, signatureUrlOf, type Approval, type Channel, type ChannelEntry, type SignatureFile } from '../bundle/index.js';
import { exists, jsonText, parseJsonFile, readBytes, writeFileAtomic } from './files.js';
import { readSignatureFile, removeSignatureFile, signBytes, type SigningKey } from './keys.js';

export const CHANNEL_FILE = 'channel.json';
export const MANIFEST_FILE = 'manifest.json';

export const channelPathOf = (bundleDir: string): string => join(bundleDir, CHANNEL_FILE);
/** Where a version's manifest lives in a bundle folder, as pack writes it and the channel names it. */
export const manifestRefOf = (version: string): string => `${version}/${MANIFEST_FILE}`;

/** The bundle's channel, or undefined when nothing was promoted yet (pack --no-promote). */
export async function readChannelFile(bundleDir: string): Promise<Channel | undefined> {
  const path = channelPathOf(bundleDir);
  if (!(await exists(path))) return undefined;
  return parseChannel(parseJsonFile(await readBytes(path, 'channel'), path));
}

export interface ChannelChange {
  readonly name: string;
  readonly version: string;
  readonly manifestSha256: string;
  readonly approval: Omit<Approval, 'at'>;
  /** ISO 8601; default now. Used for `issuedAt` and the approval's `at`. */
  readonly at?: string;
  readonly expiresInDays?: number;
  /** Set for a deliberate move to an older version. */
  readonly rollbackReason?: string;
}

/** A version as a channel names it (live or candidate): pinned by its manifest's SHA-256, with who approved it, why and when. */
export function channelEntryOf(version: string, manifestSha256: string, approval: Omit<Approval, 'at'>, at: string): ChannelEntry {
  return { version, manifest: manifestRefOf(version), sha256: manifestSha256, approval: { by: approval.by, reason: approval.reason, at } };
}

/** `expires`, counted from the channel's `issuedAt`; nothing when no lifetime was asked for. */
export function expiryOf(at: string, expiresInDays: number | undefined): { expires?: string } {
  return expiresInDays === undefined ? {} : { expires: new Date(Date.parse(at) + expiresInDays * 86_400_000).toISOString() };
}

/** The channel that follows `previous`: one more in sequence, so clients can refuse a replayed older one. */
export function nextChannel(previous: Channel | undefined, change: ChannelChange): Channel {
  const at = change.at ?? new Date().toISOString();
  const channel: Channel = {
    format: 'ondevice/channel',
    formatVersion: 2,
    name: change.name,
    sequence: (previous?.sequence ?? 0) + 1,
    issuedAt: at,
    ...expiryOf(at, change.expiresInDays),
    live: channelEntryOf(change.version, change.manifestSha256, change.approval, at),
    // A promotion or rollback ends any rollout: the new live version serves everyone.
    candidates: [],
    rollout: { strategy: 'single' },
    ...(change.rollbackReason === undefined || previous === undefined
      ? {}
      : { rollback: { from: previous.live.version, reason: change.rollbackReason } }),
  };
  // What we write must pass the parser the browser runs.
  return parseChannel(channel);
}

export interface ChannelWritten {
  readonly path: string;
  /** Signed now with this key id. */
  readonly signedBy?: string;
  /** Key ids whose signatures over the old channel were dropped: they no longer match its bytes. */
  readonly staleSignatures: readonly string[];
}

/**
 * Writes channel.json and deals with its `.sig`: signed anew with `key`, else removed, since a
 * signature over the old bytes would only make pinning clients refuse the new channel.
 */
export async function writeChannelFile(bundleDir: string, channel: Channel, key?: SigningKey): Promise<ChannelWritten> {
  const path = channelPathOf(bundleDir);
  // A .sig we cannot read is stale all the same: it is replaced or removed, never kept.
  const previous = await readSignatureFile(path).catch(() => undefined);
  const stale = (previous?.signatures ?? []).map((s) => s.keyId).filter((id) => id !== key?.keyId);
  const text = jsonText(channel);
  if (key !== undefined) {
    // Signed before either file moves, so the two renames follow each other closely.
    const signatures: SignatureFile = {
      format: 'ondevice/signatures',
      formatVersion: 1,
      signatures: [await signBytes(key, new TextEncoder().encode(text))],
    };
    await writeFileAtomic(path, text);
    await writeFileAtomic(signatureUrlOf(path), jsonText(signatures));
    return { path, signedBy: key.keyId, staleSignatures: stale };
  }
  await writeFileAtomic(path, text);
  const removed = await removeSignatureFile(path);
  return { path, staleSignatures: removed && stale.length === 0 ? ['(unreadable signature file)'] : stale };
}

/** One line for the user about what happened to channel.json's signatures. */
export function describeSignatureChange(written: ChannelWritten, sigName = `${CHANNEL_FILE}.sig`): string | undefined {
  const stale = written.staleSignatures.join(', ');
  if (written.signedBy !== undefined) {
    return (
      `signed ${CHANNEL_FILE} with key ${written.signedBy}` +
      (stale === '' ? '' : `; dropped the signatures by ${stale}, which no longer match (they must sign again: ondevice sign)`)
    );
  }
  if (stale === '') return undefined;
  return `removed ${sigName}: its signatures (${stale}) were over the old ${CHANNEL_FILE} and no longer match; browsers that pin a key refuse an unsigned channel, so sign it (ondevice sign <bundle-dir> --key <private.pem>)`;
}

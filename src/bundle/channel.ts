import { BundleError } from '../errors/index.js';
import { isRecord, readLiteral, readNumber, readRecord, readString, type Fail } from '../util/json.js';
import { isSha256Hex } from './hash.js';
import { isVersion } from './version.js';

/**
 * `channel.json`: which version of a bundle is live, who approved it and why. It pins the manifest
 * by hash. `sequence` only grows: a client refuses a channel older than one it has seen (a replayed
 * or frozen channel), and an older live version unless the channel says it is an explicit rollback.
 */
export interface Channel {
  readonly format: 'ondevice/channel';
  readonly formatVersion: 2;
  readonly name: string;
  readonly sequence: number;
  readonly issuedAt: string;
  /** After this instant the channel is stale: clients report it (and keep serving). */
  readonly expires?: string;
  readonly live: ChannelEntry;
  /** Present when `live` is deliberately older than the version it replaces. */
  readonly rollback?: { readonly from: string; readonly reason: string };
}

export interface ChannelEntry {
  readonly version: string;
  /** Relative to the channel file. */
  readonly manifest: string;
  /** SHA-256 of the manifest file's bytes. */
  readonly sha256: string;
  readonly approval: Approval;
}

export interface Approval {
  readonly by: string;
  readonly reason: string;
  readonly at: string;
}

const fail: Fail = (path, why) => {
  throw new BundleError('INVALID_CHANNEL', `channel: ${path} ${why}`, { path });
};

export function parseChannel(json: unknown): Channel {
  const root = readRecord(json, '(root)', fail);
  readLiteral(root.format, ['ondevice/channel'], 'format', fail);
  readLiteral(root.formatVersion, [2], 'formatVersion', fail);
  const live = readRecord(root.live, 'live', fail);
  const sha256 = readString(live.sha256, 'live.sha256', fail);
  if (!isSha256Hex(sha256)) fail('live.sha256', 'must be 64 lowercase hex digits');
  const version = readString(live.version, 'live.version', fail);
  if (!isVersion(version)) fail('live.version', `"${version}" is not a version like 1.2.0`);
  const sequence = readNumber(root.sequence, 'sequence', fail);
  if (!Number.isInteger(sequence) || sequence < 1) fail('sequence', 'must be a positive whole number');
  const approval = readRecord(live.approval, 'live.approval', fail);
  const channel: Channel = {
    format: 'ondevice/channel',
    formatVersion: 2,
    name: readString(root.name, 'name', fail),
    sequence,
    issuedAt: readInstant(root.issuedAt, 'issuedAt'),
    ...(root.expires === undefined ? {} : { expires: readInstant(root.expires, 'expires') }),
    live: {
      version,
      manifest: readString(live.manifest, 'live.manifest', fail),
      sha256,
      approval: {
        by: readString(approval.by, 'live.approval.by', fail),
        reason: readString(approval.reason, 'live.approval.reason', fail),
        at: readInstant(approval.at, 'live.approval.at'),
      },
    },
  };
  if (root.rollback === undefined) return channel;
  const rollback = isRecord(root.rollback) ? root.rollback : fail('rollback', 'must be an object');
  return {
    ...channel,
    rollback: { from: readString(rollback.from, 'rollback.from', fail), reason: readString(rollback.reason, 'rollback.reason', fail) },
  };
}

function readInstant(value: unknown, path: string): string {
  const text = readString(value, path, fail);
  if (Number.isNaN(Date.parse(text))) fail(path, `"${text}" is not an ISO 8601 date and time`);
  return text;
}

export function isExpired(channel: Channel, now: number): boolean {
  return channel.expires !== undefined && Date.parse(channel.expires) <= now;
}

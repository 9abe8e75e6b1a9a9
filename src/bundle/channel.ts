import { BundleError } from '../errors/index.js';
import { parseRolloutPolicy, type RolloutPolicy } from '../rollout/index.js';
import { isRecord, readArray, readLiteral, readNumber, readRecord, readString, type Fail } from '../util/json.js';
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
  /**
   * Versions offered beside the live one, for the rollout to use.
   * @defaultValue `[]` when the channel file leaves them out
   */
  readonly candidates: readonly ChannelEntry[];
  /**
   * How calls are shared between the live version and the candidates.
   * @defaultValue `{ strategy: 'single' }` when the channel file leaves it out
   */
  readonly rollout: RolloutPolicy;
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
  const version = readString(live.version, 'live.version', fail);
  const sequence = readNumber(root.sequence, 'sequence', fail);
  if (!Number.isInteger(sequence) || sequence < 1) fail('sequence', 'must be a positive whole number');
  const candidates = (root.candidates === undefined ? [] : readArray(root.candidates, 'candidates', fail)).map((value, i) =>
    readEntry(value, `candidates[${i}]`),
  );
  const offered = [version, ...candidates.map((c) => c.version)];
  if (new Set(offered).size !== offered.length) fail('candidates', 'must not repeat a version (the live one included)');
  const channel: Channel = {
    format: 'ondevice/channel',
    formatVersion: 2,
    name: readString(root.name, 'name', fail),
    sequence,
    issuedAt: readInstant(root.issuedAt, 'issuedAt'),
    ...(root.expires === undefined ? {} : { expires: readInstant(root.expires, 'expires') }),
    live: readEntry(live, 'live'),
    candidates,
    rollout: parseRolloutPolicy(root.rollout, version, offered),
  };
  if (root.rollback === undefined) return channel;
  const rollback = isRecord(root.rollback) ? root.rollback : fail('rollback', 'must be an object');
  return {
    ...channel,
    rollback: { from: readString(rollback.from, 'rollback.from', fail), reason: readString(rollback.reason, 'rollback.reason', fail) },
  };
}

function readEntry(value: unknown, path: string): ChannelEntry {
  const entry = readRecord(value, path, fail);
  const sha256 = readString(entry.sha256, `${path}.sha256`, fail);
  if (!isSha256Hex(sha256)) fail(`${path}.sha256`, 'must be 64 lowercase hex digits');
  const version = readString(entry.version, `${path}.version`, fail);
  if (!isVersion(version)) fail(`${path}.version`, `"${version}" is not a version like 1.2.0`);
  const approval = readRecord(entry.approval, `${path}.approval`, fail);
  return {
    version,
    manifest: readString(entry.manifest, `${path}.manifest`, fail),
    sha256,
    approval: {
      by: readString(approval.by, `${path}.approval.by`, fail),
      reason: readString(approval.reason, `${path}.approval.reason`, fail),
      at: readInstant(approval.at, `${path}.approval.at`),
    },
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

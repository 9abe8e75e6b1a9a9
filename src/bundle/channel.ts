import { BundleError } from '../errors/index.js';
import { readLiteral, readRecord, readString, type Fail } from '../util/json.js';
import { isSha256Hex } from './hash.js';

/** `channel.json`: which version of a bundle is live. It pins the manifest by hash. */
export interface Channel {
  readonly format: 'ondevice/channel';
  readonly formatVersion: 1;
  readonly name: string;
  readonly live: ChannelEntry;
}

export interface ChannelEntry {
  readonly version: string;
  /** Relative to the channel file. */
  readonly manifest: string;
  /** SHA-256 of the manifest file's bytes. */
  readonly sha256: string;
}

const fail: Fail = (path, why) => {
  throw new BundleError('INVALID_CHANNEL', `channel: ${path} ${why}`, { path });
};

export function parseChannel(json: unknown): Channel {
  const root = readRecord(json, '(root)', fail);
  readLiteral(root.format, ['ondevice/channel'], 'format', fail);
  readLiteral(root.formatVersion, [1], 'formatVersion', fail);
  const live = readRecord(root.live, 'live', fail);
  const sha256 = readString(live.sha256, 'live.sha256', fail);
  if (!isSha256Hex(sha256)) fail('live.sha256', 'must be 64 lowercase hex digits');
  return {
    format: 'ondevice/channel',
    formatVersion: 1,
    name: readString(root.name, 'name', fail),
    live: { version: readString(live.version, 'live.version', fail), manifest: readString(live.manifest, 'live.manifest', fail), sha256 },
  };
}

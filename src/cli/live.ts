import { compareVersions, type Channel } from '../bundle/index.js';
import { BundleError } from '../errors/index.js';
import { describeSignatureChange, nextChannel, readChannelFile, writeChannelFile, type ChannelWritten } from './channel-file.js';
import { UsageError } from './command.js';
import { shown } from './files.js';
import { loadSigningKey } from './keys.js';
import { locateBundle, readLocalVersion } from './local-bundle.js';

/** The flags promote and rollback share, for parseCommandArgs. */
export const LIVE_FLAGS = {
  by: { type: 'string' },
  reason: { type: 'string' },
  'expires-in': { type: 'string' },
  key: { type: 'string', short: 'k' },
} as const;

export interface SetLiveOptions {
  /** The bundle folder (`<bundles>/<name>/`) or its channel.json. */
  readonly bundle: string;
  readonly version: string;
  /** Who approves, and why (channel `live.approval`). */
  readonly by: string;
  readonly reason: string;
  readonly expiresInDays?: number;
  /** Private key (PKCS8 PEM) to sign the new channel.json with. */
  readonly key?: string;
  /** ISO 8601; default now. */
  readonly at?: string;
}

export interface SetLiveResult {
  readonly previous: Channel | undefined;
  readonly channel: Channel;
  readonly written: ChannelWritten;
  /** What happened to channel.json.sig, for the user; undefined when there is nothing to say. */
  readonly signatureNote: string | undefined;
}

/**
 * The shared half of promote and rollback: verify the version (manifest parses, every file matches
 * its hash), check the direction against the live version, write the next channel and re-sign it
 * or drop its stale signature.
 */
export async function setLive(options: SetLiveOptions, direction: 'promote' | 'rollback'): Promise<SetLiveResult> {
  if (options.by.trim() === '' || options.reason.trim() === '') throw new UsageError('--by and --reason must not be empty');
  // Load the key first: a typo in its path should fail before anything is read or written.
  const key = options.key === undefined ? undefined : await loadSigningKey(options.key);
  const { bundleDir } = await locateBundle(options.bundle);
  const previous = await readChannelFile(bundleDir);
  const { manifest, manifestSha256 } = await readLocalVersion(bundleDir, options.version);
  if (previous !== undefined && previous.name !== manifest.name) {
    throw new BundleError(
      'INVALID_MANIFEST',
      `${shown(bundleDir)} is the channel of ${previous.name}; version ${options.version} is of ${manifest.name}`,
      { version: options.version },
    );
  }
  const live = previous?.live.version;
  const order = live === undefined ? 1 : compareVersions(options.version, live);
  if (direction === 'promote' && order < 0) {
    throw new BundleError(
      'ROLLBACK_REFUSED',
      `${manifest.name} ${live} is live; ${options.version} is older, so making it live is a rollback: ondevice rollback ${shown(bundleDir)} ${options.version} --by … --reason … --key <private.pem>`,
      { version: options.version, live: live ?? null },
    );
  }
  if (direction === 'rollback') {
    if (previous === undefined)
      throw new BundleError('ROLLBACK_REFUSED', `${shown(bundleDir)} has no channel.json: nothing is live to roll back from`, {
        version: options.version,
      });
    if (order >= 0) {
      throw new BundleError(
        'ROLLBACK_REFUSED',
        `${options.version} is not older than the live ${live}; a rollback goes to an older version (to make ${options.version} live, use ondevice promote)`,
        { version: options.version, live: live ?? null },
      );
    }
  }
  const channel = nextChannel(previous, {
    name: manifest.name,
    version: options.version,
    manifestSha256,
    approval: { by: options.by, reason: options.reason },
    ...(options.at === undefined ? {} : { at: options.at }),
    ...(options.expiresInDays === undefined ? {} : { expiresInDays: options.expiresInDays }),
    ...(direction === 'rollback' ? { rollbackReason: options.reason } : {}),
  });
  const written = await writeChannelFile(bundleDir, channel, key);
  return { previous, channel, written, signatureNote: describeSignatureChange(written) };
}

/** What promote and rollback print. */
export function describeLive(result: SetLiveResult): string {
  const { channel, previous } = result;
  const from = previous === undefined ? 'nothing was live' : `was ${previous.live.version}, sequence ${previous.sequence}`;
  return (
    `${channel.name} ${channel.live.version} is live in ${shown(result.written.path)} (sequence ${channel.sequence}; ${from})\n` +
    `  approved by ${channel.live.approval.by} at ${channel.live.approval.at}: "${channel.live.approval.reason}"\n` +
    (channel.expires === undefined ? '' : `  expires at ${channel.expires}\n`) +
    (channel.rollback === undefined ? '' : `  rollback from ${channel.rollback.from}\n`) +
    endedRollout(previous) +
    (result.signatureNote === undefined ? '' : `  ${result.signatureNote}\n`)
  );
}

/** nextChannel ends any rollout; say so, since devices on a candidate move back to the live version. */
function endedRollout(previous: Channel | undefined): string {
  if (previous === undefined || (previous.rollout.strategy === 'single' && previous.candidates.length === 0)) return '';
  const pulled = previous.candidates.map((c) => c.version);
  return `  ended the ${previous.rollout.strategy} rollout${pulled.length === 0 ? '' : ` (candidates pulled: ${pulled.join(', ')})`}: everyone gets the live version\n`;
}

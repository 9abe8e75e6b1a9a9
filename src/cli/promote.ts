import { parseCommandArgs, readDays, required, type Command } from './command.js';
import { LIVE_FLAGS, describeLive, setLive, type SetLiveOptions, type SetLiveResult } from './live.js';

/** Makes a packed version live: it must be the live version or newer (older is a rollback). */
export function promote(options: SetLiveOptions): Promise<SetLiveResult> {
  return setLive(options, 'promote');
}

export const promoteCommand: Command = {
  name: 'promote',
  summary: 'make a packed version live in channel.json, with who approved it and why',
  usage: 'ondevice promote <bundle-dir> <version> --by <name> --reason <text> [--expires-in <days>] [--key <private.pem>]',
  help: `Rewrites <bundle-dir>/channel.json so that <version> is live: the next sequence number, the
manifest's SHA-256, and the approval (who, why, when). The version must already be packed, its
manifest valid and every file matching its hash; it must be the live version or newer (going back
is ondevice rollback). Run ondevice verify on it first: this command does not run the gate.

Promoting ends any rollout (ondevice rollout): the channel is left with no candidates and the
single strategy, so <version> serves everyone, a candidate being promoted included. Devices pick
it up at their next channel check, or at once when the app calls update().

A signature over the old channel.json no longer matches: with --key the new channel is signed,
without it channel.json.sig is removed (and you are told), never left stale.

  <bundle-dir>          A bundle folder (<bundles>/<name>/) or its channel.json.
  <version>             A packed version, e.g. 1.1.0 (the folder <bundle-dir>/<version>/).
  --by <name>           Who approves the deployment.
  --reason <text>       Why (kept in the channel, shown by ondevice verify).
  --expires-in <days>   Clients report the channel as stale after this many days (they keep serving).
  --key <file>          Sign the new channel.json with this private key (PKCS8 PEM).`,
  async run(argv, io) {
    const args = parseCommandArgs(promoteCommand, argv, LIVE_FLAGS, io, { min: 2, max: 2, names: 'a bundle folder and a version' });
    if (args === undefined) return 0;
    const { values, positionals } = args;
    const expiresInDays = readDays(values['expires-in']);
    const result = await promote({
      bundle: positionals[0]!,
      version: positionals[1]!,
      by: required(values.by, 'by', 'who approves this deployment'),
      reason: required(values.reason, 'reason', 'why this version goes live'),
      ...(expiresInDays === undefined ? {} : { expiresInDays }),
      ...(values.key === undefined ? {} : { key: values.key }),
    });
    io.stdout.write(describeLive(result));
    return 0;
  },
};

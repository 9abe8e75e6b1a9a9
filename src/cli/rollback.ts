import { parseCommandArgs, readDays, required, type Command } from './command.js';
import { LIVE_FLAGS, describeLive, setLive, type SetLiveOptions, type SetLiveResult } from './live.js';

/**
 * Makes an older version live, recorded as a rollback from the current one. Always signed: a
 * browser refuses a channel that goes back in version unless it is a signed, explicit rollback.
 */
export function rollback(options: SetLiveOptions & { readonly key: string }): Promise<SetLiveResult> {
  return setLive(options, 'rollback');
}

export const rollbackCommand: Command = {
  name: 'rollback',
  summary: 'make an older version live again, as a signed, explicit rollback',
  usage: 'ondevice rollback <bundle-dir> <version> --by <name> --reason <text> --key <private.pem> [--expires-in <days>]',
  help: `Rewrites <bundle-dir>/channel.json so that the older <version> is live again, recording
rollback: {from: <the live version>, reason}, the next sequence number and the approval. The
version must be packed and verify (manifest, every file's hash), and be older than the live one.

--key is required: browsers accept a channel that goes back to an older version only when it is a
signed rollback, so an unsigned one would be refused and users would stay on the version you are
rolling back from.

  <bundle-dir>          A bundle folder (<bundles>/<name>/) or its channel.json.
  <version>             The older packed version to go back to.
  --by <name>           Who decides the rollback.
  --reason <text>       Why (kept in the channel as the approval's and the rollback's reason).
  --key <file>          The private key (PKCS8 PEM) to sign channel.json with.
  --expires-in <days>   Clients report the channel as stale after this many days.`,
  async run(argv, io) {
    const args = parseCommandArgs(rollbackCommand, argv, LIVE_FLAGS, io, { min: 2, max: 2, names: 'a bundle folder and a version' });
    if (args === undefined) return 0;
    const { values, positionals } = args;
    const key = required(values.key, 'key', 'browsers refuse an unsigned rollback, so ondevice will not write one');
    const expiresInDays = readDays(values['expires-in']);
    const result = await rollback({
      bundle: positionals[0]!,
      version: positionals[1]!,
      by: required(values.by, 'by', 'who decides the rollback'),
      reason: required(values.reason, 'reason', 'why the live version is rolled back'),
      key,
      ...(expiresInDays === undefined ? {} : { expiresInDays }),
    });
    io.stdout.write(describeLive(result));
    return 0;
  },
};

import { join } from 'node:path';
import { BundleError } from '../errors/index.js';
import { CHANNEL_FILE, MANIFEST_FILE } from './channel-file.js';
import { parseCommandArgs, required, type Command } from './command.js';
import { exists, shown } from './files.js';
import { loadSigningKey, signFile, type SignResult } from './keys.js';
import { listVersions, locateBundle, readLocalBundle, readLocalVersion } from './local-bundle.js';

export interface SignOptions {
  /** The bundle folder (`<bundles>/<name>/`) or its channel.json. */
  readonly bundle: string;
  /** PKCS8 PEM Ed25519 private key (ondevice keygen). */
  readonly key: string;
}

export interface SignedFile extends SignResult {
  readonly path: string;
}

export interface SignOutcome {
  readonly keyId: string;
  readonly signed: readonly SignedFile[];
}

/**
 * Writes detached signatures for channel.json and every version's manifest.json. Each file is
 * verified first (the channel's pin, each version's files): a signature vouches for what it covers.
 * Signatures by other keys are kept, so several people can sign; this key's old one is replaced.
 */
export async function signBundle(options: SignOptions): Promise<SignOutcome> {
  const key = await loadSigningKey(options.key);
  const { bundleDir, channelPath } = await locateBundle(options.bundle);
  const versions = await listVersions(bundleDir);
  const hasChannel = await exists(channelPath);
  if (!hasChannel && versions.length === 0)
    throw new BundleError('FETCH_FAILED', `${shown(bundleDir)} holds no ${CHANNEL_FILE} and no version to sign`, { url: shown(bundleDir) });

  // Verify everything before writing any signature.
  if (hasChannel) await readLocalBundle(channelPath);
  for (const version of versions) await readLocalVersion(bundleDir, version);

  const signed: SignedFile[] = [];
  for (const version of versions) {
    const path = join(bundleDir, version, MANIFEST_FILE);
    signed.push({ path, ...(await signFile(path, key, true)) });
  }
  if (hasChannel) signed.push({ path: channelPath, ...(await signFile(channelPath, key, true)) });
  return { keyId: key.keyId, signed };
}

export const signCommand: Command = {
  name: 'sign',
  summary: 'sign channel.json and every manifest.json of a bundle (Ed25519, detached)',
  usage: 'ondevice sign <bundle-dir> --key <private.pem>',
  help: `Writes detached Ed25519 signatures beside channel.json and beside every <version>/manifest.json
of the bundle (<file>.sig), over the files' exact bytes. An app that pins the public key refuses a
channel or manifest without a valid signature. Everything is verified before it is signed (the
channel's pin of the live manifest, every file's size and SHA-256).

Signing again with another key adds its signature (several signers); with the same key it replaces
that key's signature.

  <bundle-dir>       A bundle folder (<bundles>/<name>/, as ondevice pack writes it) or its channel.json.
  --key <file>       The private key (PKCS8 PEM from ondevice keygen).`,
  async run(argv, io) {
    const args = parseCommandArgs(signCommand, argv, { key: { type: 'string', short: 'k' } }, io, {
      min: 1,
      max: 1,
      names: 'one bundle folder',
    });
    if (args === undefined) return 0;
    const outcome = await signBundle({
      bundle: args.positionals[0]!,
      key: required(args.values.key, 'key', 'the private key to sign with (ondevice keygen)'),
    });
    for (const file of outcome.signed) {
      const others = file.kept.length === 0 ? '' : `; kept signatures by ${file.kept.join(', ')}`;
      io.stdout.write(`${file.replaced ? 're-signed' : 'signed'} ${shown(file.path)} -> ${shown(file.sigPath)}${others}\n`);
    }
    io.stdout.write(`${outcome.signed.length} file${outcome.signed.length === 1 ? '' : 's'} signed with key ${outcome.keyId}\n`);
    return 0;
  },
};

import { generateKeyPairSync } from 'node:crypto';
import { chmod, open } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseCommandArgs, required, type Command } from './command.js';
import { CliError } from './errors.js';
import { exists, isDirectory, shown } from './files.js';
import { publicKeyOf } from './keys.js';

export interface KeygenResult {
  readonly privateKeyPath: string;
  readonly publicKeyPath: string;
  /** Raw 32-byte Ed25519 public key, base64url: what an app pins. */
  readonly publicKey: string;
  readonly keyId: string;
}

/**
 * A new Ed25519 key pair: `<prefix>.private.pem` (PKCS8, mode 0600) and `<prefix>.public` (the raw
 * public key in base64url, one line). Never overwrites: a lost old key cannot sign again.
 */
export async function keygen(prefix: string): Promise<KeygenResult> {
  const privateKeyPath = resolve(`${prefix}.private.pem`);
  const publicKeyPath = resolve(`${prefix}.public`);
  if (!(await isDirectory(dirname(privateKeyPath)))) {
    throw new CliError('FILE_NOT_FOUND', `folder ${shown(dirname(privateKeyPath))} does not exist; create it first`, {
      path: shown(dirname(privateKeyPath)),
    });
  }
  for (const path of [privateKeyPath, publicKeyPath]) {
    if (await exists(path)) {
      throw new CliError(
        'FILE_EXISTS',
        `${shown(path)} already exists; keygen never overwrites a key (choose another --out, or remove it if it is really unused)`,
        { path: shown(path) },
      );
    }
  }
  const { privateKey } = generateKeyPairSync('ed25519');
  const { publicKey, keyId } = await publicKeyOf(privateKey);
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  // 'wx' fails rather than overwrite a file that appeared since the check.
  const write = async (path: string, text: string, mode: number): Promise<void> => {
    const handle = await open(path, 'wx', mode).catch((error: unknown) => {
      throw (error as { code?: unknown }).code === 'EEXIST'
        ? new CliError('FILE_EXISTS', `${shown(path)} already exists; keygen never overwrites a key`, { path: shown(path) })
        : error;
    });
    try {
      await handle.writeFile(text);
    } finally {
      await handle.close();
    }
    // The mode given to open() is filtered by the umask; the private key must end up 0600 whatever it is.
    await chmod(path, mode);
  };
  await write(privateKeyPath, pem, 0o600);
  await write(publicKeyPath, `${publicKey}\n`, 0o644);
  return { privateKeyPath, publicKeyPath, publicKey, keyId };
}

export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'make an Ed25519 key pair for signing bundles',
  usage: 'ondevice keygen --out <prefix>',
  help: `Makes an Ed25519 key pair for signing channels and manifests:
  <prefix>.private.pem   the private key (PKCS8 PEM, readable by you only); keep it out of git
  <prefix>.public        the public key (raw 32 bytes, base64url, one line): what an app pins
Prints the key id (the first 16 hex digits of the public key's SHA-256). Existing files are
never overwritten.

  --out <prefix>    Where to write, e.g. keys/release (the folder must exist).`,
  async run(argv, io) {
    const args = parseCommandArgs(keygenCommand, argv, { out: { type: 'string', short: 'o' } }, io, {
      min: 0,
      max: 0,
      names: 'no arguments besides --out',
    });
    if (args === undefined) return 0;
    const result = await keygen(required(args.values.out, 'out', 'the path prefix of the key files, e.g. keys/release'));
    io.stdout.write(
      `key id ${result.keyId}\n` +
        `  private key: ${shown(result.privateKeyPath)} (mode 0600): do not commit it or copy it to the web server; add it to .gitignore\n` +
        `  public key:  ${shown(result.publicKeyPath)}: ${result.publicKey}\n` +
        `Sign a bundle with: ondevice sign <bundle-dir> --key ${shown(result.privateKeyPath)}\n`,
    );
    return 0;
  },
};

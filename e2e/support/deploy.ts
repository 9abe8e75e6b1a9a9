import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { cp, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeBase64Url, keyIdOf, sha256Hex, type Channel } from '../../src/bundle/index.js';
import { pack } from '../../src/cli/pack.js';

const PENGUINS = fileURLToPath(new URL('../../models/penguins/build/', import.meta.url));

export interface SigningKey {
  readonly privateKey: KeyObject;
  /** base64url raw public key, as an app pins it. */
  readonly publicKey: string;
}

export function newKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey: publicKey.export({ format: 'jwk' }).x! };
}

/** A deployment folder for the penguins bundle, published to the way `ondevice pack` does it. */
export class Deployment {
  private constructor(readonly dir: string) {}

  static async create(): Promise<Deployment> {
    return new Deployment(await mkdtemp(join(tmpdir(), 'ondevice-deploy-')));
  }

  get bundleDir(): string {
    return join(this.dir, 'penguins');
  }

  /** Packs the penguins model as `version` and makes it live; `gateRange` changes its accuracy range (to make a version fail its gate). */
  async publish(version: string, options: { gateRange?: [number, number]; promote?: boolean } = {}): Promise<void> {
    const source = await mkdtemp(join(tmpdir(), 'ondevice-src-'));
    await cp(PENGUINS, source, { recursive: true });
    const card = JSON.parse(await readFile(join(source, 'model-card.json'), 'utf8'));
    card.version = version;
    if (options.gateRange) card.gate.metric.range = options.gateRange;
    await writeFile(join(source, 'model-card.json'), JSON.stringify(card));
    await pack({
      source,
      out: this.dir,
      builtBy: 'tests',
      approval: { by: 'tests', reason: `publish ${version}` },
      promote: options.promote ?? true,
    });
  }

  async channel(): Promise<Channel> {
    return JSON.parse(await readFile(join(this.bundleDir, 'channel.json'), 'utf8')) as Channel;
  }

  /** Writes a channel by hand (rollbacks, replays, mixed releases), with the manifest hash of `manifestOf`'s manifest unless given. */
  /** `rollback: null` removes an earlier rollback entry. */
  async writeChannel(
    changes: Partial<Omit<Channel, 'live' | 'rollback'>> & { live?: Partial<Channel['live']>; rollback?: Channel['rollback'] | null },
    manifestOf?: string,
  ): Promise<void> {
    const current = await this.channel();
    const live = { ...current.live, ...changes.live };
    if (manifestOf !== undefined) {
      live.manifest = `${manifestOf}/manifest.json`;
      live.sha256 = await sha256Hex(await readFile(join(this.bundleDir, manifestOf, 'manifest.json')));
    }
    const { rollback, ...rest } = { ...current, ...changes, live };
    const channel = rollback === null || rollback === undefined ? rest : { ...rest, rollback };
    await writeFile(join(this.bundleDir, 'channel.json'), `${JSON.stringify(channel, null, 2)}\n`);
  }

  /** A channel entry for a packed version, to offer it as a candidate. */
  async entry(version: string): Promise<Channel['live']> {
    const sha256 = await sha256Hex(await readFile(join(this.bundleDir, version, 'manifest.json')));
    return {
      version,
      manifest: `${version}/manifest.json`,
      sha256,
      approval: { by: 'tests', reason: `offer ${version}`, at: new Date().toISOString() },
    };
  }

  /** Detached Ed25519 signatures for the channel and every manifest, as `ondevice sign` writes them. */
  async sign(key: SigningKey): Promise<void> {
    const keyId = await keyIdOf(key.publicKey);
    const files = [
      'channel.json',
      ...(await readdir(this.bundleDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => `${e.name}/manifest.json`),
    ];
    for (const file of files) {
      const bytes = await readFile(join(this.bundleDir, file));
      const signature = encodeBase64Url(new Uint8Array(sign(null, bytes, key.privateKey)));
      await writeFile(
        join(this.bundleDir, `${file}.sig`),
        JSON.stringify({ format: 'ondevice/signatures', formatVersion: 1, signatures: [{ keyId, algorithm: 'Ed25519', signature }] }),
      );
    }
  }
}

// What the fuzz categories share: the penguins bundle packed (and a signed copy), served by the
// fault-injecting server under a fresh path per case, and one model loaded in a worker thread.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { keygen } from '../../src/cli/keygen.js';
import { pack } from '../../src/cli/pack.js';
import { signBundle } from '../../src/cli/sign.js';
import { load, type OndeviceModel } from '../../src/node/index.js';
import { FaultServer, type Fault } from '../fault-server.js';
import { E2E_LABELS, E2E_ROWS, PENGUINS } from './rows.js';
import { answered, answeredOrRefused, refused, settle, type Outcome } from './verdict.js';

/** Short limits, so that a stall is found out within a second. */
export const FUZZ_NETWORK = { firstByteMs: 800, idleMs: 800, fileMs: 3_000 } as const;

/** Past this, a load counts as hung: every file's whole limit, and then some. */
export const LOAD_HANG_MS = 20_000;

export type BundleFiles = ReadonlyMap<string, Uint8Array>;

export interface FuzzFixture {
  readonly server: FaultServer;
  /** The packed bundle's files by path under its folder (`channel.json`, `1.0.0/model.onnx`, ...). */
  readonly bundle: BundleFiles;
  /** The same, signed by `publicKey` (`.sig` files beside the channel and the manifest). */
  readonly signed: BundleFiles;
  readonly publicKey: string;
  /** A second key's signatures over the same files: valid, but not by the pinned key. */
  readonly strangerSigned: BundleFiles;
  /** One model, loaded once, in a worker thread (rows and columns cross a real structured clone). */
  readonly model: OndeviceModel;
  /** Serves `files` under a path of its own (instead of the last case's), with `fault` (if any) for one of them; the channel's URL. */
  serve(files: BundleFiles, faulty?: { path: string; fault: Fault }): string;
  close(): Promise<void>;
}

export async function startFixture(): Promise<FuzzFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'ondevice-fuzz-'));
  await pack({ source: PENGUINS, out: join(dir, 'plain') });
  await pack({ source: PENGUINS, out: join(dir, 'signed') });
  await pack({ source: PENGUINS, out: join(dir, 'stranger') });
  const key = await keygen(join(dir, 'key'));
  const stranger = await keygen(join(dir, 'stranger-key'));
  await signBundle({ bundle: join(dir, 'signed/penguins'), key: key.privateKeyPath });
  await signBundle({ bundle: join(dir, 'stranger/penguins'), key: stranger.privateKeyPath });
  const server = await FaultServer.start();
  const model = await load(join(dir, 'plain/penguins'), { monitor: false, thread: 'worker' });
  let cases = 0;
  return {
    server,
    bundle: await readTree(join(dir, 'plain/penguins')),
    signed: await readTree(join(dir, 'signed/penguins')),
    strangerSigned: await readTree(join(dir, 'stranger/penguins')),
    publicKey: key.publicKey,
    model,
    serve(files, faulty) {
      // One case at a time: the last case's files (absurd ones run to megabytes) are dropped.
      server.clear();
      const prefix = `/case-${++cases}`;
      for (const [path, body] of files) server.set(`${prefix}/${path}`, { kind: 'ok', body });
      if (faulty !== undefined) server.set(`${prefix}/${faulty.path}`, faulty.fault);
      return `${server.origin}${prefix}/channel.json`;
    },
    async close() {
      await model.dispose();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function readTree(root: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(relative(root, path), new Uint8Array(await readFile(path)));
  }
  return files;
}

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** Whether a load must answer, must be refused, or may do either (as long as it is typed and in time). */
export type Expected = 'answer' | 'refuse' | 'either';

/**
 * Loads the channel at `url` (in this thread: each case a fresh, in-memory device), then scores the
 * end-to-end set's first row when it loaded; judged against `expected`.
 */
export async function checkLoad(url: string, expected: Expected, options: { publicKeys?: readonly string[] } = {}): Promise<Outcome> {
  const result = await settle(LOAD_HANG_MS, async () => {
    const model = await load(url, { monitor: false, network: FUZZ_NETWORK, ...options });
    try {
      return await model.predict(E2E_ROWS[0]!);
    } finally {
      await model.dispose();
    }
  });
  if (expected === 'refuse') return refused(result);
  if (expected === 'either') return answeredOrRefused(result);
  return answered(result, (p) => (p.kind === 'classification' && p.label === E2E_LABELS[0] ? undefined : 'a wrong answer'));
}

import { cp, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseChannel, parseSignatureFile, sha256Hex, verifySigned, type Channel } from '../src/bundle/index.js';
import { keygen } from '../src/cli/keygen.js';
import { pack } from '../src/cli/pack.js';
import { promoteCommand } from '../src/cli/promote.js';
import { rollback } from '../src/cli/rollback.js';
import { rollout, rolloutCommand } from '../src/cli/rollout-command.js';
import { signBundle } from '../src/cli/sign.js';
import { verifyCommand } from '../src/cli/verify.js';
import { BundleError } from '../src/errors/index.js';
import { run, spawnCli } from './cli-helpers.js';
import { caught, PENGUINS_BUILD } from './helpers.js';

const temp = (prefix: string): Promise<string> => mkdtemp(join(tmpdir(), `ondevice-rollout-${prefix}-`));

const readChannel = async (bundleDir: string): Promise<Channel> =>
  parseChannel(JSON.parse(await readFile(join(bundleDir, 'channel.json'), 'utf8')));
const manifestSha = async (bundleDir: string, version: string): Promise<string> =>
  sha256Hex(new Uint8Array(await readFile(join(bundleDir, version, 'manifest.json'))));

async function copyBundle(from: string): Promise<string> {
  const to = join(await temp('copy'), 'penguins');
  await cp(from, to, { recursive: true });
  return to;
}

/** The penguins build folder renamed as another version: a packable candidate. */
async function penguinsAs(version: string): Promise<string> {
  const dir = await temp('build');
  await cp(fileURLToPath(PENGUINS_BUILD), dir, { recursive: true });
  const card = JSON.parse(await readFile(join(dir, 'model-card.json'), 'utf8')) as Record<string, unknown>;
  card.version = version;
  await writeFile(join(dir, 'model-card.json'), JSON.stringify(card, null, 1));
  return dir;
}

/** penguins 1.0.0 live; 1.1.0 and 1.2.0 packed beside it, not live. */
let source: string;
let keys: { a: Awaited<ReturnType<typeof keygen>>; b: Awaited<ReturnType<typeof keygen>> };

beforeAll(async () => {
  const out = await temp('bundles');
  await pack({ source: fileURLToPath(PENGUINS_BUILD), out });
  for (const version of ['1.1.0', '1.2.0']) await pack({ source: await penguinsAs(version), out, promote: false });
  source = join(out, 'penguins');
  const dir = await temp('keys');
  keys = { a: await keygen(join(dir, 'a')), b: await keygen(join(dir, 'b')) };
});

describe('ondevice rollout', () => {
  it('canary: writes a channel the browser parser accepts, with the candidate pinned by its manifest hash and the next sequence', async () => {
    const dir = await copyBundle(source);
    const before = await readChannel(dir);
    const ran = await run(rolloutCommand, [
      dir,
      '--strategy',
      'canary',
      '--candidate',
      '1.1.0',
      '--share',
      '0.1',
      '--by',
      'alice',
      '--reason',
      'better calibrated',
    ]);
    expect(ran.code, ran.stderr).toBe(0);

    const after = await readChannel(dir);
    expect(after.sequence).toBe(before.sequence + 1);
    expect(after.live).toEqual(before.live);
    expect(Date.parse(after.issuedAt)).toBeGreaterThanOrEqual(Date.parse(before.issuedAt));
    expect(after.candidates).toEqual([
      {
        version: '1.1.0',
        manifest: '1.1.0/manifest.json',
        sha256: await manifestSha(dir, '1.1.0'),
        approval: { by: 'alice', reason: 'better calibrated', at: after.issuedAt },
      },
    ]);
    expect(after.rollout).toEqual({ strategy: 'canary', candidate: '1.1.0', share: 0.1 });
    expect(ran.stdout).toContain('canary: 1.1.0 for 10% of users, 1.0.0 (live) for the rest');
    expect(ran.stdout).toContain(`sequence ${after.sequence}`);
    expect(ran.stdout).toContain('update()');

    // The bundle still verifies as the browser would read it (the live version is unchanged).
    expect((await run(verifyCommand, [dir])).code).toBe(0);
  });

  it('refuses, naming the flag, a share outside 0..1, an unpacked or broken version, the live version as candidate, a bandit of one arm; the channel is left as it was', async () => {
    const dir = await copyBundle(source);
    const before = await readFile(join(dir, 'channel.json'), 'utf8');
    const base = ['--by', 'alice', '--reason', 'try'];

    const share = await run(rolloutCommand, [dir, '--strategy', 'canary', '--candidate', '1.1.0', '--share', '1.5', ...base]);
    expect(share.code).toBe(2);
    expect(share.stderr).toContain('--share must be between 0 and 1');
    expect(share.stderr).toContain('got 1.5');

    const missing = await run(rolloutCommand, [dir, '--strategy', 'shadow', '--candidate', '9.9.9', ...base]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /--candidate 9\.9\.9: .*9\.9\.9\/manifest\.json is missing.*packed versions: 1\.0\.0, 1\.1\.0, 1\.2\.0.*\[FETCH_FAILED\]/,
    );

    const live = await run(rolloutCommand, [dir, '--strategy', 'canary', '--candidate', '1.0.0', '--share', '0.2', ...base]);
    expect(live.code).toBe(2);
    expect(live.stderr).toContain('--candidate 1.0.0 is the live version');

    const oneArm = await run(rolloutCommand, [dir, '--strategy', 'bandit', '--arms', '1.1.0', ...base]);
    expect(oneArm.code).toBe(2);
    expect(oneArm.stderr).toContain('--arms must name at least two different versions');
    const twice = await run(rolloutCommand, [dir, '--strategy', 'bandit', '--arms', '1.1.0,1.1.0', ...base]);
    expect(twice.stderr).toContain('--arms names 1.1.0 more than once');

    // A flag of another strategy is refused, not silently ignored; so is an unknown strategy.
    expect((await run(rolloutCommand, [dir, '--strategy', 'single', '--share', '0.3', ...base])).stderr).toContain(
      '--share applies to --strategy canary, not single',
    );
    expect((await run(rolloutCommand, [dir, '--strategy', 'shadow', '--candidate', '1.1.0', '--share', '0.3', ...base])).stderr).toContain(
      '--share applies to --strategy canary',
    );
    expect((await run(rolloutCommand, [dir, '--strategy', 'blue-green', ...base])).stderr).toContain(
      '--strategy must be one of single, canary, shadow, bandit',
    );
    expect((await run(rolloutCommand, [dir, '--strategy', 'canary', '--candidate', '1.1.0', ...base])).stderr).toContain(
      '--share is required',
    );
    expect((await run(rolloutCommand, [dir, '--strategy', 'canary', '--candidate', '1.1.0', '--share', '5%', ...base])).stderr).toContain(
      '--share must be a number',
    );

    // A candidate whose file fails its hash is refused the way promote refuses it.
    const broken = await copyBundle(dir);
    const model = join(broken, '1.2.0/model.onnx');
    const bytes = await readFile(model);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    await writeFile(model, bytes);
    const tampered = await run(rolloutCommand, [broken, '--strategy', 'bandit', '--arms', '1.0.0,1.2.0', ...base]);
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toMatch(/--arms 1\.2\.0: .*1\.2\.0\/model\.onnx does not match its SHA-256.*\[INTEGRITY_MISMATCH\]/);

    expect(await readFile(join(dir, 'channel.json'), 'utf8')).toBe(before);
    expect(await readFile(join(broken, 'channel.json'), 'utf8')).toBe(before);
  });

  it('shadow and bandit: the live version may be an arm and gets no candidate entry; --strategy single pulls every candidate', async () => {
    const dir = await copyBundle(source);
    const shadow = await run(rolloutCommand, [dir, '--strategy', 'shadow', '--candidate', '1.2.0', '--by', 'bob', '--reason', 'compare']);
    expect(shadow.code, shadow.stderr).toBe(0);
    expect((await readChannel(dir)).rollout).toEqual({ strategy: 'shadow', candidate: '1.2.0', sample: 1 });

    const bandit = await run(rolloutCommand, [
      dir,
      '--strategy',
      'bandit',
      '--arms',
      '1.0.0, 1.1.0,1.2.0',
      '--by',
      'bob',
      '--reason',
      'learn',
    ]);
    expect(bandit.code, bandit.stderr).toBe(0);
    const arms = await readChannel(dir);
    expect(arms.rollout).toEqual({ strategy: 'bandit', arms: ['1.0.0', '1.1.0', '1.2.0'] });
    expect(arms.candidates.map((c) => [c.version, c.sha256])).toEqual([
      ['1.1.0', await manifestSha(dir, '1.1.0')],
      ['1.2.0', await manifestSha(dir, '1.2.0')],
    ]);

    const single = await run(rolloutCommand, [dir, '--strategy', 'single', '--by', 'bob', '--reason', 'complaints', '--expires-in', '7']);
    expect(single.code, single.stderr).toBe(0);
    const after = await readChannel(dir);
    expect(after).toMatchObject({ sequence: arms.sequence + 1, candidates: [], rollout: { strategy: 'single' }, live: arms.live });
    expect(Date.parse(after.expires!) - Date.parse(after.issuedAt)).toBe(7 * 86_400_000);
    expect(single.stdout).toContain('single: 1.0.0 (live) serves everyone');
    expect(single.stdout).toContain('pulled: 1.1.0, 1.2.0');
  });

  it('re-signs with --key (verifySigned passes); without it removes the stale signature and says so', async () => {
    const dir = await copyBundle(source);
    await signBundle({ bundle: dir, key: keys.b.privateKeyPath });
    const unsigned = await run(rolloutCommand, [
      dir,
      '--strategy',
      'canary',
      '--candidate',
      '1.1.0',
      '--share',
      '0.05',
      '--by',
      'a',
      '--reason',
      'b',
    ]);
    expect(unsigned.code, unsigned.stderr).toBe(0);
    expect(unsigned.stdout).toContain(`removed channel.json.sig: its signatures (${keys.b.keyId})`);
    await expect(stat(join(dir, 'channel.json.sig'))).rejects.toThrow();

    const ran = await run(rolloutCommand, [
      dir,
      '--strategy',
      'canary',
      '--candidate',
      '1.1.0',
      '--share',
      '0.2',
      '--by',
      'a',
      '--reason',
      'widen',
      '--key',
      keys.a.privateKeyPath,
    ]);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toContain(`signed channel.json with key ${keys.a.keyId}`);
    const signatures = parseSignatureFile(JSON.parse(await readFile(join(dir, 'channel.json.sig'), 'utf8')), 'channel.json.sig');
    const bytes = new Uint8Array(await readFile(join(dir, 'channel.json')));
    expect(await verifySigned(bytes, signatures, [keys.a.publicKey], 'channel.json')).toBe(keys.a.keyId);
    expect(((await caught(() => verifySigned(bytes, signatures, [keys.b.publicKey], 'channel.json'))) as BundleError).code).toBe(
      'SIGNATURE_INVALID',
    );
    expect((await readChannel(dir)).rollout).toEqual({ strategy: 'canary', candidate: '1.1.0', share: 0.2 });
  });

  it('keeps a rollback marker (live is unchanged) and then requires --key, since browsers refuse an unsigned rollback', async () => {
    const dir = await copyBundle(source);
    const promoted = await run(promoteCommand, [dir, '1.2.0', '--by', 'a', '--reason', 'b']);
    expect(promoted.code, promoted.stderr).toBe(0);
    await rollback({ bundle: dir, version: '1.0.0', by: 'a', reason: 'drift', key: keys.a.privateKeyPath });

    const unsigned = await run(rolloutCommand, [dir, '--strategy', 'shadow', '--candidate', '1.1.0', '--by', 'a', '--reason', 'b']);
    expect(unsigned.code).toBe(2);
    expect(unsigned.stderr).toContain('--key is required: the live 1.0.0 is a rollback from 1.2.0');

    const signed = await rollout({
      bundle: dir,
      policy: { strategy: 'shadow', candidate: '1.1.0', sample: 0.5 },
      by: 'a',
      reason: 'b',
      key: keys.a.privateKeyPath,
    });
    expect(signed.channel.rollback).toEqual({ from: '1.2.0', reason: 'drift' });
    // verify with a pinned key also wants the manifests signed: sign them, then it passes as a signed rollback.
    await signBundle({ bundle: dir, key: keys.a.privateKeyPath });
    const verified = await run(verifyCommand, [dir, '--public-key', keys.a.publicKeyPath]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toContain('a rollback from 1.2.0');
  });

  it('refuses a bundle with nothing live: there is no live version to roll out beside', async () => {
    const out = await temp('unpromoted');
    await pack({ source: fileURLToPath(PENGUINS_BUILD), out, promote: false });
    const error = (await caught(() =>
      rollout({ bundle: join(out, 'penguins'), policy: { strategy: 'single' }, by: 'a', reason: 'b' }),
    )) as BundleError;
    expect(error.code).toBe('FETCH_FAILED');
    expect(error.message).toMatch(/channel\.json is missing: no version is live.*ondevice promote/);
  });
});

describe('ondevice promote during a rollout', () => {
  it('promoting the canary candidate makes it live for everyone and ends the rollout', async () => {
    const dir = await copyBundle(source);
    await rollout({ bundle: dir, policy: { strategy: 'canary', candidate: '1.1.0', share: 0.05 }, by: 'alice', reason: 'try' });
    const during = await readChannel(dir);
    const ran = await run(promoteCommand, [dir, '1.1.0', '--by', 'alice', '--reason', 'canary held up']);
    expect(ran.code, ran.stderr).toBe(0);
    const after = await readChannel(dir);
    expect(after).toMatchObject({
      sequence: during.sequence + 1,
      live: { version: '1.1.0', sha256: during.candidates[0]!.sha256 },
      candidates: [],
      rollout: { strategy: 'single' },
    });
    expect(ran.stdout).toContain('ended the canary rollout (candidates pulled: 1.1.0)');
    expect((await run(promoteCommand, [dir, '--help'])).stdout).toContain('Promoting ends any rollout');
  });
});

describe('the ondevice rollout process', () => {
  it('exits 0 and prints what it did; 2 with the usage for a wrong flag', async () => {
    const dir = await copyBundle(source);
    const ok = await spawnCli([
      'rollout',
      dir,
      '--strategy',
      'canary',
      '--candidate',
      '1.1.0',
      '--share',
      '0.05',
      '--by',
      'alice',
      '--reason',
      'try 1.1.0 on 5%',
      '--key',
      keys.a.privateKeyPath,
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('penguins: canary: 1.1.0 for 5% of users, 1.0.0 (live) for the rest');
    expect(ok.stdout).toMatch(
      /candidate 1\.1\.0: 1\.1\.0\/manifest\.json sha256 [0-9a-f]{16}…, approved by alice at .*: "try 1\.1\.0 on 5%"/,
    );
    expect(ok.stdout).toContain(`signed channel.json with key ${keys.a.keyId}`);
    expect(ok.stdout).toContain('devices pick this up at their next channel check');
    expect((await readChannel(dir)).rollout).toEqual({ strategy: 'canary', candidate: '1.1.0', share: 0.05 });

    const [bad, help, list] = await Promise.all([
      spawnCli(['rollout', dir, '--strategy', 'canary', '--candidate', '1.1.0', '--share', '1.5', '--by', 'a', '--reason', 'b']),
      spawnCli(['rollout', '--help']),
      spawnCli(['--help']),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('ondevice rollout: --share must be between 0 and 1');
    expect(help.code).toBe(0);
    for (const strategy of ['single', 'canary', 'shadow', 'bandit']) expect(help.stdout).toMatch(new RegExp(`^  ${strategy} +\\S`, 'm'));
    expect(help.stdout).toContain('update()');
    expect(list.stdout).toMatch(/^ {2}rollout +share calls/m);
  });
});

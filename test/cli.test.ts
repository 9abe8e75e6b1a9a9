import { createPrivateKey, createPublicKey } from 'node:crypto';
import { cp, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseCsv } from 'csv-parse/sync';
import { stringify as stringifyCsv } from 'csv-stringify/sync';
import { beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf, parseChannel, parseSignatureFile, sha256Hex, verifySigned, type Channel } from '../src/bundle/index.js';
import { UsageError, parseCommandArgs } from '../src/cli/command.js';
import { diffCommand, diffVersions } from '../src/cli/diff.js';
import { keygen, keygenCommand } from '../src/cli/keygen.js';
import { pack, packCommand } from '../src/cli/pack.js';
import { promote, promoteCommand } from '../src/cli/promote.js';
import { rollbackCommand } from '../src/cli/rollback.js';
import { scoreCommand, scoreCsv } from '../src/cli/score.js';
import { signBundle, signCommand } from '../src/cli/sign.js';
import { verifyCommand } from '../src/cli/verify.js';
import { BundleError, InputError } from '../src/errors/index.js';
import { prepareModel } from '../src/model/index.js';
import type { Prediction } from '../src/scoring/index.js';
import { run, spawnCli } from './cli-helpers.js';
import { caught, PENGUINS_BUILD } from './helpers.js';
import { MODELS_DIR, readPackedVersion } from './parity.js';

const HOUSE_BUILD = join(MODELS_DIR, 'house-prices/build');
const temp = (prefix: string): Promise<string> => mkdtemp(join(tmpdir(), `ondevice-cli-${prefix}-`));

async function copyBundle(from: string, name: string): Promise<string> {
  const to = join(await temp('copy'), name);
  await cp(from, to, { recursive: true });
  return to;
}

async function flipByte(path: string): Promise<void> {
  const bytes = await readFile(path);
  bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
  await writeFile(path, bytes);
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
}

const readChannel = async (bundleDir: string): Promise<Channel> =>
  parseChannel(JSON.parse(await readFile(join(bundleDir, 'channel.json'), 'utf8')));

/** A copy of a build folder with model-card.json (and optionally other files) changed. */
async function variant(
  source: string,
  change: (card: Record<string, unknown>) => void,
  edit?: (dir: string) => Promise<void>,
): Promise<string> {
  const dir = await temp('build');
  await cp(source, dir, { recursive: true });
  const card = JSON.parse(await readFile(join(dir, 'model-card.json'), 'utf8')) as Record<string, unknown>;
  change(card);
  await writeFile(join(dir, 'model-card.json'), JSON.stringify(card, null, 1));
  await edit?.(dir);
  return dir;
}

/** JSON with sorted keys: how diff recognises the same row in two sets. */
const rowKey = (row: unknown): string =>
  JSON.stringify(row, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );

async function setRows(folder: string): Promise<unknown[]> {
  const read = async (name: string): Promise<unknown[]> =>
    (JSON.parse(await readFile(join(folder, name), 'utf8')) as { rows: unknown[] }).rows;
  return [...(await read('e2e-set.json')), ...(await read('confidence-set.json'))];
}

/** Writes rows as CSV with a header; null becomes an empty cell. */
async function writeRowsCsv(path: string, rows: readonly Record<string, unknown>[], extra: Record<string, string> = {}): Promise<string[]> {
  const columns = [...Object.keys(rows[0]!), ...Object.keys(extra)];
  const cells = rows.map((row) => columns.map((c) => (c in extra ? extra[c]! : row[c] === null ? '' : String(row[c]))));
  await writeFile(path, stringifyCsv([columns, ...cells]));
  return columns;
}

let bundles: string;
let names: string[];
let keys: { a: Awaited<ReturnType<typeof keygen>>; b: Awaited<ReturnType<typeof keygen>>; dir: string };

beforeAll(async () => {
  bundles = await temp('bundles');
  const packed = await run(packCommand, ['models', '--out', bundles]);
  expect(packed.code, packed.stderr).toBe(0);
  names = (await readdir(bundles)).sort();
  const dir = await temp('keys');
  keys = { a: await keygen(join(dir, 'a')), b: await keygen(join(dir, 'b')), dir };
});

describe('ondevice keygen', () => {
  it('writes a PKCS8 private key readable by its owner only and the raw public key, and prints the key id', async () => {
    const dir = await temp('keygen');
    const ran = await run(keygenCommand, ['--out', join(dir, 'release')]);
    expect(ran.code).toBe(0);
    const pem = await readFile(join(dir, 'release.private.pem'), 'utf8');
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect((await stat(join(dir, 'release.private.pem'))).mode & 0o777).toBe(0o600);
    const publicKey = (await readFile(join(dir, 'release.public'), 'utf8')).trim();
    expect(publicKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(createPublicKey(createPrivateKey(pem)).export({ format: 'jwk' }).x).toBe(publicKey);
    expect(ran.stdout).toContain(`key id ${await keyIdOf(publicKey)}`);
    expect(ran.stdout).toMatch(/do not commit/);

    const again = await run(keygenCommand, ['--out', join(dir, 'release')]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/release\.private\.pem already exists.*\[FILE_EXISTS\]/);
    expect(await readFile(join(dir, 'release.private.pem'), 'utf8')).toBe(pem);
    expect((await run(keygenCommand, [])).code).toBe(2);
  });
});

describe('ondevice sign', () => {
  it('signs channel.json and every manifest: verifySigned passes with the key, fails with another key or a flipped byte; signers add up', async () => {
    const dir = await copyBundle(join(bundles, 'penguins'), 'penguins');
    const ran = await run(signCommand, [dir, '--key', keys.a.privateKeyPath]);
    expect(ran.code, ran.stderr).toBe(0);
    const check = async (file: string, trusted: string[]): Promise<string> => {
      const bytes = new Uint8Array(await readFile(join(dir, file)));
      const signatures = parseSignatureFile(JSON.parse(await readFile(join(dir, `${file}.sig`), 'utf8')), file);
      return verifySigned(bytes, signatures, trusted, file);
    };
    for (const file of ['channel.json', '1.0.0/manifest.json']) {
      expect(await check(file, [keys.a.publicKey])).toBe(keys.a.keyId);
      expect(((await caught(() => check(file, [keys.b.publicKey]))) as BundleError).code).toBe('SIGNATURE_INVALID');
    }

    // A second signer adds a signature; signing again with the first replaces its own.
    await signBundle({ bundle: dir, key: keys.b.privateKeyPath });
    await signBundle({ bundle: dir, key: keys.a.privateKeyPath });
    const sig = JSON.parse(await readFile(join(dir, 'channel.json.sig'), 'utf8')) as { signatures: { keyId: string }[] };
    expect(sig.signatures.map((s) => s.keyId).sort()).toEqual([keys.a.keyId, keys.b.keyId].sort());
    expect(await check('channel.json', [keys.b.publicKey])).toBe(keys.b.keyId);

    await flipByte(join(dir, 'channel.json'));
    const error = (await caught(() => check('channel.json', [keys.a.publicKey, keys.b.publicKey]))) as BundleError;
    expect(error.code).toBe('SIGNATURE_INVALID');
    expect(error.message).toContain('does not verify');
  });
});

describe('ondevice pack (sharing channel writing with promote)', () => {
  it('removes a channel signature that a new channel.json no longer matches, and says so', async () => {
    const out = await temp('repack');
    await pack({ source: fileURLToPath(PENGUINS_BUILD), out });
    await signBundle({ bundle: join(out, 'penguins'), key: keys.a.privateKeyPath });
    const again = await pack({ source: fileURLToPath(PENGUINS_BUILD), out });
    expect(again.signatureNote).toContain(`removed channel.json.sig: its signatures (${keys.a.keyId})`);
    await expect(stat(join(out, 'penguins/channel.json.sig'))).rejects.toThrow();
    // The manifest did not change: its signature stays valid.
    await expect(stat(join(out, 'penguins/1.0.0/manifest.json.sig'))).resolves.toBeDefined();
    expect((await readChannel(join(out, 'penguins'))).sequence).toBe(2);
  });
});

describe('ondevice promote and rollback', () => {
  let dir: string;
  beforeAll(async () => {
    const out = await temp('release');
    await pack({ source: fileURLToPath(PENGUINS_BUILD), out });
    const newer = await variant(fileURLToPath(PENGUINS_BUILD), (card) => (card.version = '1.1.0'));
    await pack({ source: newer, out, promote: false });
    dir = join(out, 'penguins');
    await signBundle({ bundle: dir, key: keys.a.privateKeyPath });
  });

  it('promote: bumps the sequence, records the approval, pins the manifest, removes the stale signature; refuses an older version', async () => {
    const before = await readChannel(dir);
    const ran = await run(promoteCommand, [dir, '1.1.0', '--by', 'alice', '--reason', 'better calibrated', '--expires-in', '30']);
    expect(ran.code, ran.stderr).toBe(0);
    const after = await readChannel(dir);
    expect(after.sequence).toBe(before.sequence + 1);
    expect(after.live).toMatchObject({
      version: '1.1.0',
      manifest: '1.1.0/manifest.json',
      approval: { by: 'alice', reason: 'better calibrated', at: after.issuedAt },
    });
    expect(after.live.sha256).toBe(await sha256Hex(new Uint8Array(await readFile(join(dir, '1.1.0/manifest.json')))));
    expect(Date.parse(after.expires!) - Date.parse(after.issuedAt)).toBe(30 * 86_400_000);
    expect(after.rollback).toBeUndefined();
    // The signature was over the old bytes: removed, and the user is told.
    await expect(stat(join(dir, 'channel.json.sig'))).rejects.toThrow();
    expect(ran.stdout).toContain('removed channel.json.sig');

    const older = await run(promoteCommand, [dir, '1.0.0', '--by', 'alice', '--reason', 'oops']);
    expect(older.code).toBe(1);
    expect(older.stderr).toMatch(/1\.0\.0 is older.*ondevice rollback.*\[ROLLBACK_REFUSED\]/);
    expect(await readChannel(dir)).toEqual(after);

    // With --key the new channel is signed.
    await promote({ bundle: dir, version: '1.1.0', by: 'alice', reason: 'renewed', key: keys.a.privateKeyPath });
    const signed = parseSignatureFile(JSON.parse(await readFile(join(dir, 'channel.json.sig'), 'utf8')), 'channel.json.sig');
    expect(await verifySigned(new Uint8Array(await readFile(join(dir, 'channel.json'))), signed, [keys.a.publicKey], 'channel.json')).toBe(
      keys.a.keyId,
    );
    expect((await readChannel(dir)).sequence).toBe(after.sequence + 1);
  });

  it('promote refuses a version that is missing or whose files fail their hashes', async () => {
    const copy = await copyBundle(dir, 'penguins');
    const before = await readFile(join(copy, 'channel.json'), 'utf8');
    expect((await run(promoteCommand, [copy, '9.9.9', '--by', 'a', '--reason', 'b'])).stderr).toMatch(
      /9\.9\.9\/manifest\.json is missing.*\[FETCH_FAILED\]/,
    );
    await flipByte(join(copy, '1.1.0/model.onnx'));
    const ran = await run(promoteCommand, [copy, '1.1.0', '--by', 'a', '--reason', 'b']);
    expect(ran.code).toBe(1);
    expect(ran.stderr).toMatch(/1\.1\.0\/model\.onnx does not match its SHA-256.*\[INTEGRITY_MISMATCH\]/);
    expect(await readFile(join(copy, 'channel.json'), 'utf8')).toBe(before);
  });

  it('rollback: requires --key, refuses a version that is not older, writes a signed rollback', async () => {
    const before = await readChannel(dir);
    const unsigned = await run(rollbackCommand, [dir, '1.0.0', '--by', 'bob', '--reason', 'drift']);
    expect(unsigned.code).toBe(2);
    expect(unsigned.stderr).toContain('--key is required');
    expect(await readChannel(dir)).toEqual(before);

    const notOlder = await run(rollbackCommand, [dir, '1.1.0', '--by', 'bob', '--reason', 'drift', '--key', keys.a.privateKeyPath]);
    expect(notOlder.stderr).toMatch(/not older.*\[ROLLBACK_REFUSED\]/);

    const ran = await run(rollbackCommand, [
      dir,
      '1.0.0',
      '--by',
      'bob',
      '--reason',
      'accuracy dropped in production',
      '--key',
      keys.a.privateKeyPath,
    ]);
    expect(ran.code, ran.stderr).toBe(0);
    const after = await readChannel(dir);
    expect(after.sequence).toBe(before.sequence + 1);
    expect(after.live).toMatchObject({ version: '1.0.0', approval: { by: 'bob', reason: 'accuracy dropped in production' } });
    expect(after.rollback).toEqual({ from: '1.1.0', reason: 'accuracy dropped in production' });

    const verified = await run(verifyCommand, [dir, '--public-key', keys.a.publicKeyPath]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toContain('a rollback from 1.1.0');
    // Without its signature, a rollback is what browsers refuse.
    await rm(join(dir, 'channel.json.sig'));
    expect((await run(verifyCommand, [dir])).stderr).toMatch(/not signed; browsers refuse an unsigned rollback.*\[ROLLBACK_REFUSED\]/);
  });
});

describe('ondevice verify', () => {
  it('passes on every committed model; --json prints the gate report prepareModel gives', async () => {
    expect(names).toEqual([
      'digits',
      'house-prices-gradient-boosting',
      'house-prices-mlp-onnx',
      'house-prices-mlp-tfjs',
      'house-prices-random-forest',
      'house-prices-ridge',
      'house-prices-xgboost',
      'nsfw-mobilenet',
      'penguins',
      'tone-detector',
    ]);
    for (const name of names) {
      const ran = await run(verifyCommand, [join(bundles, name), '--json']);
      expect(ran.code, `${name}: ${ran.stderr}`).toBe(0);
      const printed = JSON.parse(ran.stdout) as { name: string; version: string; manifestSha256: string; gate: unknown };
      const { manifest, files } = await readPackedVersion(join(bundles, name, '1.0.0'));
      const model = await prepareModel(manifest, files);
      await model.scorer.runtime.dispose();
      expect(printed).toEqual({
        name,
        version: '1.0.0',
        manifestSha256: await sha256Hex(new Uint8Array(await readFile(join(bundles, name, '1.0.0/manifest.json')))),
        gate: JSON.parse(JSON.stringify(model.gate)) as unknown,
      });
      expect(model.gate.passed).toBe(true);
    }
  });

  it('names what it checked, and warns about an expired channel', async () => {
    const dir = await copyBundle(join(bundles, 'penguins'), 'penguins');
    await promote({ bundle: dir, version: '1.0.0', by: 'carol', reason: 'renew', at: '2020-01-01T00:00:00.000Z', expiresInDays: 1 });
    const ran = await run(verifyCommand, [join(dir, 'channel.json')]);
    expect(ran.code, ran.stderr).toBe(0);
    for (const file of ['channel.json', 'manifest.json', 'model.onnx', 'feature-spec.json', 'e2e-set.json', 'confidence-set.json'])
      expect(ran.stdout).toContain(file);
    expect(ran.stdout).toMatch(/warn +.*channel\.json: expired at 2020-01-02/);
    expect(ran.stdout).toMatch(/gate: end-to-end: 26 rows/);
    expect(ran.stdout).toContain('verified penguins 1.0.0');
    // The folder of all bundles is not one bundle: say which to pick.
    expect((await run(verifyCommand, [bundles])).stderr).toMatch(/is a folder of bundles \(digits, .*penguins, tone-detector\)/);
  });

  it('takes a public key that starts with a dash (base64url may), and still reports an option given no value', async () => {
    const command = { ...verifyCommand, run: async () => 0 };
    const io = { stdout: process.stdout, stderr: process.stderr, stderrIsTTY: false };
    const options = { 'public-key': { type: 'string', multiple: true }, json: { type: 'boolean' } } as const;
    const parsed = parseCommandArgs(command, ['bundle', '--public-key', '-Xk9', '--public-key', '--json-like', '--json'], options, io, {
      min: 1,
      max: 1,
      names: 'a bundle',
    });
    expect(parsed?.values).toEqual({ 'public-key': ['-Xk9', '--json-like'], json: true });
    expect(() =>
      parseCommandArgs(command, ['bundle', '--public-key', '--json'], options, io, { min: 1, max: 1, names: 'a bundle' }),
    ).toThrow(UsageError);
  });

  it('fails, naming the file, when any one file of a signed bundle has a flipped byte', async () => {
    const signed = await copyBundle(join(bundles, 'penguins'), 'penguins');
    await signBundle({ bundle: signed, key: keys.a.privateKeyPath });
    const files = await filesUnder(signed);
    expect(files.sort()).toEqual(
      [
        '1.0.0/confidence-set.json',
        '1.0.0/e2e-set.json',
        '1.0.0/feature-spec.json',
        '1.0.0/manifest.json',
        '1.0.0/manifest.json.sig',
        '1.0.0/model.onnx',
        '1.0.0/reference.json',
        'channel.json',
        'channel.json.sig',
      ].sort(),
    );
    for (const file of files) {
      const dir = await copyBundle(signed, 'penguins');
      await flipByte(join(dir, file));
      const ran = await run(verifyCommand, [dir, '--public-key', keys.a.publicKey]);
      expect(ran.code, file).toBe(1);
      // A damaged signature file is reported as the file it signs failing its signature check.
      expect(ran.stderr, file).toContain(join('penguins', file.replace(/\.sig$/, '')));
      expect(ran.stderr, file).toMatch(/\[(INTEGRITY_MISMATCH|SIGNATURE_INVALID)\]\n$/);
    }
  });

  it('fails, naming the file, when any one file of an unsigned TensorFlow.js bundle has a flipped byte', async () => {
    const source = join(bundles, 'house-prices-mlp-tfjs');
    const files = (await filesUnder(source)).filter((f) => f !== 'channel.json');
    expect(files.map((f) => basename(f)).sort()).toEqual([
      'confidence-set.json',
      'e2e-set.json',
      'feature-spec.json',
      'manifest.json',
      'model.json',
      'reference.json',
      'weights.bin',
    ]);
    for (const file of files) {
      const dir = await copyBundle(source, 'house-prices-mlp-tfjs');
      await flipByte(join(dir, file));
      const ran = await run(verifyCommand, [dir]);
      expect(ran.code, file).toBe(1);
      expect(ran.stderr, file).toMatch(
        new RegExp(`house-prices-mlp-tfjs/${file.replace(/\./g, '\\.')} does not match .*\\[INTEGRITY_MISMATCH\\]`),
      );
    }
  });
});

describe('ondevice diff', () => {
  it("compares a regression bundle with a variant on the union of both versions' rows", async () => {
    const out = await temp('diff');
    await pack({ source: join(HOUSE_BUILD, 'ridge'), out });
    // The random forest, renamed as version 2.0.0 of the ridge bundle: a real change of model.
    const candidate = await variant(join(HOUSE_BUILD, 'random-forest'), (card) =>
      Object.assign(card, { name: 'house-prices-ridge', version: '2.0.0' }),
    );
    await pack({ source: candidate, out, promote: false });
    const dir = join(out, 'house-prices-ridge');

    const summary = await diffVersions({ bundle: dir, candidate: '2.0.0' });
    const all = [...(await setRows(join(HOUSE_BUILD, 'ridge'))), ...(await setRows(candidate))];
    const distinct = [...new Map(all.map((row) => [rowKey(row), row])).values()];
    expect(summary.rows).toMatchObject({
      distinct: distinct.length,
      duplicates: all.length - distinct.length,
      compared: distinct.length,
      skipped: 0,
    });

    // The same numbers, computed here from each version's own predictions.
    const predict = async (version: string): Promise<number[]> => {
      const { manifest, files } = await readPackedVersion(join(dir, version));
      const model = await prepareModel(manifest, files);
      const values = model.scorer
        .predictions(await model.scorer.score(distinct))
        .map((p: Prediction) => (p.kind === 'regression' ? p.value : Number.NaN));
      await model.scorer.runtime.dispose();
      return values;
    };
    const [before, after] = [await predict('1.0.0'), await predict('2.0.0')];
    const differences = before.map((b, i) => Math.abs(after[i]! - b));
    expect(summary.values!.absolute.max).toBe(Math.max(...differences));
    expect(summary.values!.absolute.mean).toBeCloseTo(differences.reduce((s, d) => s + d, 0) / differences.length, 6);
    expect(summary.beyondTolerance).toBe(differences.filter((d, i) => d > 1e-5 * Math.max(1, Math.abs(before[i]!))).length);
    expect(summary).toMatchObject({
      task: 'regression',
      tolerance: 1e-5,
      baseline: { version: '1.0.0', live: true },
      candidate: { version: '2.0.0', live: false },
    });

    const ran = await run(diffCommand, [dir, '2.0.0', '--json']);
    expect(ran.code, ran.stderr).toBe(0);
    expect(JSON.parse(ran.stdout)).toEqual(JSON.parse(JSON.stringify(summary)));
  });

  it('scores only rows both versions accept when their fields differ, and counts the rest', async () => {
    const out = await temp('diff-fields');
    await pack({ source: fileURLToPath(PENGUINS_BUILD), out });
    // 1.1.0 also reads an "observer" field, and ships fewer rows.
    const candidate = await variant(
      fileURLToPath(PENGUINS_BUILD),
      (card) => Object.assign(card, { version: '1.1.0', featureSpecVersion: '1.1.0' }),
      async (build) => {
        const edit = async (file: string, change: (json: Record<string, unknown[]>) => void): Promise<void> => {
          const json = JSON.parse(await readFile(join(build, file), 'utf8')) as Record<string, unknown[]>;
          change(json);
          await writeFile(join(build, file), JSON.stringify(json));
        };
        const withObserver = (rows: unknown[]): unknown[] => rows.map((row) => ({ ...(row as object), observer: 'Kristen' }));
        await edit('feature-spec.json', (spec) => {
          spec.fields!.push({ name: 'observer', type: 'category' });
          (spec as unknown as { version: string }).version = '1.1.0';
        });
        await edit('e2e-set.json', (set) => (set.rows = withObserver(set.rows!)));
        await edit('confidence-set.json', (set) => {
          set.rows = withObserver(set.rows!.slice(0, 40));
          set.labels = set.labels!.slice(0, 40);
        });
      },
    );
    await pack({ source: candidate, out, promote: false });

    const summary = await diffVersions({ bundle: join(out, 'penguins'), candidate: '1.1.0' });
    const distinct = (rows: unknown[]): number => new Set(rows.map(rowKey)).size;
    const baseRows = distinct(await setRows(fileURLToPath(PENGUINS_BUILD)));
    const candRows = distinct(await setRows(candidate));
    expect(summary.rows).toMatchObject({ compared: candRows, skipped: baseRows, distinct: baseRows + candRows });
    expect(summary.skippedExamples[0]!.reason).toContain('1.1.0 needs field "observer"');
    // Same model, same features: nothing moves.
    expect(summary.labels).toMatchObject({ changed: 0, examples: [] });
    expect(summary.probabilities).toMatchObject({ count: candRows * 3, max: 0 });
    expect(summary.beyondTolerance).toBe(0);

    const ran = await run(diffCommand, [join(out, 'penguins'), '1.1.0']);
    expect(ran.stdout).toContain(`rows compared: ${candRows} of ${baseRows + candRows} distinct`);
    expect(ran.stdout).toContain(`${baseRows} skipped`);
    expect(ran.stdout).toContain('labels changed: 0 of');
  });
});

describe('ondevice score', () => {
  it('streams a CSV (regression, empty cells as null) and writes the predictions prepareModel gives', async () => {
    const dir = await temp('score');
    const confidence = JSON.parse(await readFile(join(HOUSE_BUILD, 'ridge/confidence-set.json'), 'utf8')) as {
      rows: Record<string, unknown>[];
    };
    expect(confidence.rows.some((row) => Object.values(row).includes(null))).toBe(true);
    const columns = await writeRowsCsv(join(dir, 'in.csv'), confidence.rows, { note: 'copied through' });

    const ran = await run(scoreCommand, [
      join(bundles, 'house-prices-ridge'),
      join(dir, 'in.csv'),
      '--out',
      join(dir, 'out.csv'),
      '--batch',
      '100',
    ]);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stderr).toMatch(/scored 733 rows with house-prices-ridge 1\.0\.0 .* rows\/s/);

    const output = parseCsv(await readFile(join(dir, 'out.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
    expect(Object.keys(output[0]!)).toEqual([...columns, 'prediction']);
    const { manifest, files } = await readPackedVersion(join(bundles, 'house-prices-ridge/1.0.0'));
    const model = await prepareModel(manifest, files);
    const expected = model.scorer.predictions(await model.scorer.score(confidence.rows));
    await model.scorer.runtime.dispose();
    expect(output.map((row) => Number(row.prediction))).toEqual(expected.map((p) => (p.kind === 'regression' ? p.value : Number.NaN)));
    expect(output.every((row) => row.note === 'copied through')).toBe(true);
  });

  it('classification: label and p_<class> per class; --on-error skip leaves bad rows out and counts them; stop names the row and line', async () => {
    const dir = await temp('score-skip');
    const e2e = JSON.parse(await readFile(new URL('e2e-set.json', PENGUINS_BUILD), 'utf8')) as { rows: Record<string, unknown>[] };
    const rows = e2e.rows.map((row, i) => (i === 2 ? { ...row, island: 'Atlantis' } : i === 5 ? { ...row, bill_length_mm: 'long' } : row));
    await writeRowsCsv(join(dir, 'in.csv'), rows);

    const skipped: string[] = [];
    const summary = await scoreCsv({
      bundle: join(bundles, 'penguins'),
      input: join(dir, 'in.csv'),
      output: join(dir, 'out.csv'),
      onError: 'skip',
      batchRows: 4,
      onSkip: (s) => skipped.push(s.message),
    });
    expect(summary).toMatchObject({
      rows: 26,
      scored: 24,
      skipped: 2,
      predictionColumns: ['label', 'p_Adelie', 'p_Chinstrap', 'p_Gentoo'],
    });
    expect(skipped).toEqual([
      expect.stringMatching(/^row 3 \(line 4\): field "island" has unknown category "Atlantis"/),
      expect.stringMatching(/^row 6 \(line 7\): field "bill_length_mm" must be a number or null/),
    ]);

    const output = parseCsv(await readFile(join(dir, 'out.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
    const kept = e2e.rows.filter((_, i) => i !== 2 && i !== 5);
    const { manifest, files } = await readPackedVersion(join(bundles, 'penguins/1.0.0'));
    const model = await prepareModel(manifest, files);
    const expected = model.scorer.predictions(await model.scorer.score(kept));
    await model.scorer.runtime.dispose();
    expect(output).toHaveLength(24);
    output.forEach((row, i) => {
      const p = expected[i]!;
      if (p.kind !== 'classification') throw new Error('expected a classification');
      expect(row.label).toBe(p.label);
      for (const c of ['Adelie', 'Chinstrap', 'Gentoo']) expect(Number(row[`p_${c}`])).toBe(p.probabilities[c]);
    });

    const stop = (await caught(() =>
      scoreCsv({ bundle: join(bundles, 'penguins'), input: join(dir, 'in.csv'), output: join(dir, 'stopped.csv') }),
    )) as InputError;
    expect(stop).toBeInstanceOf(InputError);
    expect(stop.code).toBe('UNKNOWN_CATEGORY');
    expect(stop.message).toMatch(/^row 3 \(line 4\): field "island"/);
    // Written whole or not at all.
    expect((await readdir(dir)).sort()).toEqual(['in.csv', 'out.csv']);
  });

  it("reads the training data's own missing markers (pandas' NA values) as missing in every column; --na chooses them", async () => {
    const penguinsCsv = join(MODELS_DIR, 'penguins/data/penguins.csv');
    const dir = await temp('score-na');
    // The library's own data: "NA" in number columns and in the sex category.
    expect(await readFile(penguinsCsv, 'utf8')).toMatch(/,NA,/);
    const summary = await scoreCsv({ bundle: join(bundles, 'penguins'), input: penguinsCsv, output: join(dir, 'out.csv') });
    expect(summary).toMatchObject({ rows: 344, scored: 344, skipped: 0 });
    // With only empty cells as missing, "NA" is text: in a number column, the wrong type (row 4 is the first with one).
    const strict = (await caught(() =>
      scoreCsv({ bundle: join(bundles, 'penguins'), input: penguinsCsv, output: join(dir, 'strict.csv'), na: [''] }),
    )) as InputError;
    expect(strict).toMatchObject({ code: 'WRONG_TYPE', details: { field: 'bill_length_mm', row: 4 } });
    // A marker that is also a level is reported (that level could never be sent).
    const warnings: string[] = [];
    await scoreCsv({
      bundle: join(bundles, 'penguins'),
      input: penguinsCsv,
      output: join(dir, 'warned.csv'),
      na: ['', 'NA', 'male'],
      onWarning: (m) => warnings.push(m),
    });
    expect(warnings).toEqual([expect.stringContaining('field "sex" has the level "male", which --na reads as missing')]);
    const help = await run(scoreCommand, ['--help']);
    expect(help.stdout).toContain('--na <markers>');
  });

  it('refuses a CSV without a column the model needs, and a tensor bundle', async () => {
    const dir = await temp('score-refuse');
    const e2e = JSON.parse(await readFile(new URL('e2e-set.json', PENGUINS_BUILD), 'utf8')) as { rows: Record<string, unknown>[] };
    await writeRowsCsv(
      join(dir, 'in.csv'),
      e2e.rows.map(({ sex: _sex, ...row }) => row),
    );
    const missing = await run(scoreCommand, [join(bundles, 'penguins'), join(dir, 'in.csv')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/lacks the column the model needs: sex .*\[MISSING_COLUMN\]/);
    const tensor = await run(scoreCommand, [join(bundles, 'digits'), join(dir, 'in.csv')]);
    expect(tensor.stderr).toMatch(/digits takes tensors .*\[NOT_TABULAR\]/);
    expect((await run(scoreCommand, [join(bundles, 'penguins'), join(dir, 'in.csv'), '--on-error', 'ignore'])).code).toBe(2);
  });
});

describe('the ondevice process', () => {
  it('exits 0 with output, 1 naming the failure and its code, 2 for a wrong command line', async () => {
    const tampered = await copyBundle(join(bundles, 'penguins'), 'penguins');
    await flipByte(join(tampered, '1.0.0/model.onnx'));
    const csvDir = await temp('spawn');
    const e2e = JSON.parse(await readFile(new URL('e2e-set.json', PENGUINS_BUILD), 'utf8')) as { rows: Record<string, unknown>[] };
    await writeRowsCsv(join(csvDir, 'in.csv'), e2e.rows);

    const [ok, bad, usage, scored, unknown] = await Promise.all([
      spawnCli(['verify', join(bundles, 'penguins'), '--json']),
      spawnCli(['verify', tampered]),
      spawnCli(['rollback', join(bundles, 'penguins'), '1.0.0', '--by', 'x', '--reason', 'y']),
      spawnCli(['score', join(bundles, 'penguins'), join(csvDir, 'in.csv')]),
      spawnCli(['frobnicate']),
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ name: 'penguins', version: '1.0.0', gate: { passed: true } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(
      /^ondevice: .*penguins\/1\.0\.0\/model\.onnx does not match its SHA-256: expected [0-9a-f]{64}, got [0-9a-f]{64} \[INTEGRITY_MISMATCH\]$/m,
    );
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('ondevice rollback: --key is required');
    expect(scored.code, scored.stderr).toBe(0);
    expect(scored.stdout.split('\n')[0]).toBe(
      'island,sex,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,label,p_Adelie,p_Chinstrap,p_Gentoo',
    );
    expect(scored.stdout.trim().split('\n')).toHaveLength(27);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
  });
});

describe('ondevice pack reports sizes', () => {
  it("prints each file's size and the test sets' share, and warns when the sets are most of the bundle", async () => {
    const out = await temp('sizes');
    const ran = await run(packCommand, [fileURLToPath(PENGUINS_BUILD), '--out', out]);
    expect(ran.code, ran.stderr).toBe(0);
    const manifest = JSON.parse(await readFile(join(out, 'penguins/1.0.0/manifest.json'), 'utf8')) as {
      files: Record<string, { path: string; size: number }>;
    };
    const sizes = Object.values(manifest.files);
    for (const file of sizes) expect(ran.stdout).toContain(`${file.path} ${file.size.toLocaleString('en-US')} B`);
    const sets = manifest.files.e2eSet!.size + manifest.files.confidenceSet!.size;
    const share = ((100 * sets) / sizes.reduce((sum, file) => sum + file.size, 0)).toFixed(1);
    expect(ran.stdout).toContain(`test sets ${share}%`);
    expect(Number(share)).toBeGreaterThan(50);
    expect(ran.stderr).toContain(`its test sets are ${share}% of the bundle`);
  });
});

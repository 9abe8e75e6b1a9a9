import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { contentHashOf, parseChannel, parseManifest, presentRoles, sha256Hex } from '../src/bundle/index.js';
import { pack } from '../src/cli/pack.js';
import { BundleError } from '../src/errors/index.js';
import { PENGUINS_BUILD, caught } from './helpers.js';
import { packToTemp } from './pack-helpers.js';

describe('ondevice pack', () => {
  it('lists every file with its size and SHA-256, the versions and the metadata', async () => {
    const { out, result, manifestJson } = await packToTemp();
    const manifest = parseManifest(manifestJson);
    expect(presentRoles(manifest.files)).toEqual(['model', 'featureSpec', 'e2eSet', 'confidenceSet', 'reference']);
    for (const role of presentRoles(manifest.files)) {
      const bytes = await readFile(join(out, 'penguins', '1.0.0', manifest.files[role]!.path));
      expect(manifest.files[role]!.size).toBe(bytes.byteLength);
      expect(manifest.files[role]!.sha256).toBe(await sha256Hex(bytes));
    }
    expect(manifest.contentHash).toBe(await contentHashOf(manifest.files, sha256Hex));
    expect(manifest.versions).toMatchObject({ model: '1.0.0', featureSpec: '1.0.0' });
    expect(manifest.versions.data).toMatch(/^palmerpenguins@sha256:[0-9a-f]{64}$/);
    expect(manifest.metadata).toMatchObject({ algorithm: { name: 'LogisticRegression' }, training: { library: 'scikit-learn' } });

    expect(manifest.metadata.features.map((f) => f.name)).toEqual([
      'bill_length_mm',
      'bill_depth_mm',
      'flipper_length_mm',
      'body_mass_g',
      'island',
      'sex',
    ]);
    expect(manifest.metadata.outputs).toEqual([expect.objectContaining({ name: 'probabilities', type: 'float[N, 3]' })]);
    expect(manifest.metadata.build).toEqual({ by: expect.any(String), at: expect.any(String) });

    const channel = parseChannel(JSON.parse(await readFile(result.channelPath!, 'utf8')));
    expect(channel.sequence).toBe(1);
    expect(channel.live).toMatchObject({
      version: '1.0.0',
      manifest: '1.0.0/manifest.json',
      sha256: await sha256Hex(await readFile(result.manifestPath)),
    });
    expect(channel.live.approval).toMatchObject({ by: manifest.metadata.build.by });
  });

  it('is deterministic: packing the same files again changes nothing', async () => {
    const { out, result } = await packToTemp();
    const before = await readFile(result.manifestPath);
    const again = await pack({ source: fileURLToPath(PENGUINS_BUILD), out });
    expect(again.written).toBe(false);
    expect(await readFile(again.manifestPath)).toEqual(before);
  });

  it('never overwrites a version with other content', async () => {
    const { out } = await packToTemp();
    const changed = await mkdtemp(join(tmpdir(), 'ondevice-src-'));
    await cp(fileURLToPath(PENGUINS_BUILD), changed, { recursive: true });
    const e2e = JSON.parse(await readFile(join(changed, 'e2e-set.json'), 'utf8')) as { rows: unknown[] };
    await writeFile(join(changed, 'e2e-set.json'), JSON.stringify({ ...e2e, rows: e2e.rows }, null, 2));
    const error = await caught(() => pack({ source: changed, out }));
    expect(error).toBeInstanceOf(BundleError);
    expect((error as BundleError).message).toContain('give the new model a new version');
  });

  it('refuses a build folder with an invalid feature spec, naming the problem', async () => {
    const changed = await mkdtemp(join(tmpdir(), 'ondevice-src-'));
    await cp(fileURLToPath(PENGUINS_BUILD), changed, { recursive: true });
    await writeFile(join(changed, 'feature-spec.json'), JSON.stringify({ format: 'ondevice/feature-spec', formatVersion: 2 }));
    const out = await mkdtemp(join(tmpdir(), 'ondevice-out-'));
    const error = (await caught(() => pack({ source: changed, out }))) as BundleError;
    expect(error.code).toBe('INVALID_FEATURE_SPEC');
    expect(error.message).toContain('formatVersion');
  });

  it('packs reference.json as the optional reference role, hashed like every file', async () => {
    const { out, manifestJson } = await packToTemp();
    const manifest = parseManifest(manifestJson);
    const source = await readFile(new URL('reference.json', PENGUINS_BUILD));
    expect(manifest.files.reference).toEqual({ path: 'reference.json', size: source.byteLength, sha256: await sha256Hex(source) });
    expect(await readFile(join(out, 'penguins', '1.0.0', 'reference.json'))).toEqual(source);
  });

  it('packs a build folder without reference.json, without the role', async () => {
    const changed = await copyOfPenguins();
    await rm(join(changed, 'reference.json'));
    const out = await mkdtemp(join(tmpdir(), 'ondevice-out-'));
    const manifest = (await pack({ source: changed, out })).manifest;
    expect(presentRoles(manifest.files)).toEqual(['model', 'featureSpec', 'e2eSet', 'confidenceSet']);
    expect(manifest.files.reference).toBeUndefined();
  });

  it('refuses a malformed reference.json with INVALID_REFERENCE, naming the file and the place in it', async () => {
    const reference = JSON.parse(await readFile(new URL('reference.json', PENGUINS_BUILD), 'utf8')) as {
      featureMeans: number[];
      fields: { name: string }[];
      output: { levels: string[] };
    };
    const cases: [string, (changed: string) => Promise<void>, string][] = [
      [
        'featureMeans',
        (dir) => writeReference(dir, { ...reference, featureMeans: reference.featureMeans.slice(1) }),
        'but the feature spec makes 9 columns',
      ],
      [
        'fields[0].frequencies',
        (dir) =>
          writeReference(dir, { ...reference, fields: [{ ...reference.fields[0], frequencies: [0.5] }, ...reference.fields.slice(1)] }),
        'must sum to 1',
      ],
      [
        'fields[0].name',
        (dir) => writeReference(dir, { ...reference, fields: [{ ...reference.fields[0], name: 'beak' }, ...reference.fields.slice(1)] }),
        'is "beak", which is not a field of the feature spec',
      ],
      [
        'fields[0].type',
        (dir) =>
          writeReference(dir, { ...reference, fields: [{ ...reference.fields[4], name: 'bill_length_mm' }, ...reference.fields.slice(1)] }),
        'is category; the feature spec\'s "bill_length_mm" is a number',
      ],
      [
        'output.levels',
        (dir) => writeReference(dir, { ...reference, output: { ...reference.output, levels: ['Gentoo', 'Adelie', 'Chinstrap'] } }),
        'the classes are Adelie, Chinstrap, Gentoo',
      ],
      ['(root)', (dir) => writeFile(join(dir, 'reference.json'), '{"format": '), 'is not JSON'],
    ];
    for (const [path, spoil, why] of cases) {
      const changed = await copyOfPenguins();
      await spoil(changed);
      const out = await mkdtemp(join(tmpdir(), 'ondevice-out-'));
      const error = (await caught(() => pack({ source: changed, out }))) as BundleError;
      expect(error, path).toBeInstanceOf(BundleError);
      expect(error.code, path).toBe('INVALID_REFERENCE');
      expect(error.details.path, path).toBe(path);
      expect(error.details.file, path).toContain(join(changed, 'reference.json'));
      expect(error.message, path).toContain(join(changed, 'reference.json'));
      expect(error.message, path).toContain(why);
      expect(await readdir(out), path).toEqual([]);
    }
  });
});

async function copyOfPenguins(): Promise<string> {
  const changed = await mkdtemp(join(tmpdir(), 'ondevice-src-'));
  await cp(fileURLToPath(PENGUINS_BUILD), changed, { recursive: true });
  return changed;
}

async function writeReference(dir: string, reference: unknown): Promise<void> {
  await writeFile(join(dir, 'reference.json'), JSON.stringify(reference));
}

describe('manifest and channel parsing', () => {
  it('refuses a file path that climbs out of the version folder', async () => {
    const { manifestJson } = await packToTemp();
    const bad = structuredClone(manifestJson) as { files: { model: { path: string } } };
    bad.files.model.path = '../../evil.onnx';
    const error = (await caught(() => parseManifest(bad))) as BundleError;
    expect(error.code).toBe('INVALID_MANIFEST');
    expect(error.details.path).toBe('files.model.path');
  });

  it('packs a model variant as its own file role, hashed into the content, and refuses variants that do not add up', async () => {
    const mlp = fileURLToPath(new URL('../models/house-prices/build/mlp-onnx/', import.meta.url));
    const { manifestJson } = await packToTemp(mlp);
    const manifest = parseManifest(manifestJson);
    expect(presentRoles(manifest.files)).toEqual(['model', 'featureSpec', 'e2eSet', 'confidenceSet', 'reference', 'variant.int8']);
    expect(manifest.files['variant.int8']!.path).toBe('model.int8.onnx');
    expect(manifest.contentHash).toBe(await contentHashOf(manifest.files, sha256Hex));
    expect(manifest.variants).toEqual([
      expect.objectContaining({ name: 'int8', backends: ['wasm'], gate: { tolerance: 0.07, metric: { name: 'r2', range: [0.85, 1] } } }),
    ]);

    type Json = { files: Record<string, unknown>; variants?: Record<string, unknown>[]; runtime?: string };
    const refused: [string, (m: Json) => void, string][] = [
      ['a variant without its file', (m) => delete m.files['variant.int8'], 'variants[0].name'],
      ['a variant file without an entry', (m) => delete m.variants, 'files.variant.int8'],
      ['a name that is not a plain word', (m) => (m.variants![0]!.name = 'Int 8'), 'variants[0].name'],
      ['no backend', (m) => (m.variants![0]!.backends = []), 'variants[0].backends'],
      ['an unknown backend', (m) => (m.variants![0]!.backends = ['npu']), 'variants[0].backends[0]'],
      ['a negative tolerance', (m) => ((m.variants![0]!.gate as { tolerance: number }).tolerance = -1), 'variants[0].gate.tolerance'],
      ['a repeated name', (m) => m.variants!.push(structuredClone(m.variants![0]!)), 'variants[1].name'],
    ];
    for (const [, mutate, path] of refused) {
      const bad = structuredClone(manifestJson) as Json;
      mutate(bad);
      const error = (await caught(() => parseManifest(bad))) as BundleError;
      expect(error).toBeInstanceOf(BundleError);
      expect({ code: error.code, path: error.details.path }).toEqual({ code: 'INVALID_MANIFEST', path });
    }
  });

  it('refuses a channel without a manifest hash', async () => {
    const error = (await caught(() =>
      parseChannel({
        format: 'ondevice/channel',
        formatVersion: 2,
        name: 'x',
        sequence: 1,
        issuedAt: '2026-01-01T00:00:00Z',
        live: { version: '1', manifest: 'm.json' },
      }),
    )) as BundleError;
    expect(error.code).toBe('INVALID_CHANNEL');
  });
});

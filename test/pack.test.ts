import { cp, mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  contentHashOf,
  DEFAULT_METADATA_CAPS,
  MAX_JSON_DEPTH,
  parseChannel,
  parseManifest,
  presentRoles,
  sha256Hex,
} from '../src/bundle/index.js';
import { MANIFEST_CEILINGS } from '../src/bundle/manifest.js';
import { describeFailure } from '../src/cli/command.js';
import { CliError } from '../src/cli/errors.js';
import { readOnnxInputs, specInputs } from '../src/cli/onnx-inputs.js';
import { findBuildFolders, pack, packAll, packCommand } from '../src/cli/pack.js';
import { findBareToken } from '../src/cli/source-json.js';
import { BundleError, OndeviceError } from '../src/errors/index.js';
import { parseFeatureSpec } from '../src/features/index.js';
import { SPEC_CEILINGS } from '../src/features/spec.js';
import { run } from './cli-helpers.js';
import { PENGUINS_BUILD, caught } from './helpers.js';
import { copyOfBuild, editJson, nested, packToTemp, writePythonJson } from './pack-helpers.js';

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

const HOUSE = (model: string): URL => new URL(`../models/house-prices/build/${model}/`, import.meta.url);
const DIGITS_BUILD = new URL('../models/digits/build/', import.meta.url);

/** Packs `source` into a fresh folder: the error it throws, and what the folder holds after. */
async function refusal(source: string): Promise<{ error: OndeviceError; written: string[] }> {
  const out = await mkdtemp(join(tmpdir(), 'ondevice-out-'));
  const error = await caught(() => pack({ source, out }));
  expect(error).toBeInstanceOf(OndeviceError);
  return { error: error as OndeviceError, written: await readdir(out) };
}

describe('pack refuses NaN and Infinity in the JSON it reads', () => {
  type Case = [file: string, spoil: (json: Record<string, unknown>) => void, path: string, why: string];
  const cases: Case[] = [
    ['e2e-set.json', (j) => ((j.rows as Record<string, unknown>[])[12]!.bill_length_mm = '<NaN>'), 'rows[12].bill_length_mm', 'is NaN'],
    [
      'confidence-set.json',
      (j) => ((j.rows as Record<string, unknown>[])[3]!.body_mass_g = '<Infinity>'),
      'rows[3].body_mass_g',
      'is Infinity',
    ],
    ['feature-spec.json', (j) => (j.limits = { maxBatchRows: '<-Infinity>' }), 'limits.maxBatchRows', 'is -Infinity'],
    ['model-card.json', (j) => ((j.gate as Record<string, unknown>).tolerance = '<NaN>'), 'gate.tolerance', 'is NaN'],
    ['model-card.json', (j) => (j.notes = { 'odd key': ['<NaN>'] }), 'notes["odd key"][0]', 'is NaN'],
    ['reference.json', (j) => ((j.featureMeans as unknown[])[2] = '<NaN>'), 'featureMeans[2]', 'is NaN'],
  ];

  const named = cases.map(([file, spoil, path, why]) => ({ file, spoil, path, why }));
  it.each(named)('$file: $path, as INVALID_JSON naming the file and the path', async ({ file, spoil, path, why }) => {
    const dir = await copyOfBuild();
    const json = JSON.parse(await readFile(join(dir, file), 'utf8')) as Record<string, unknown>;
    spoil(json);
    await writePythonJson(dir, file, json);
    const { error, written } = await refusal(dir);
    expect({ code: error.code, path: error.details.path, file: error.details.file }).toEqual({
      code: 'INVALID_JSON',
      path,
      file: join(dir, file),
    });
    expect(error.message).toBe(`${join(dir, file)}: ${path} ${why} ${error.message.slice(error.message.indexOf('('))}`);
    expect(error.message).toContain(why === 'is NaN' ? 'write null for a missing value' : 'JSON has no infinity');
    expect(written).toEqual([]);
  });

  it('refuses a number too large for a double (it parses as Infinity), naming the path', async () => {
    const dir = await copyOfBuild();
    const text = await readFile(join(dir, 'e2e-set.json'), 'utf8');
    await writeFile(join(dir, 'e2e-set.json'), text.replace('"body_mass_g": 3475.0', '"body_mass_g": 1e999'));
    const { error } = await refusal(dir);
    expect({ code: error.code, path: error.details.path }).toEqual({ code: 'INVALID_JSON', path: 'rows[1].body_mass_g' });
    expect(error.message).toContain('too large for a double');
  });

  it('refuses other broken JSON with a typed error naming the file, never a raw SyntaxError', async () => {
    const dir = await copyOfBuild();
    await writeFile(join(dir, 'model-card.json'), '{"name": "penguins",}');
    const { error } = await refusal(dir);
    expect(error).toBeInstanceOf(BundleError);
    expect({ code: error.code, file: error.details.file }).toEqual({ code: 'INVALID_JSON', file: join(dir, 'model-card.json') });
    expect(error.message).toContain(`${join(dir, 'model-card.json')} is not valid JSON`);
    expect(describeFailure(error)).not.toMatch(/\n\s+at /);
  });

  it('finds the token past strings, escapes and nesting, and only in a value place', () => {
    expect(findBareToken('{"a": "NaN", "b\\"NaN": [1, [2, {"c": Infinity}]]}')).toEqual({ token: 'Infinity', path: '["b\\"NaN"][1][1].c' });
    expect(findBareToken('[{"x": 1}, {"x": -Infinity}]')).toEqual({ token: '-Infinity', path: '[1].x' });
    expect(findBareToken('{"rows": [{"Infinity": 2}, NaN]}')).toEqual({ token: 'NaN', path: 'rows[1]' });
    expect(findBareToken('{"a": Nope}')).toBeUndefined();
  });
});

describe('pack refuses past the ceilings the loader enforces', () => {
  it("the feature spec's (SPEC_CEILINGS), as INVALID_FEATURE_SPEC naming the file", async () => {
    const cases: [URL, (spec: Record<string, unknown>) => void, string][] = [
      [PENGUINS_BUILD, (s) => (s.limits = { maxBatchRows: SPEC_CEILINGS.maxBatchRows + 1 }), 'limits.maxBatchRows'],
      [PENGUINS_BUILD, (s) => (s.limits = { maxStringLength: SPEC_CEILINGS.maxStringLength + 1 }), 'limits.maxStringLength'],
      [DIGITS_BUILD, (s) => ((s.tensors as Record<string, unknown>[])[0]!.shape = ['batch', 4096, 4096, 2]), 'tensors[0].shape'],
    ];
    for (const [build, spoil, path] of cases) {
      const dir = await copyOfBuild(build);
      await editJson(dir, 'feature-spec.json', spoil);
      const { error, written } = await refusal(dir);
      expect({ code: error.code, path: error.details.path, file: error.details.file }, path).toEqual({
        code: 'INVALID_FEATURE_SPEC',
        path,
        file: join(dir, 'feature-spec.json'),
      });
      expect(error.message, path).toContain(`${join(dir, 'feature-spec.json')}: feature spec: ${path}`);
      expect(written, path).toEqual([]);
    }
  });

  it('JSON nested deeper than MAX_JSON_DEPTH, in a file or in the manifest pack would write', async () => {
    const deep = await copyOfBuild();
    await editJson<{ rows: Record<string, unknown>[] }>(deep, 'e2e-set.json', (j) => (j.rows[0]!.island = nested(MAX_JSON_DEPTH + 2)));
    const file = await refusal(deep);
    expect(file.error.code).toBe('INVALID_JSON');
    expect(file.error.details).toMatchObject({ file: join(deep, 'e2e-set.json'), limit: MAX_JSON_DEPTH });
    expect(file.error.message).toBe(`${join(deep, 'e2e-set.json')} is nested more than ${MAX_JSON_DEPTH} levels deep`);

    // The card is within the depth; its metadata sits one level deeper in the manifest.
    const card = await copyOfBuild();
    await editJson(card, 'model-card.json', (j) => (j.notes = nested(MAX_JSON_DEPTH - 1)));
    const manifest = await refusal(card);
    expect(manifest.error.code).toBe('INVALID_JSON');
    expect(manifest.error.details.file).toBe(join(card, 'model-card.json'));
    expect(manifest.error.message).toContain('the manifest built from it is nested more than');
    expect(manifest.written).toEqual([]);
  });

  it("a manifest past the browser's manifest cap, as TOO_LARGE naming the model card", async () => {
    const dir = await copyOfBuild();
    await editJson(dir, 'model-card.json', (j) => (j.notes = 'x'.repeat(DEFAULT_METADATA_CAPS.manifestBytes)));
    const { error, written } = await refusal(dir);
    expect(error.code).toBe('TOO_LARGE');
    expect(error.details).toMatchObject({ file: join(dir, 'model-card.json'), limit: DEFAULT_METADATA_CAPS.manifestBytes });
    expect(written).toEqual([]);
  });

  it('more variants than MANIFEST_CEILINGS.variants, as INVALID_MANIFEST naming the model card', async () => {
    const dir = await copyOfBuild(HOUSE('mlp-onnx'));
    await editJson<{ variants: Record<string, unknown>[] }>(dir, 'model-card.json', (j) => {
      j.variants = Array.from({ length: MANIFEST_CEILINGS.variants + 1 }, (_, i) => ({ ...j.variants[0], name: `v${i}` }));
    });
    const { error, written } = await refusal(dir);
    expect({ code: error.code, path: error.details.path, file: error.details.file }).toEqual({
      code: 'INVALID_MANIFEST',
      path: 'variants',
      file: join(dir, 'model-card.json'),
    });
    expect(error.message).toContain(`at most ${MANIFEST_CEILINGS.variants}`);
    expect(written).toEqual([]);
  });

  it('a file past MANIFEST_CEILINGS.fileBytes, as TOO_LARGE before reading it', async () => {
    const dir = await copyOfBuild();
    // Sparse: no gigabyte is written or read.
    await truncate(join(dir, 'model.onnx'), MANIFEST_CEILINGS.fileBytes + 1);
    const { error, written } = await refusal(dir);
    expect(error.code).toBe('TOO_LARGE');
    expect(error.details).toMatchObject({ file: join(dir, 'model.onnx'), limit: MANIFEST_CEILINGS.fileBytes });
    expect(written).toEqual([]);
    await rm(dir, { recursive: true, force: true });
  });
});

describe('pack of several build folders', () => {
  /** A folder holding build folders a/ and b/ (penguins copies), each changed by its function. */
  async function twoFolders(a: (dir: string) => Promise<void>, b: (dir: string) => Promise<void>): Promise<string> {
    const root = await mkdtemp(join(tmpdir(), 'ondevice-models-'));
    await a(await copyOfBuild(PENGUINS_BUILD, join(root, 'a')));
    await b(await copyOfBuild(PENGUINS_BUILD, join(root, 'b')));
    return root;
  }
  const renamed =
    (name: string, version = '1.0.0') =>
    (dir: string) =>
      editJson(dir, 'model-card.json', (j) => Object.assign(j, { name, version }));

  it('checks every folder before it writes any: one bad folder, nothing written, the folder named', async () => {
    const root = await twoFolders(renamed('first'), async (dir) => {
      await renamed('second')(dir);
      await writeFile(join(dir, 'confidence-set.json'), '{"rows": [NaN]}');
    });
    const out = await mkdtemp(join(tmpdir(), 'ondevice-out-'));
    const ran = await run(packCommand, [root, '--out', out]);
    expect(ran.code).toBe(1);
    expect(ran.stderr).toContain(`${join(root, 'b', 'confidence-set.json')}: rows[0] is NaN`);
    expect(ran.stderr).toContain('[INVALID_JSON]');
    expect(ran.stdout).toBe('');
    expect(await readdir(out)).toEqual([]);

    await writeFile(join(root, 'b', 'confidence-set.json'), await readFile(new URL('confidence-set.json', PENGUINS_BUILD)));
    const fixed = await run(packCommand, [root, '--out', out]);
    expect(fixed.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['first', 'second']);
  });

  it('refuses two folders packing the same version differently, and promotions that would roll back', async () => {
    const differ = await twoFolders(renamed('same'), async (dir) => {
      await renamed('same')(dir);
      // The content hash covers the files (not the card's metadata): other bytes, same JSON.
      await editJson(dir, 'e2e-set.json', () => undefined);
    });
    const out = await mkdtemp(join(tmpdir(), 'ondevice-out-'));
    const error = (await caught(() =>
      packAll(
        ['a', 'b'].map((f) => join(differ, f)),
        { out },
      ),
    )) as BundleError;
    expect(error.code).toBe('INVALID_MANIFEST');
    expect(error.message).toContain(`${join(differ, 'a')} and ${join(differ, 'b')} both pack same 1.0.0`);

    const older = await twoFolders(renamed('same', '1.1.0'), renamed('same', '1.0.0'));
    const rollback = (await caught(() =>
      packAll(
        ['a', 'b'].map((f) => join(older, f)),
        { out },
      ),
    )) as BundleError;
    expect(rollback.code).toBe('ROLLBACK_REFUSED');
    expect(rollback.message).toContain(join(older, 'b'));
    expect(await readdir(out)).toEqual([]);
    // Unpromoted, both versions are fine.
    expect(
      (
        await packAll(
          ['a', 'b'].map((f) => join(older, f)),
          { out, promote: false },
        )
      ).map((r) => r.written),
    ).toEqual([true, true]);
  });
});

describe("pack pairs the feature spec's dtypes with the ONNX model's inputs", () => {
  it("reads every committed ONNX model's inputs as its feature spec feeds them", async () => {
    const folders = await findBuildFolders(fileURLToPath(new URL('../models/', import.meta.url)));
    let checked = 0;
    for (const folder of folders) {
      const card = JSON.parse(await readFile(join(folder, 'model-card.json'), 'utf8')) as { runtime?: string };
      if (card.runtime === 'tensorflow-js') continue;
      const spec = parseFeatureSpec(JSON.parse(await readFile(join(folder, 'feature-spec.json'), 'utf8')));
      const { inputs } = readOnnxInputs(new Uint8Array(await readFile(join(folder, 'model.onnx'))));
      for (const fed of specInputs(spec))
        expect(inputs, folder).toContainEqual(expect.objectContaining({ name: fed.name, dtype: fed.dtype }));
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });

  it('refuses a dtype the model does not take, as MODEL_INPUT_MISMATCH naming the input and both dtypes', async () => {
    const cases: [URL, (spec: Record<string, unknown>) => void, Record<string, string>][] = [
      [
        PENGUINS_BUILD,
        (s) => ((s.output as Record<string, unknown>).dtype = 'float64'),
        { input: 'features', path: 'output.dtype', expected: 'float64', actual: 'float32' },
      ],
      [
        DIGITS_BUILD,
        (s) => ((s.tensors as Record<string, unknown>[])[0]!.dtype = 'int32'),
        { input: 'image', path: 'tensors[0].dtype', expected: 'int32', actual: 'float32' },
      ],
    ];
    // A shape the graph cannot take: the rank, or a fixed size.
    const shaped = await copyOfBuild(DIGITS_BUILD);
    await editJson(shaped, 'feature-spec.json', (s) => ((s.tensors as Record<string, unknown>[])[0]!.shape = ['batch', 1, 8, 9]));
    const { error: shapeError } = await refusal(shaped);
    expect(shapeError).toMatchObject({ code: 'MODEL_INPUT_MISMATCH', details: { input: 'image', path: 'tensors[0].shape' } });
    expect(shapeError.message).toContain('has size 8 in dimension 3, where the spec says 9');
    // A state fed from an output the graph does not have; an input left unfed (the sample rate).
    const tone = new URL('../models/tone-detector/build/', import.meta.url);
    const stateless = await copyOfBuild(tone);
    await editJson(stateless, 'feature-spec.json', (s) => ((s.tensors as { state?: { from: string } }[])[2]!.state!.from = 'h_next'));
    expect((await refusal(stateless)).error).toMatchObject({ code: 'MODEL_OUTPUT_MISSING', details: { output: 'h_next' } });
    const unfed = await copyOfBuild(tone);
    await editJson(unfed, 'feature-spec.json', (s) => (s.tensors as unknown[]).splice(1, 1));
    expect((await refusal(unfed)).error).toMatchObject({ code: 'MODEL_INPUT_MISMATCH', details: { input: 'sr' } });
    for (const [build, spoil, details] of cases) {
      const dir = await copyOfBuild(build);
      await editJson(dir, 'feature-spec.json', spoil);
      const { error, written } = await refusal(dir);
      expect(error, details.path).toBeInstanceOf(CliError);
      expect(error.code).toBe('MODEL_INPUT_MISMATCH');
      expect(error.details).toEqual({ file: join(dir, 'model.onnx'), ...details });
      expect(error.message).toContain(
        `input "${details.input}" is ${details.actual}, but ${join(dir, 'feature-spec.json')} (${details.path}) feeds it ${details.expected}`,
      );
      expect(written).toEqual([]);
    }
  });

  it("checks each variant's file too, and refuses an input the model lacks, an output the task reads that it lacks, or an unreadable model", async () => {
    const variant = await copyOfBuild(HOUSE('mlp-onnx'));
    // The ridge model takes its features as float64; the MLP's spec feeds float32.
    await cp(join(fileURLToPath(HOUSE('ridge')), 'model.onnx'), join(variant, 'model.int8.onnx'));
    const wrong = await refusal(variant);
    expect(wrong.error.code).toBe('MODEL_INPUT_MISMATCH');
    expect(wrong.error.details).toMatchObject({ file: join(variant, 'model.int8.onnx'), expected: 'float32', actual: 'float64' });

    const renamedInput = await copyOfBuild();
    await editJson(renamedInput, 'feature-spec.json', (s) => ((s.output as Record<string, unknown>).input = 'x'));
    const missing = await refusal(renamedInput);
    expect(missing.error.code).toBe('MODEL_INPUT_MISMATCH');
    expect(missing.error.message).toContain('has no input "x"');
    expect(missing.error.message).toContain('its inputs are "features"');

    const renamedOutput = await copyOfBuild();
    await editJson(renamedOutput, 'model-card.json', (c) => ((c.task as Record<string, unknown>).probabilities = 'probs'));
    const noOutput = await refusal(renamedOutput);
    expect(noOutput.error.code).toBe('MODEL_OUTPUT_MISSING');
    expect(noOutput.error.details).toMatchObject({ file: join(renamedOutput, 'model.onnx'), output: 'probs' });
    expect(noOutput.error.message).toContain('has no output "probs"');
    expect(noOutput.written).toEqual([]);

    const garbage = await copyOfBuild();
    await writeFile(join(garbage, 'model.onnx'), 'not a model');
    const unreadable = await refusal(garbage);
    expect(unreadable.error.code).toBe('INVALID_MODEL');
    expect(unreadable.error.details.file).toBe(join(garbage, 'model.onnx'));
  });
});

import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pack } from '../src/cli/pack.js';
import { BundleError, GateError, InputError, StateError, load } from '../src/node/index.js';
import { load as browserLoad } from '../src/index.js';
import { caught } from './helpers.js';
import { MODELS_DIR } from './parity.js';

// `ondevice/node`: the browser's service in this process, over files and HTTP.
const ROW = { island: 'Biscoe', sex: null, bill_length_mm: 46.5, bill_depth_mm: 14.8, flipper_length_mm: 215, body_mass_g: 5000 };
let bundles: string;
let server: Server;
let origin: string;

beforeAll(async () => {
  bundles = await mkdtemp(join(tmpdir(), 'ondevice-node-'));
  await pack({ source: join(MODELS_DIR, 'penguins/build'), out: bundles });
  await pack({ source: join(MODELS_DIR, 'house-prices/build/mlp-tfjs'), out: bundles });
  // A plain static server over the bundles folder, for http: sources.
  server = createServer((request, response) => {
    readFile(join(bundles, decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname))).then(
      (bytes) => response.writeHead(200, { 'content-length': String(bytes.byteLength) }).end(bytes),
      () => response.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('ondevice/node load()', () => {
  it('loads a bundle folder, its channel.json, a file: URL and an http: URL alike, verified and gated', async () => {
    const sources = [
      join(bundles, 'penguins'),
      join(bundles, 'penguins/channel.json'),
      pathToFileURL(join(bundles, 'penguins/channel.json')),
      `${origin}/penguins/channel.json`,
    ];
    for (const source of sources) {
      const model = await load(source, { monitor: false });
      const info = await model.info();
      expect(info).toMatchObject({
        name: 'penguins',
        version: '1.0.0',
        source: 'network',
        storage: 'memory',
        runtime: { name: 'onnxruntime-web', backend: 'wasm' },
      });
      expect(info.gate.passed).toBe(true);
      const prediction = await model.predict(ROW);
      expect(prediction).toMatchObject({ kind: 'classification', label: 'Gentoo', version: '1.0.0' });
      await model.dispose();
    }
  });

  it('answers predict, predictBatch and predictColumns as the browser does, and typed errors for bad rows', async () => {
    const model = await load(join(bundles, 'penguins'), { monitor: false });
    const batch = await model.predictBatch([
      ROW,
      { ...ROW, island: 'Dream', bill_depth_mm: 18.4, flipper_length_mm: 190, body_mass_g: 3700 },
    ]);
    const columns = await model.predictColumns({
      island: ['Biscoe', 'Dream'],
      sex: [null, null],
      bill_length_mm: new Float64Array([46.5, 46.5]),
      bill_depth_mm: new Float64Array([14.8, 18.4]),
      flipper_length_mm: new Float64Array([215, 190]),
      body_mass_g: new Float64Array([5000, 3700]),
    });
    expect(columns.kind).toBe('classification');
    if (columns.kind !== 'classification') return;
    expect(columns.labels).toEqual(batch.map((p) => (p.kind === 'classification' ? p.label : '')));
    const refused = await caught(() => model.predict({ ...ROW, island: 'Atlantis' }));
    expect(refused).toBeInstanceOf(InputError);
    expect(refused).toMatchObject({ code: 'UNKNOWN_CATEGORY', details: { field: 'island', row: 0 } });
    // The service keeps serving after a refusal, and refuses calls after dispose.
    expect(await model.predict(ROW)).toMatchObject({ label: 'Gentoo' });
    await model.dispose();
    expect(await caught(() => model.predict(ROW))).toMatchObject({ name: 'StateError', code: 'DISPOSED' });
  });

  it('runs a TensorFlow.js bundle on the wasm backend the browser uses', async () => {
    const model = await load(join(bundles, 'house-prices-mlp-tfjs'), { monitor: false });
    expect((await model.info()).runtime).toMatchObject({ name: 'tensorflow-js', backend: 'wasm', fallbacks: [] });
    await model.dispose();
  });

  it('serves a packed version that is not live when asked (version), verified against its manifest', async () => {
    const model = await load(join(bundles, 'penguins'), { version: '1.0.0', monitor: false });
    expect(await model.info()).toMatchObject({ version: '1.0.0' });
    expect(await model.update()).toMatchObject({ status: 'up-to-date' });
    await model.dispose();
    expect(await caught(() => load(join(bundles, 'penguins'), { version: '9.9.9' }))).toMatchObject({
      name: 'BundleError',
      code: 'FETCH_FAILED',
    });
  });

  it('refuses options out of range before any request: a pinned key that is not a key, a network limit that is not a whole number', async () => {
    const source = join(bundles, 'penguins');
    expect(await caught(() => load(source, { publicKeys: ['not a key!'] }))).toMatchObject({
      name: 'InputError',
      code: 'INVALID_OPTION',
      details: { field: 'publicKeys[0]' },
    });
    expect(await caught(() => load(source, { network: { idleMs: 0.5 } }))).toMatchObject({
      name: 'InputError',
      code: 'INVALID_OPTION',
      details: { field: 'network.idleMs' },
    });
  });

  it('refuses what the browser refuses: a missing source, a damaged file, a failing gate', async () => {
    expect(await caught(() => load(join(bundles, 'nothing-here')))).toBeInstanceOf(BundleError);
    const damaged = await mkdtemp(join(tmpdir(), 'ondevice-node-damaged-'));
    await cp(join(bundles, 'penguins'), damaged, { recursive: true });
    const model = join(damaged, '1.0.0/model.onnx');
    const bytes = await readFile(model);
    bytes[bytes.length - 1]! ^= 1;
    await writeFile(model, bytes);
    expect(await caught(() => load(damaged))).toMatchObject({ name: 'BundleError', code: 'INTEGRITY_MISMATCH' });
    expect(GateError).toBeDefined();
  });
});

describe("ondevice's load() outside a browser", () => {
  it('rejects with StateError UNSUPPORTED naming ondevice/node', async () => {
    const error = await caught(() => browserLoad('http://localhost/bundles/penguins/channel.json'));
    expect(error).toBeInstanceOf(StateError);
    expect(error).toMatchObject({ code: 'UNSUPPORTED', details: { instead: 'ondevice/node' } });
    expect((error as Error).message).toContain("import { load } from 'ondevice/node'");
  });
});

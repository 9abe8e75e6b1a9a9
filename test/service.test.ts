// ModelService in Node, in this thread: the same service the browser's worker runs, over a real
// local HTTP server and an in-memory store. Its states (idle, loading, serving, disposed), its
// progress phases and what a bad call leaves behind.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BundleError, InputError, StateError } from '../src/errors/index.js';
import { memoryStore, type BundleIo } from '../src/bundle/index.js';
import { fileOrNetworkFetch } from '../src/node/index.js';
import type { LoadProgress } from '../src/worker/protocol.js';
import type { ScoreRequest } from '../src/worker/score-protocol.js';
import { ModelService } from '../src/worker/service.js';
import { Deployment as Publisher } from '../e2e/support/deploy.js';
import { BundleServer } from './bundle-server.js';

let publisher: Publisher;
let server: BundleServer;
let channelUrl: string;

beforeEach(async () => {
  publisher = await Publisher.create();
  await publisher.publish('1.0.0');
  server = await BundleServer.start(publisher.dir);
  channelUrl = `${server.origin}/penguins/channel.json`;
});

afterEach(async () => {
  await server.close();
});

const ROW = { island: 'Biscoe', bill_length_mm: 45.2, bill_depth_mm: 14.8, flipper_length_mm: 212, body_mass_g: 5200, sex: 'female' };
const oneRow = (row: Record<string, unknown>): ScoreRequest => ({ input: 'rows', rows: [row], answer: 'typed' });
const OPTIONS = { checkForUpdates: false, monitor: false } as const;

describe('ModelService states', () => {
  it('idle, serving, disposed: a call before the model is in is NOT_READY, after dispose DISPOSED, and a second load is refused', async () => {
    const service = new ModelService({ fetch: fileOrNetworkFetch, store: memoryStore() });
    expect(service.state).toBe('idle');
    await expect(service.score(oneRow(ROW))).rejects.toMatchObject({ name: 'StateError', code: 'NOT_READY' });
    const info = await service.load(channelUrl, OPTIONS);
    expect(service.state).toBe('serving');
    expect(info).toMatchObject({ name: 'penguins', version: '1.0.0' });
    await expect(service.load(channelUrl, OPTIONS)).rejects.toMatchObject({ name: 'StateError', code: 'NOT_READY' });
    expect(await service.score(oneRow(ROW))).toMatchObject({ kind: 'typed', version: '1.0.0' });
    await service.dispose();
    expect(service.state).toBe('disposed');
    await expect(service.score(oneRow(ROW))).rejects.toBeInstanceOf(StateError);
    await expect(service.score(oneRow(ROW))).rejects.toMatchObject({ code: 'DISPOSED' });
    await expect(service.load(channelUrl, OPTIONS)).rejects.toMatchObject({ code: 'DISPOSED' });
    // A second dispose is a no-op.
    await service.dispose();
  });

  it('a load that fails leaves the service idle, with the typed error; a later load serves', async () => {
    const service = new ModelService({ fetch: fileOrNetworkFetch, store: memoryStore() });
    const failed = await service.load(`${server.origin}/nowhere/channel.json`, OPTIONS).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(BundleError);
    expect(failed).toMatchObject({ code: 'FETCH_FAILED' });
    expect(service.state).toBe('idle');
    await service.load(channelUrl, OPTIONS);
    expect(service.state).toBe('serving');
    await service.dispose();
  });

  it('dispose() while loading: the load rejects with DISPOSED, nothing serves and the service stays disposed', async () => {
    const service = new ModelService({ fetch: fileOrNetworkFetch, store: memoryStore() });
    server.holdSuffix = '1.0.0/model.onnx';
    const loading = service.load(channelUrl, OPTIONS);
    await expect.poll(() => server.heldCount).toBe(1);
    expect(service.state).toBe('loading');
    await service.dispose();
    server.release();
    await expect(loading).rejects.toMatchObject({ name: 'StateError', code: 'DISPOSED' });
    expect(service.state).toBe('disposed');
  });

  it('a bad row rejects its call with an InputError at its row; the next call is served', async () => {
    const service = new ModelService({ fetch: fileOrNetworkFetch, store: memoryStore() });
    await service.load(channelUrl, OPTIONS);
    const refused = await service
      .score({ input: 'rows', rows: [ROW, { ...ROW, island: 'Atlantis' }], answer: 'typed' })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(InputError);
    expect(refused).toMatchObject({ code: 'UNKNOWN_CATEGORY', details: { row: 1, field: 'island' } });
    expect(await service.score(oneRow(ROW))).toMatchObject({ kind: 'typed' });
    await service.dispose();
  });
});

describe('ModelService progress', () => {
  it('reports download, runtime, gate and ready from the network, then verify, runtime, gate and ready from the store', async () => {
    const io: BundleIo = { fetch: fileOrNetworkFetch, store: memoryStore() };
    const phasesOf = async (): Promise<LoadProgress[]> => {
      const seen: LoadProgress[] = [];
      const service = new ModelService(io);
      await service.load(channelUrl, OPTIONS, (progress) => seen.push(progress));
      await service.dispose();
      return seen;
    };
    const distinct = (seen: readonly LoadProgress[]): string[] => seen.map((p) => p.phase).filter((phase, i, all) => phase !== all[i - 1]);

    const cold = await phasesOf();
    expect(distinct(cold)).toEqual(['download', 'runtime', 'gate', 'ready']);
    const downloads = cold.filter((p): p is Extract<LoadProgress, { phase: 'download' }> => p.phase === 'download');
    const total = downloads[0]!.totalBytes;
    expect(downloads.at(-1)!.loadedBytes).toBe(total);
    expect(downloads.every((p, i) => i === 0 || p.loadedBytes >= downloads[i - 1]!.loadedBytes)).toBe(true);
    expect(cold.at(-1)).toEqual({ phase: 'ready', version: '1.0.0', source: 'network' });

    const warm = await phasesOf();
    expect(distinct(warm)).toEqual(['verify', 'runtime', 'gate', 'ready']);
    expect(warm.filter((p) => p.phase === 'verify').at(-1)).toMatchObject({ loadedBytes: total, totalBytes: total });
    expect(warm.at(-1)).toEqual({ phase: 'ready', version: '1.0.0', source: 'cache' });
  });
});

import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { pack } from '../src/cli/pack.js';
import { InputError, StateError, load, type ModelSession, type OndeviceModel } from '../src/node/index.js';
import { caught } from './helpers.js';
import { MODELS_DIR, streamFolders } from './parity.js';

// Streaming sessions (`model.session()`) on the tone detector: a GRU trained in PyTorch whose state
// [layers, batch, hidden] goes out as `hn` and comes back as `h`, with the sample rate a constant.
const [detector] = (await streamFolders()).filter((f) => f.name === 'tone-detector');
const stream = detector!.parity.stream as { rows: { frame: number[] }[]; probability: number[]; hnLast: number[] };
let bundles: string;

beforeAll(async () => {
  bundles = await mkdtemp(join(tmpdir(), 'ondevice-session-'));
  await pack({ source: join(MODELS_DIR, 'tone-detector/build'), out: bundles });
});

const probability = (p: Awaited<ReturnType<ModelSession['predict']>>): number =>
  p.kind === 'classification' ? p.probabilities.tone! : Number.NaN;

async function run(session: ModelSession, rows: readonly { frame: number[] }[]): Promise<number[]> {
  const out: number[] = [];
  for (const row of rows) out.push(probability(await session.predict(row)));
  return out;
}

describe('streaming sessions', () => {
  let model: OndeviceModel;
  beforeAll(async () => {
    model = await load(join(bundles, 'tone-detector'), { monitor: false });
  });

  it('carries the state over 400 steps and matches PyTorch within the bundle’s tolerance, step by step', async () => {
    const info = await model.info();
    expect(info.gate.passed).toBe(true);
    const session = await model.session();
    const got = await run(session, stream.rows);
    const worst = Math.max(...got.map((p, i) => Math.abs(p - stream.probability[i]!)));
    expect(worst).toBeLessThanOrEqual(info.gate.endToEnd.tolerance);
    const state = await session.state();
    const hn = Array.from(state!.h!.data as Float32Array);
    const last = stream.hnLast;
    expect(state!.h!.dims).toEqual([2, 1, 24]);
    expect(Math.max(...hn.map((v, i) => Math.abs(v - last[i]!)))).toBeLessThanOrEqual(info.gate.endToEnd.tolerance);
    await session.dispose();
  });

  it('the state matters: a plain predict (initial state every call) answers differently from the session', async () => {
    const plain: number[] = [];
    for (const row of stream.rows.slice(0, 100)) plain.push(probability(await model.predict(row)));
    const worst = Math.max(...plain.map((p, i) => Math.abs(p - stream.probability[i]!)));
    expect(worst).toBeGreaterThan(0.01);
  });

  it('sessions are independent of each other, and reset() starts over', async () => {
    const [a, b] = [await model.session(), await model.session()];
    const rows = stream.rows.slice(0, 60);
    const interleaved: [number[], number[]] = [[], []];
    for (const row of rows) {
      interleaved[0].push(probability(await a.predict(row)));
      interleaved[1].push(probability(await b.predict(rows[rows.length - 1 - interleaved[1].length]!)));
    }
    // b's frames, in another order, did not touch a's state: a follows PyTorch's stream.
    expect(Math.max(...interleaved[0].map((p, i) => Math.abs(p - stream.probability[i]!)))).toBeLessThanOrEqual(1e-4);
    const fresh = await model.session();
    expect(await run(fresh, rows)).toEqual(interleaved[0]);
    await a.reset();
    expect(await run(a, rows)).toEqual(interleaved[0]);
    await Promise.all([a.dispose(), b.dispose(), fresh.dispose()]);
  });

  it('refuses what the bundle or the session feeds, a wrong shape, and a disposed session, with typed errors; serving goes on', async () => {
    const session = await model.session();
    const row = stream.rows[0]!;
    const constant = await caught(() => session.predict({ ...row, sr: 16000 }));
    expect(constant).toBeInstanceOf(InputError);
    expect(constant).toMatchObject({ code: 'CONSTANT_INPUT', details: { field: 'sr' } });
    const state = await caught(() => session.predict({ ...row, h: new Float32Array(48) }));
    expect(state).toMatchObject({ code: 'UNEXPECTED_FIELD', details: { field: 'h' } });
    const shape = await caught(() => session.predict({ frame: new Float32Array(63) }));
    expect(shape).toMatchObject({ code: 'TENSOR_SHAPE', details: { field: 'frame' } });
    const dtype = await caught(() => session.predict({ frame: new Float64Array(64) }));
    expect(dtype).toMatchObject({ code: 'TENSOR_DTYPE', details: { field: 'frame' } });
    // A refused step left the state as it was: the stream goes on as if nothing happened.
    expect(await run(session, stream.rows.slice(0, 20))).toEqual(await run(await model.session(), stream.rows.slice(0, 20)));
    await session.dispose();
    const after = await caught(() => session.predict(row));
    expect(after).toBeInstanceOf(StateError);
    expect(after).toMatchObject({ code: 'DISPOSED' });
    expect((await model.predict(row)).kind).toBe('classification');
  });

  it('plain predict takes an explicit state, and a batch stacks it along its batch dimension (the second)', async () => {
    const session = await model.session();
    await run(session, stream.rows.slice(0, 30));
    const state = (await session.state())!.h!;
    const next = stream.rows[30]!;
    const viaSession = probability(await session.predict(next));
    const explicit = await model.predictBatch([
      { ...next, h: state.data },
      { ...stream.rows[0]!, h: new Float32Array(48) },
    ]);
    expect(probability(explicit[0]!)).toBeCloseTo(viaSession, 6);
    expect(probability(explicit[1]!)).toBeCloseTo(stream.probability[0]!, 6);
    await session.dispose();
  });
});

describe('open sessions are bounded', () => {
  it('the 257th is TOO_MANY_SESSIONS; disposing one makes room', async () => {
    const model = await load(join(bundles, 'tone-detector'), { monitor: false });
    const open = await Promise.all(Array.from({ length: 256 }, () => model.session()));
    const refused = await caught(() => model.session());
    expect(refused).toBeInstanceOf(StateError);
    expect(refused).toMatchObject({ code: 'TOO_MANY_SESSIONS', details: { limit: 256 } });
    await open[0]!.dispose();
    await (await model.session()).dispose();
    await model.dispose();
  });
});

describe('a session across an update', () => {
  it('keeps the version it opened on mid-stream; reset() and new sessions take the new one', async () => {
    const out = await mkdtemp(join(tmpdir(), 'ondevice-session-update-'));
    const source = await mkdtemp(join(tmpdir(), 'ondevice-session-src-'));
    await pack({ source: join(MODELS_DIR, 'tone-detector/build'), out });
    const model = await load(join(out, 'tone-detector'), { monitor: false });
    const session = await model.session();
    await session.predict(stream.rows[0]!);
    expect(session.version).toBe('1.0.0');

    await cp(join(MODELS_DIR, 'tone-detector/build'), source, { recursive: true });
    const card = JSON.parse(await readFile(join(source, 'model-card.json'), 'utf8')) as { version: string };
    await writeFile(join(source, 'model-card.json'), JSON.stringify({ ...card, version: '1.1.0' }));
    await pack({ source, out });
    expect(await model.update()).toMatchObject({ status: 'activated', version: '1.1.0' });

    expect(await session.predict(stream.rows[1]!)).toMatchObject({ version: '1.0.0' });
    expect(await model.predict(stream.rows[1]!)).toMatchObject({ version: '1.1.0' });
    const fresh = await model.session();
    expect(fresh.version).toBe('1.1.0');
    await session.reset();
    expect(session.version).toBe('1.1.0');
    expect(await session.predict(stream.rows[0]!)).toMatchObject({ version: '1.1.0' });
    await Promise.all([session.dispose(), fresh.dispose()]);
    await model.dispose();
  });
});

describe('sessions on a model without state', () => {
  it('are UNSUPPORTED', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'ondevice-session-'));
    await pack({ source: join(MODELS_DIR, 'digits/build'), out: folder });
    const digits = await load(join(folder, 'digits'), { monitor: false });
    expect(await caught(() => digits.session())).toMatchObject({ code: 'UNSUPPORTED' });
    await digits.dispose();
  });
});

import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { compileFeatureSpec, parseFeatureSpec } from '../src/features/index.js';
import { onnxProvider } from '../src/runtimes/onnx.js';
import type { LoadedRuntime } from '../src/runtimes/runtime.js';
import { ShardPool, joinOutputs, outputDifference, splitRows, type Inputs, type Shard, type StartShard } from '../src/runtimes/shards.js';
import { readJson } from './helpers.js';

const build = (name: string): URL => new URL(`../models/house-prices/build/${name}/`, import.meta.url);
const bytes = async (url: URL): Promise<Uint8Array> => new Uint8Array(await readFile(url));
const gbm = await bytes(new URL('model.onnx', build('gradient-boosting')));
const forest = await bytes(new URL('model.onnx', build('random-forest')));
const transform = compileFeatureSpec(parseFeatureSpec(await readJson(new URL('feature-spec.json', build('gradient-boosting')))));
const { rows } = await readJson<{ rows: Record<string, unknown>[] }>(new URL('e2e-set.json', build('gradient-boosting')));

/** The e2e rows tiled to `n`: a real feature matrix of the house-prices models. */
function inputs(n: number): Inputs {
  const prepared = transform.prepare(Array.from({ length: n }, (_, i) => rows[i % rows.length]!));
  return prepared.inputs;
}

const session = (model: Uint8Array): Promise<LoadedRuntime> => onnxProvider.backends.wasm!({ model }, { threads: 1, shards: 0 });

/** Shards as in-process one-thread sessions (Node has no module workers for them): everything but the messaging is real. */
function inProcess(replace?: Uint8Array): StartShard & { started: LoadedRuntime[] } {
  const started: LoadedRuntime[] = [];
  const start = async (model: Uint8Array): Promise<Shard> => {
    const runtime = await session(replace ?? model);
    started.push(runtime);
    return { run: async (batch, wanted) => ({ outputs: await runtime.run(batch, wanted), inputs: batch }), close: () => void runtime.dispose().catch(() => undefined) };
  };
  return Object.assign(start, { started });
}

describe('shards: a large batch split by rows across one-thread sessions', () => {
  it('splits rows as evenly as they allow, and never into more parts than rows', () => {
    expect(splitRows(10, 3)).toEqual([
      { from: 0, to: 3 },
      { from: 3, to: 6 },
      { from: 6, to: 10 },
    ]);
    expect(splitRows(2, 4)).toEqual([
      { from: 0, to: 1 },
      { from: 1, to: 2 },
    ]);
  });

  it('joins parts in order, and refuses a part that is not one row per input row', () => {
    const part = (values: number[]) => ({ y: { data: Float32Array.from(values), dims: [values.length, 1] } });
    const joined = joinOutputs([part([1, 2]), part([3])], [2, 1]);
    expect(Array.from(joined.y!.data)).toEqual([1, 2, 3]);
    expect(joined.y!.dims).toEqual([3, 1]);
    expect(() => joinOutputs([part([1, 2])], [3])).toThrow(/not one row per input row/);
  });

  it('measures outputs apart: relative above 1, NaN agreeing only with NaN', () => {
    const out = (values: number[]) => ({ y: { data: Float64Array.from(values), dims: [values.length] } });
    expect(outputDifference(out([200, 0.5]), out([100, 0.5]))).toBe(1);
    expect(outputDifference(out([Number.NaN]), out([Number.NaN]))).toBe(0);
    expect(outputDifference(out([Number.NaN]), out([1]))).toBe(Number.POSITIVE_INFINITY);
    expect(outputDifference(out([1]), out([1, 2]))).toBe(Number.POSITIVE_INFINITY);
  });

  it('starts on the first large batch (scored locally), checks itself on its rows, then scores large batches exactly as the local session does', async () => {
    const local = await session(gbm);
    const start = inProcess();
    const pool = new ShardPool(2, gbm, start, 100);
    const localRun = (batch: Inputs) => local.run(batch, ['price']);

    expect(await pool.run(inputs(99), ['price'], localRun)).toBeUndefined();
    expect(pool.status()).toMatchObject({ state: 'idle', workers: 2, batches: 0 });
    // The first large batch starts the shards and is left to the local session.
    expect(await pool.run(inputs(300), ['price'], localRun)).toBeUndefined();
    expect(pool.status().state).toBe('starting');
    await pool.settled();
    expect(pool.status()).toMatchObject({ state: 'ready', batches: 0 });
    expect(start.started).toHaveLength(2);

    const batch = inputs(1001);
    const sharded = await pool.run(batch, ['price'], localRun);
    const whole = await localRun(batch);
    expect(sharded!.price!.dims).toEqual(whole.price!.dims);
    expect(Array.from(sharded!.price!.data)).toEqual(Array.from(whole.price!.data));
    expect(pool.status()).toMatchObject({ state: 'ready', batches: 1 });
    pool.close();
    await local.dispose();
  });

  it('a shard whose outputs differ from the local session never serves: the pool turns off and says why', async () => {
    const local = await session(gbm);
    // The random forest takes the same features and names its output alike, but is another model.
    const pool = new ShardPool(2, gbm, inProcess(forest), 100);
    const localRun = (batch: Inputs) => local.run(batch, ['price']);
    expect(await pool.run(inputs(200), ['price'], localRun)).toBeUndefined();
    await pool.settled();
    expect(pool.status().state).toBe('off');
    expect(pool.status().reason).toMatch(/differ from the worker's own session by .* on 200 rows/);
    expect(await pool.run(inputs(200), ['price'], localRun)).toBeUndefined();
    await local.dispose();
  });

  it('a shard that does not start, or fails on a batch, turns the pool off with the reason; the batch is left to the local session', async () => {
    const local = await session(gbm);
    const localRun = (batch: Inputs) => local.run(batch, ['price']);
    const broken = new ShardPool(2, gbm, inProcess(new Uint8Array([1, 2, 3])), 100);
    await broken.run(inputs(100), ['price'], localRun);
    await broken.settled();
    expect(broken.status()).toMatchObject({ state: 'off', reason: expect.stringMatching(/^a shard worker did not start: .*could not create a wasm session/) });

    const start = inProcess();
    const pool = new ShardPool(2, gbm, start, 100);
    await pool.run(inputs(100), ['price'], localRun);
    await pool.settled();
    expect(pool.status().state).toBe('ready');
    // A shard's session gone (as if its worker had died): its next batch fails.
    await start.started[1]!.dispose();
    expect(await pool.run(inputs(500), ['price'], localRun)).toBeUndefined();
    expect(pool.status()).toMatchObject({ state: 'off', batches: 0, reason: expect.stringMatching(/^a shard failed to score a batch of 500 rows/) });
    await local.dispose();
  });
});

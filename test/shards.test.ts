import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseJsonBytes } from '../src/bundle/index.js';
import { InputError } from '../src/errors/index.js';
import { compileFeatureSpec, parseFeatureSpec } from '../src/features/index.js';
import { onnxProvider } from '../src/runtimes/onnx.js';
import type { LoadedRuntime } from '../src/runtimes/runtime.js';
import { createScorer } from '../src/scoring/index.js';
import {
  ShardPool,
  joinOutputs,
  outputDifference,
  sliceColumns,
  splitRows,
  type Inputs,
  type Shard,
  type ShardColumns,
  type ShardInit,
  type StartShard,
} from '../src/scoring/shards.js';
import { readJson } from './helpers.js';

const build = (name: string): URL => new URL(`../models/house-prices/build/${name}/`, import.meta.url);
const bytes = async (url: URL): Promise<Uint8Array> => new Uint8Array(await readFile(url));
const featureSpec = await bytes(new URL('feature-spec.json', build('gradient-boosting')));
const task = { kind: 'regression', value: 'price' } as const;
const gbm: ShardInit = { model: await bytes(new URL('model.onnx', build('gradient-boosting'))), featureSpec, task };
const forest = await bytes(new URL('model.onnx', build('random-forest')));
const transform = compileFeatureSpec(parseFeatureSpec(parseJsonBytes(featureSpec, 'feature-spec.json')));
const { rows } = await readJson<{ rows: Record<string, unknown>[] }>(new URL('e2e-set.json', build('gradient-boosting')));

const tiled = (n: number): Record<string, unknown>[] => Array.from({ length: n }, (_, i) => rows[i % rows.length]!);
/** The e2e rows tiled to `n`: a real feature matrix of the house-prices models. */
const inputs = (n: number): Inputs => transform.prepare(tiled(n)).inputs;

/** The rows tiled to `n` as typed columns: Float64Array numbers, `{ codes, levels }` categories. */
function columns(n: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of Object.keys(rows[0]!)) {
    const values = tiled(n).map((row) => row[field]);
    // Missing: NaN for a number, code -1 for a category.
    if (values.some((v) => typeof v === 'number')) out[field] = Float64Array.from(values, (v) => (v === null ? Number.NaN : (v as number)));
    else {
      const levels = [...new Set(values.filter((v): v is string => typeof v === 'string'))];
      out[field] = { codes: Int32Array.from(values, (v) => (typeof v === 'string' ? levels.indexOf(v) : -1)), levels };
    }
  }
  return out;
}

const session = (model: Uint8Array): Promise<LoadedRuntime> => onnxProvider.backends.wasm!({ model }, { threads: 1 });

/**
 * Shards as in-process one-thread sessions with their own transform, as `worker/shard-entry.ts`
 * builds them (Node has no module workers for them): everything but the messaging is real.
 */
function inProcess(replaceModel?: Uint8Array): StartShard & { started: LoadedRuntime[] } {
  const started: LoadedRuntime[] = [];
  const start = async (init: ShardInit): Promise<Shard> => {
    const runtime = await session(replaceModel ?? init.model);
    started.push(runtime);
    const scorer = createScorer(
      compileFeatureSpec(parseFeatureSpec(parseJsonBytes(init.featureSpec, 'feature-spec.json'))),
      { ...runtime, fallbacks: [] },
      init.task,
    );
    return {
      run: async (batch, wanted) => ({ outputs: await runtime.run(batch, wanted), inputs: batch }),
      scoreColumns: async (batch: ShardColumns) => ({
        outputs: { ...(await scorer.scoreColumns(batch, { keepFeatures: false })).outputs },
        columns: batch,
      }),
      close: () => void runtime.dispose().catch(() => undefined),
    };
  };
  return Object.assign(start, { started });
}

/** A pool of two in-process shards, started and checked by a first large batch. */
async function readyPool(local: LoadedRuntime, start = inProcess()): Promise<ShardPool> {
  const pool = new ShardPool(2, gbm, start, 100);
  await pool.run(inputs(100), ['price'], (batch) => local.run(batch, ['price']));
  await pool.settled();
  return pool;
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
    expect(Array.from(joined.y!.data as Float32Array)).toEqual([1, 2, 3]);
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

  it('slices typed columns (codes with their levels), and declines any other kind of column', () => {
    const sliced = sliceColumns({ a: Float64Array.of(1, 2, 3), b: { codes: Int32Array.of(0, 1, 0), levels: ['x', 'y'] } }, 1, 3)!;
    expect(Array.from(sliced.a as Float64Array)).toEqual([2, 3]);
    expect(sliced.b).toEqual({ codes: Int32Array.of(1, 0), levels: ['x', 'y'] });
    expect(sliceColumns({ a: [1, 2, 3] }, 0, 1)).toBeUndefined();
    expect(sliceColumns({ a: Float32Array.of(1, 2) }, 0, 1)).toBeUndefined();
  });

  it('starts on the first large batch (scored locally), checks itself on its rows, then scores large batches exactly as the local session does', async () => {
    const local = await session(gbm.model);
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
    expect(Array.from(sharded!.price!.data as Float32Array)).toEqual(Array.from(whole.price!.data as Float32Array));
    expect(pool.status()).toMatchObject({ state: 'ready', batches: 1 });
    pool.close();
    await local.dispose();
  });

  it('typed columns are featurized and scored in the shards, exactly as the worker alone scores them; a refused value is left to the worker, and the pool keeps serving', async () => {
    const local = await session(gbm.model);
    const pool = await readyPool(local);
    const scorer = createScorer(transform, { ...local, fallbacks: [] }, task);
    const batch = columns(1001);
    const sharded = await pool.scoreColumns(batch, 1001);
    const alone = await scorer.scoreColumns(batch, { keepFeatures: false });
    expect(Array.from(sharded!.price!.data as Float32Array)).toEqual(Array.from(alone.outputs.price!.data as Float32Array));
    expect(pool.status()).toMatchObject({ state: 'ready', batches: 1 });

    // A log1p of -5 in the second shard's rows: left to the worker, whose own read names row 900.
    const bad = columns(1001);
    (bad.Gr_Liv_Area as Float64Array)[900] = -5;
    expect(await pool.scoreColumns(bad, 1001)).toBeUndefined();
    const error = await scorer.scoreColumns(bad, { keepFeatures: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).details).toMatchObject({ row: 900, field: 'Gr_Liv_Area' });
    expect(pool.status()).toMatchObject({ state: 'ready', batches: 1 });
    expect(await pool.scoreColumns(batch, 1001)).toBeDefined();
    // Fewer rows than the threshold, or a column of another kind: the worker's, and not even read for the shards.
    expect(pool.accepts(batch)).toBe(true);
    expect(pool.accepts(columns(99))).toBe(false);
    expect(pool.accepts({ ...batch, Gr_Liv_Area: Array.from(batch.Gr_Liv_Area as Float64Array) })).toBe(false);
    expect(await pool.scoreColumns(columns(99), 99)).toBeUndefined();
    expect(await pool.scoreColumns({ ...batch, Gr_Liv_Area: Array.from(batch.Gr_Liv_Area as Float64Array) }, 1001)).toBeUndefined();
    expect(pool.status().batches).toBe(2);
    pool.close();
    await local.dispose();
  });

  it('closed while its shards start (the version disposed), the pool ends every shard that started and never serves', async () => {
    const local = await session(gbm.model);
    const start = inProcess();
    const pool = new ShardPool(2, gbm, start, 100);
    expect(await pool.run(inputs(100), ['price'], (batch) => local.run(batch, ['price']))).toBeUndefined();
    pool.close();
    await pool.settled();
    expect(start.started).toHaveLength(2);
    // Each shard's session was released: scoring on it now fails.
    for (const runtime of start.started) await expect(runtime.run(inputs(1), ['price'])).rejects.toThrow();
    expect(pool.status().state).not.toBe('ready');
    expect(await pool.run(inputs(500), ['price'], (batch) => local.run(batch, ['price']))).toBeUndefined();
    await local.dispose();
  });

  it('a shard whose outputs differ from the local session never serves: the pool turns off and says why', async () => {
    const local = await session(gbm.model);
    // The random forest takes the same features and names its output alike, but is another model.
    const pool = await readyPool(local, inProcess(forest));
    expect(pool.status().state).toBe('off');
    expect(pool.status().reason).toMatch(/differ from the worker's own session by .* on 100 rows/);
    expect(await pool.run(inputs(200), ['price'], (batch) => local.run(batch, ['price']))).toBeUndefined();
    expect(await pool.scoreColumns(columns(200), 200)).toBeUndefined();
    await local.dispose();
  });

  it('a shard that does not start, or fails on a batch, turns the pool off with the reason; the batch is left to the local session', async () => {
    const local = await session(gbm.model);
    const broken = await readyPool(local, inProcess(new Uint8Array([1, 2, 3])));
    expect(broken.status()).toMatchObject({
      state: 'off',
      reason: expect.stringMatching(/^a shard worker did not start: .*could not create a wasm session/),
    });

    const start = inProcess();
    const pool = await readyPool(local, start);
    expect(pool.status().state).toBe('ready');
    // A shard's session gone (as if its worker had died): its next batch fails.
    await start.started[1]!.dispose();
    expect(await pool.run(inputs(500), ['price'], (batch) => local.run(batch, ['price']))).toBeUndefined();
    expect(pool.status()).toMatchObject({
      state: 'off',
      batches: 0,
      reason: expect.stringMatching(/^a shard failed on a batch of 500 rows/),
    });
    await local.dispose();
  });
});

import { describe, expect, it } from 'vitest';
import { MicroBatcher } from '../src/client/batcher.js';
import { PredictionCache, cacheKey } from '../src/client/cache.js';
import { InputError } from '../src/errors/index.js';
import type { Prediction } from '../src/scoring/index.js';
import type { RowResult } from '../src/worker/protocol.js';

const prediction = (value: number): Prediction => ({ kind: 'regression', value });

describe('micro-batching', () => {
  it('sends calls made in the same task as one batch, at most maxBatch rows each, and answers each call on its own', async () => {
    const batches: unknown[][] = [];
    const batcher = new MicroBatcher(
      async (rows) => {
        batches.push(rows);
        return rows.map((row): RowResult =>
          (row as number) < 0
            ? { ok: false, error: new InputError('NOT_FINITE', 'bad', { row: 0 }) }
            : { ok: true, prediction: prediction(row as number) },
        );
      },
      { maxBatch: 4 },
    );
    const calls = [1, 2, -3, 4, 5, 6].map((row) => batcher.add(row));
    const settled = await Promise.allSettled(calls);
    expect(batches).toEqual([
      [1, 2, -3, 4],
      [5, 6],
    ]);
    expect(settled.map((s) => (s.status === 'fulfilled' ? (s.value as { value: number }).value : (s.reason as InputError).code))).toEqual([
      1,
      2,
      'NOT_FINITE',
      4,
      5,
      6,
    ]);
    expect((settled[2] as PromiseRejectedResult).reason).toBeInstanceOf(InputError);
  });

  it('waits windowMs for more calls, and rejects every call of a batch the worker could not take', async () => {
    const batches: unknown[][] = [];
    const batcher = new MicroBatcher(
      async (rows) => {
        batches.push(rows);
        throw new Error('worker gone');
      },
      { windowMs: 20 },
    );
    const first = batcher.add(1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = batcher.add(2);
    await expect(first).rejects.toThrow('worker gone');
    await expect(second).rejects.toThrow('worker gone');
    expect(batches).toEqual([[1, 2]]);
  });
});

describe('prediction cache', () => {
  it('keys rows canonically, and only rows whose values cannot collide', () => {
    expect(cacheKey({ b: 1, a: 'x' })).toBe(cacheKey({ a: 'x', b: 1 }));
    expect(cacheKey({ a: null })).not.toBe(cacheKey({ a: 'null' }));
    expect(cacheKey({ a: Number.NaN })).toBeUndefined();
    expect(cacheKey({ a: new Float32Array(2) })).toBeUndefined();
    expect(cacheKey([1, 2])).toBeUndefined();
  });

  it('evicts the least recently used entry and hands out frozen predictions', () => {
    const cache = new PredictionCache({ maxEntries: 2 });
    cache.set('a', prediction(1));
    cache.set('b', prediction(2));
    cache.get('a');
    cache.set('c', prediction(3));
    expect([cache.get('a'), cache.get('b'), cache.get('c')].map((p) => p && (p as { value: number }).value)).toEqual([1, undefined, 3]);
    expect(Object.isFrozen(cache.get('a'))).toBe(true);
  });
});

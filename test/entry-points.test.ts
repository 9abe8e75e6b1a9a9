import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError, load, type OndeviceModel } from '../src/node/index.js';
import type { Prediction } from '../src/scoring/index.js';
import { Deployment as Publisher } from '../e2e/support/deploy.js';
import { caught, readJson, PENGUINS_BUILD, type PenguinE2E } from './helpers.js';

// Every public way in takes the same path through the service: the same expectations for each.
const e2e = await readJson<PenguinE2E>(new URL('e2e-set.json', PENGUINS_BUILD));
type Row = Record<string, unknown>;
const tiled = (n: number): Row[] => Array.from({ length: n }, (_, i) => e2e.rows[i % e2e.rows.length]!);
const BAD_AT = 3;
const withBad = (rows: Row[]): Row[] => rows.map((row, i) => (i === BAD_AT ? { ...row, island: 'Atlantis' } : row));

function columnsOf(rows: Row[]): Parameters<OndeviceModel['predictColumns']>[0] {
  const names = Object.keys(rows[0]!);
  return Object.fromEntries(
    names.map((name) => [
      name,
      typeof rows.find((r) => r[name] !== null)![name] === 'number'
        ? Float64Array.from(rows, (r) => (r[name] === null ? Number.NaN : (r[name] as number)))
        : rows.map((r) => r[name] as string | null),
    ]),
  );
}

interface EntryPoint {
  readonly name: string;
  /** Scores `rows`; returns one prediction (version and id) per row. */
  readonly score: (model: OndeviceModel, rows: Row[]) => Promise<{ version: string; id: string }[]>;
  /** Scores `rows` with a bad one at BAD_AT; resolves to the error the caller sees for it. */
  readonly refuse: (model: OndeviceModel, rows: Row[]) => Promise<unknown>;
  /** The row the caller's error names: the row in the batch, or 0 for a call of its own. */
  readonly badRow: number;
  readonly rows: number;
}

const named = (predictions: readonly Prediction[]): { version: string; id: string }[] =>
  predictions.map((p) => ({ version: p.version!, id: p.id! }));

const ENTRY_POINTS: readonly EntryPoint[] = [
  {
    name: 'predict (micro-batched)',
    rows: 300,
    badRow: 0,
    score: async (m, rows) => named(await Promise.all(rows.map((r) => m.predict(r)))),
    refuse: (m, rows) =>
      Promise.all(withBad(rows).map((r) => m.predict(r))).then(
        () => null,
        (e: unknown) => e,
      ),
  },
  {
    name: 'predictBatch (rows)',
    rows: 100,
    badRow: BAD_AT,
    score: async (m, rows) => named(await m.predictBatch(rows)),
    refuse: (m, rows) => caught(() => m.predictBatch(withBad(rows))),
  },
  {
    name: 'predictBatch (laid out as columns)',
    rows: 1_000,
    badRow: BAD_AT,
    score: async (m, rows) => named(await m.predictBatch(rows)),
    refuse: (m, rows) => caught(() => m.predictBatch(withBad(rows))),
  },
  {
    name: 'predictBatch (in parts)',
    rows: 20_000,
    badRow: BAD_AT,
    score: async (m, rows) => named(await m.predictBatch(rows)),
    refuse: (m, rows) => caught(() => m.predictBatch(withBad(rows))),
  },
  {
    name: 'predictEach',
    rows: 500,
    badRow: 0,
    score: async (m, rows) =>
      (await m.predictEach(rows)).map((r) =>
        r.ok ? { version: r.prediction.version!, id: r.prediction.id! } : { version: 'refused', id: '' },
      ),
    refuse: async (m, rows) => {
      const results = await m.predictEach(withBad(rows));
      expect(results.filter((r) => !r.ok)).toHaveLength(1);
      const bad = results[BAD_AT]!;
      return bad.ok ? null : bad.error;
    },
  },
  {
    name: 'predictColumns',
    rows: 1_000,
    badRow: BAD_AT,
    score: async (m, rows) => {
      const answer = await m.predictColumns(columnsOf(rows));
      return Array.from({ length: answer.rows }, (_, r) => ({ version: answer.version!, id: String(answer.firstId! + r) }));
    },
    refuse: (m, rows) => caught(() => m.predictColumns(columnsOf(withBad(rows)))),
  },
];

let publisher: Publisher;
let shadowed: OndeviceModel;
let single: OndeviceModel;

beforeAll(async () => {
  publisher = await Publisher.create();
  await publisher.publish('1.0.0');
  await publisher.publish('1.1.0', { promote: false });
  const channelUrl = pathToFileURL(join(publisher.bundleDir, 'channel.json'));
  single = await load(channelUrl, { batching: { maxBatch: 1024 } });
  const current = await publisher.channel();
  await publisher.writeChannel({
    sequence: current.sequence + 1,
    candidates: [await publisher.entry('1.1.0')],
    rollout: { strategy: 'shadow', candidate: '1.1.0', sample: 1 },
  } as never);
  shadowed = await load(channelUrl, { batching: { maxBatch: 1024 }, rolloutSeed: 7 });
});

afterAll(async () => {
  await single?.dispose();
  await shadowed?.dispose();
});

describe.each(ENTRY_POINTS)('$name', (entry) => {
  it('names the version, records ids an outcome can be reported for, and counts the rows in the monitor', async () => {
    const before = (await single.monitor()).predictions;
    const answered = await entry.score(single, tiled(entry.rows));
    expect(answered).toHaveLength(entry.rows);
    expect(new Set(answered.map((a) => a.version))).toEqual(new Set(['1.0.0']));
    expect(new Set(answered.map((a) => a.id)).size).toBe(entry.rows);
    await single.reportOutcome(answered.at(-1)!.id, 1);
    expect((await single.monitor()).predictions).toBe(before + entry.rows);
  });

  it('reports a bad row at its row with a typed error, and counts the refusal', async () => {
    const before = (await single.monitor()).refused.UNKNOWN_CATEGORY ?? 0;
    const error = await entry.refuse(single, tiled(entry.rows));
    expect(error).toBeInstanceOf(InputError);
    expect(error).toMatchObject({ code: 'UNKNOWN_CATEGORY', details: { row: entry.badRow, field: 'island' } });
    expect((await single.monitor()).refused.UNKNOWN_CATEGORY).toBe(before + 1);
  });

  it('under a shadow rollout: the live version answers and the candidate scores the same rows', async () => {
    const before = (await shadowed.info()).rollout.shadow?.comparisons ?? 0;
    const answered = await entry.score(shadowed, tiled(entry.rows));
    expect(new Set(answered.map((a) => a.version))).toEqual(new Set(['1.0.0']));
    let comparisons = before;
    for (let i = 0; i < 100 && comparisons < before + entry.rows; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      comparisons = (await shadowed.info()).rollout.shadow!.comparisons;
    }
    expect(comparisons).toBe(before + entry.rows);
  });
});

import { describe, expect, it } from 'vitest';
import { COLUMNS_MIN_ROWS, columnPlan, rowsToColumns } from '../src/client/columns.js';
import { InputError } from '../src/errors/index.js';
import { categoryCodes, compileFeatureSpec, parseFeatureSpec, type FeatureTransform, type PreparedBatch } from '../src/features/index.js';
import { createRuntime, type Runtime } from '../src/runtimes/index.js';
import { createScorer, expandAnswers, type Prediction } from '../src/scoring/index.js';
import type { ColumnarInput, DictionaryColumn } from '../src/worker/protocol.js';
import { PENGUINS_BUILD, caught, everyOpSpec, penguinFiles, readJson, type PenguinE2E } from './helpers.js';

/** Every kind of step (test/helpers.ts). */
const ops = compileFeatureSpec(parseFeatureSpec(everyOpSpec('columns')));

const penguins = compileFeatureSpec(parseFeatureSpec(await readJson(new URL('feature-spec.json', PENGUINS_BUILD))));
const e2e = await readJson<PenguinE2E>(new URL('e2e-set.json', PENGUINS_BUILD));

type Row = Record<string, unknown>;
const opsRow = (i: number): Row => ({
  area: i % 7 === 0 ? null : (i * 13) % 500,
  age: (i * 3) % 40,
  zone: i % 5 === 0 ? null : ['RL', 'RM', 'C', 'FV'][i % 4]!,
  roof: ['Gable', 'Flat', 'Mansard'][i % 3]!,
});
const opsRows = (n: number): Row[] => Array.from({ length: n }, (_, i) => opsRow(i));
const tiledPenguins = (n: number): Row[] => Array.from({ length: n }, (_, i) => ({ ...e2e.rows[i % e2e.rows.length]! }));

/** The columns as the public API takes them: numbers as Float64Array (NaN missing), categories as strings. */
function stringColumns(transform: FeatureTransform, rows: readonly Row[]): Record<string, Float64Array | unknown[]> {
  return Object.fromEntries(
    transform.inputs.map((f) => [
      f.name,
      f.type === 'number'
        ? Float64Array.from(rows, (r) => (r[f.name] === null ? Number.NaN : (r[f.name] as number)))
        : rows.map((r) => r[f.name]),
    ]),
  );
}

/** The same, categories dictionary-encoded (levels in order of first appearance). */
function dictionaryColumns(transform: FeatureTransform, rows: readonly Row[]): Record<string, Float64Array | DictionaryColumn> {
  const strings = stringColumns(transform, rows);
  return Object.fromEntries(
    Object.entries(strings).map(([name, column]) => {
      if (column instanceof Float64Array) return [name, column];
      const levels = [...new Set(column.filter((v): v is string => typeof v === 'string'))];
      return [name, { codes: Int32Array.from(column, (v) => (v === null ? -1 : levels.indexOf(v as string))), levels }];
    }),
  );
}

/** An error's identity: what a caller sees of it. */
function identity(error: unknown): unknown {
  if (!(error instanceof InputError)) return error;
  return { code: error.code, details: error.details, message: error.message };
}

const expectSameFeatures = (a: Float64Array | undefined, b: Float64Array | undefined): void => {
  expect(b).toHaveLength(a!.length);
  // Bit for bit: Object.is tells -0 from 0 and compares NaN.
  expect(Array.from(a!).every((v, i) => Object.is(v, b![i]))).toBe(true);
};

describe('dictionary-encoded category columns', () => {
  it('give the same features and raw codes as row objects and string columns (every kind of step)', () => {
    for (const [transform, rows] of [
      [ops, opsRows(1000)],
      [penguins, tiledPenguins(1000)],
    ] as const) {
      const byRow = transform.prepare(rows);
      const byStrings = transform.prepareColumns(stringColumns(transform, rows));
      const byCodes = transform.prepareColumns(dictionaryColumns(transform, rows));
      expectSameFeatures(byRow.features, byStrings.features);
      expectSameFeatures(byRow.features, byCodes.features);
      for (const [field, codes] of byRow.raw!.categories) expect(categoryCodes(byCodes.raw!, field)).toEqual(codes);
      expect(Object.values(byCodes.inputs)[0]!.data).toEqual(Object.values(byRow.inputs)[0]!.data);
    }
  });

  it('accept levels no row has, in any order, repeated, and unknown ones the spec takes', () => {
    const rows = opsRows(50);
    const columns = dictionaryColumns(ops, rows);
    const zone = columns.zone as DictionaryColumn;
    const levels = ['never', ...zone.levels, zone.levels[0]!, 'Unheard'];
    const shifted = { ...columns, zone: { codes: zone.codes.map((c) => (c === -1 ? -1 : c + 1)), levels } };
    expectSameFeatures(ops.prepare(rows).features, ops.prepareColumns(shifted).features);
  });

  const bad: [string, (columns: Record<string, unknown>, n: number) => void, object][] = [
    ['codes not an Int32Array', (c) => (c.zone = { codes: [0, 1], levels: ['RL'] }), { code: 'WRONG_TYPE', details: { field: 'zone' } }],
    [
      'levels not an array',
      (c, n) => (c.zone = { codes: new Int32Array(n), levels: 'RL' }),
      { code: 'WRONG_TYPE', details: { field: 'zone' } },
    ],
    [
      'a level that is not a string',
      (c, n) => (c.zone = { codes: new Int32Array(n), levels: ['RL', 7] }),
      { code: 'WRONG_TYPE', details: { field: 'zone', level: 1 } },
    ],
    [
      'codes of another length',
      (c, n) => (c.zone = { codes: new Int32Array(n - 1), levels: ['RL'] }),
      { code: 'INVALID_BATCH', details: { field: 'zone' } },
    ],
    [
      'a code past the levels',
      (c, n) => (c.zone = { codes: new Int32Array(n).fill(2, 30), levels: ['RL', 'RM'] }),
      { code: 'INVALID_BATCH', details: { row: 30, field: 'zone' } },
    ],
    [
      'a code below -1',
      (c, n) => (c.zone = { codes: new Int32Array(n).fill(-2, 12, 13), levels: ['RL'] }),
      { code: 'INVALID_BATCH', details: { row: 12, field: 'zone' } },
    ],
    [
      'a typed array of numbers for a category',
      (c, n) => (c.roof = new Float64Array(n)),
      { code: 'WRONG_TYPE', details: { field: 'roof' } },
    ],
    [
      'a level too long that no row has',
      (c, n) => (c.zone = { codes: new Int32Array(n), levels: ['RL', 'x'.repeat(2000)] }),
      { code: 'VALUE_TOO_LONG', details: { field: 'zone', level: 1, length: 2000, limit: 1024 } },
    ],
  ];
  for (const [what, mutate, expected] of bad) {
    it(`${what} -> ${(expected as { code: string }).code}`, async () => {
      const rows = opsRows(40);
      const columns: Record<string, unknown> = dictionaryColumns(ops, rows);
      mutate(columns, rows.length);
      const error = await caught(() => ops.prepareColumns(columns));
      expect(error).toBeInstanceOf(InputError);
      expect(error).toMatchObject(expected);
    });
  }

  // A refused value gets, in columns, exactly the error the same rows get as objects: the first row
  // that has the level, and of several refusals the lowest row, then the first field.
  const refused: [string, (rows: Row[]) => void, string][] = [
    [
      'an unknown category, at rows 9 and 23',
      (rows) => ((rows[9]!.island = 'Atlantis'), (rows[23]!.island = 'Atlantis')),
      'UNKNOWN_CATEGORY',
    ],
    [
      'a string too long, at rows 5 and 30',
      (rows) => ((rows[5]!.sex = 'f'.repeat(1500)), (rows[30]!.sex = 'f'.repeat(1500))),
      'VALUE_TOO_LONG',
    ],
    ['a later field at an earlier row', (rows) => ((rows[20]!.island = 'Atlantis'), (rows[11]!.sex = 'other')), 'UNKNOWN_CATEGORY'],
    ['two fields on one row', (rows) => ((rows[14]!.sex = 'other'), (rows[14]!.island = 'Atlantis')), 'UNKNOWN_CATEGORY'],
    [
      'a number too big for a float at row 8, an unknown category at row 3',
      (rows) => ((rows[8]!.body_mass_g = Number.POSITIVE_INFINITY), (rows[3]!.sex = 'other')),
      'UNKNOWN_CATEGORY',
    ],
    // Number columns are read without a pass of their own: the first refusal is still the lowest row.
    [
      'an infinite number at row 2, an unknown category at row 9',
      (rows) => ((rows[2]!.body_mass_g = Number.NEGATIVE_INFINITY), (rows[9]!.sex = 'other')),
      'NOT_FINITE',
    ],
  ];
  for (const [what, mutate, code] of refused) {
    it(`${what}: the row objects' ${code}`, async () => {
      const rows = tiledPenguins(40);
      mutate(rows);
      const expected = identity(await caught(() => penguins.prepare(rows)));
      expect(expected).toMatchObject({ code });
      expect(identity(await caught(() => penguins.prepareColumns(dictionaryColumns(penguins, rows))))).toEqual(expected);
      expect(identity(await caught(() => penguins.prepareColumns(stringColumns(penguins, rows))))).toEqual(expected);
    });
  }

  it('a missing value the spec cannot impute, and a value outside the transform, as in row objects', async () => {
    for (const mutate of [
      (rows: Row[]) => ((rows[17]!.roof = null), (rows[25]!.roof = null)),
      (rows: Row[]) => (rows[21]!.age = null),
      (rows: Row[]) => (rows[19]!.area = -5),
      // A clip would make it finite: still refused, as in row objects.
      (rows: Row[]) => (rows[23]!.age = Number.POSITIVE_INFINITY),
    ]) {
      const rows = opsRows(40);
      mutate(rows);
      const expected = identity(await caught(() => ops.prepare(rows)));
      expect(expected).toMatchObject({ code: expect.stringMatching(/^(MISSING_VALUE|OUT_OF_DOMAIN|NOT_FINITE)$/) });
      expect(identity(await caught(() => ops.prepareColumns(dictionaryColumns(ops, rows))))).toEqual(expected);
    }
  });
});

it('a number field no block reads is still checked in columns', async () => {
  const spec = everyOpSpec('unread') as { fields: object[] };
  const transform = compileFeatureSpec(parseFeatureSpec({ ...spec, fields: [...spec.fields, { name: 'note', type: 'number' }] }));
  const rows = opsRows(30).map((row, i) => ({ ...row, note: i === 13 ? Number.POSITIVE_INFINITY : i }));
  const expected = identity(await caught(() => transform.prepare(rows)));
  expect(expected).toMatchObject({ code: 'NOT_FINITE', details: { row: 13, field: 'note' } });
  expect(identity(await caught(() => transform.prepareColumns(dictionaryColumns(transform, rows))))).toEqual(expected);
});

describe('pooled model input (the serving paths)', () => {
  const modelInput = (prepared: PreparedBatch): number[] => Array.from(Object.values(prepared.inputs)[0]!.data as Float64Array);
  const bitwise = (a: number[], b: number[]): boolean => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

  it('writes exactly the model input an unpooled batch gives, float64 and float32, across chunk edges', () => {
    // 1000 and 300 rows: several chunks, and a last chunk that is not full.
    for (const [transform, rows] of [
      [ops, opsRows(1000)],
      [penguins, tiledPenguins(300)],
    ] as const) {
      const plain = transform.prepare(rows);
      const pooled = transform.prepare(rows, { pooled: true });
      expect(pooled.features).toBeUndefined();
      expect(bitwise(modelInput(pooled), modelInput(plain))).toBe(true);
      pooled.release!();
      const columns = transform.prepareColumns(dictionaryColumns(transform, rows), { pooled: true });
      expect(bitwise(modelInput(columns), modelInput(plain))).toBe(true);
      columns.release!();
    }
  });

  it('lends its buffer to one batch at a time, and reuses it once released', () => {
    const rows = opsRows(600);
    const first = ops.prepare(rows, { pooled: true });
    first.release!();
    const second = ops.prepare(rows, { pooled: true });
    const data = (p: typeof first): ArrayBufferView => Object.values(p.inputs)[0]!.data as ArrayBufferView;
    expect(data(second).buffer).toBe(data(first).buffer);
    // Not released yet: a third batch gets a buffer of its own, and the second's input is untouched.
    const before = modelInput(second);
    const third = ops.prepare(opsRows(600).reverse(), { pooled: true });
    expect(data(third).buffer).not.toBe(data(second).buffer);
    expect(bitwise(modelInput(second), before)).toBe(true);
    second.release!();
    third.release!();
  });

  it('fills a lent input part by part with exactly the input of the whole batch, and refuses a part that overflows it', async () => {
    const rows = opsRows(1000);
    const whole = modelInput(ops.prepare(rows));
    const lent = ops.lendInput!(rows.length);
    // Parts that do not end on a chunk edge (chunks are 256 rows).
    for (const [from, to] of [
      [0, 300],
      [300, 777],
      [777, 1000],
    ] as const) {
      const part = ops.prepareColumnsInto!(dictionaryColumns(ops, rows.slice(from, to)), lent, from);
      expect(part.rows).toBe(to - from);
      expect(part.raw!.numbers.get('area')).toHaveLength(to - from);
      // The part's codes are its own, read through their translation as the row objects' codes.
      for (const field of ['zone', 'roof'])
        expect(categoryCodes(part.raw!, field)).toEqual(ops.prepare(rows.slice(from, to)).raw!.categories.get(field));
    }
    expect(bitwise(Array.from(lent.data), whole)).toBe(true);
    const overflow = identity(await caught(() => ops.prepareColumnsInto!(dictionaryColumns(ops, rows.slice(0, 10)), lent, 995)));
    expect(overflow).toMatchObject({ code: 'INVALID_BATCH' });
    lent.release();
    // Released: the next pooled batch of that size reuses its buffer.
    const next = ops.prepare(rows, { pooled: true });
    expect((Object.values(next.inputs)[0]!.data as ArrayBufferView).buffer).toBe(lent.data.buffer);
    next.release!();
  });

  it('a part with a refused value names the row of the part, as prepareColumns would for those rows', async () => {
    // Parts are read without a checking pass too: each refusal is flagged by a kernel, then named.
    const cases: [string, (rows: Row[]) => void, (columns: Record<string, unknown>) => void][] = [
      ['OUT_OF_DOMAIN', (rows) => (rows[123]!.area = -5), () => undefined],
      ['NOT_FINITE', (rows) => (rows[123]!.age = Number.POSITIVE_INFINITY), () => undefined],
      ['INVALID_BATCH', () => undefined, (columns) => ((columns.zone as DictionaryColumn).codes[123] = 99)],
    ];
    for (const [code, mutateRows, mutateColumns] of cases) {
      const rows = opsRows(400);
      mutateRows(rows);
      const columns = (): Record<string, unknown> => {
        const built: Record<string, unknown> = dictionaryColumns(ops, rows);
        mutateColumns(built);
        return built;
      };
      const lent = ops.lendInput!(rows.length);
      const expected = identity(await caught(() => ops.prepareColumns(columns())));
      expect(expected).toMatchObject({ code, details: { row: 123 } });
      expect(identity(await caught(() => ops.prepareColumnsInto!(columns(), lent, 0)))).toEqual(expected);
      lent.release();
    }
  });

  it('refuses a value outside the transform with the unpooled batch’s error', async () => {
    const rows = opsRows(700);
    rows[650]!.area = -5;
    const expected = identity(await caught(() => ops.prepare(rows)));
    expect(expected).toMatchObject({ code: 'OUT_OF_DOMAIN', details: { row: 650 } });
    expect(identity(await caught(() => ops.prepare(rows, { pooled: true })))).toEqual(expected);
  });
});

describe('main thread: rows to columns for predictBatch', () => {
  const plan = columnPlan(penguins.inputs)!;

  it('lays out plain rows as Float64Array and dictionary columns the worker reads to the same features', () => {
    const rows = tiledPenguins(COLUMNS_MIN_ROWS);
    rows[3]!.sex = null;
    rows[4]!.body_mass_g = null;
    const columns = rowsToColumns(rows, plan)!;
    expect(columns).toBeDefined();
    expect(Object.keys(columns)).toEqual(penguins.inputs.map((f) => f.name));
    expect(columns.body_mass_g).toBeInstanceOf(Float64Array);
    expect(Number.isNaN((columns.body_mass_g as Float64Array)[4])).toBe(true);
    const sex = columns.sex as DictionaryColumn;
    expect(sex.codes[3]).toBe(-1);
    const female = rows.findIndex((r) => r.sex === 'female');
    expect(sex.levels[sex.codes[female]!]).toBe('female');
    expectSameFeatures(penguins.prepare(rows).features, penguins.prepareColumns(columns).features);
  });

  it('takes rows with a null prototype, in any key order, and ignores what structured clone would not carry', () => {
    const rows = tiledPenguins(300);
    rows[7] = Object.assign(Object.create(null) as Row, rows[7]);
    rows[8] = Object.fromEntries(Object.entries(rows[8]!).reverse());
    Object.defineProperty(rows[9], 'hidden', { value: 1, enumerable: false });
    (rows[10] as Record<symbol, unknown>)[Symbol('tag')] = 1;
    const columns = rowsToColumns(rows, plan);
    expect(columns).toBeDefined();
    expectSameFeatures(penguins.prepare(structuredClone(rows)).features, penguins.prepareColumns(columns).features);
  });

  class Penguin {
    constructor(readonly values: Row) {}
  }
  const fallbacks: [string, (rows: unknown[]) => void][] = [
    ['an extra field', (rows) => ((rows[100] as Row).year = 2008)],
    ['a field missing', (rows) => delete (rows[100] as Row).island],
    ['a forbidden key', (rows) => Object.defineProperty(rows[100], '__proto__', { value: {}, enumerable: true })],
    ['a string for a number', (rows) => ((rows[100] as Row).body_mass_g = 'heavy')],
    ['a number for a category', (rows) => ((rows[100] as Row).island = 3)],
    ['NaN', (rows) => ((rows[100] as Row).bill_length_mm = Number.NaN)],
    ['Infinity', (rows) => ((rows[100] as Row).bill_length_mm = Number.NEGATIVE_INFINITY)],
    ['undefined', (rows) => ((rows[100] as Row).sex = undefined)],
    ['a boxed number', (rows) => ((rows[100] as Row).body_mass_g = Object(4000))],
    ['a class instance', (rows) => (rows[100] = Object.assign(new Penguin({}), rows[100]))],
    ['a Map', (rows) => (rows[100] = new Map(Object.entries(rows[100] as Row)))],
    ['an array', (rows) => (rows[100] = Object.values(rows[100] as Row))],
    ['null', (rows) => (rows[100] = null)],
    ['a number', (rows) => (rows[100] = 42)],
    ['a hole', (rows) => delete rows[100]],
  ];
  for (const [what, mutate] of fallbacks) {
    it(`a row with ${what} sends the rows as they are`, () => {
      const rows: unknown[] = tiledPenguins(300);
      mutate(rows);
      expect(rowsToColumns(rows, plan)).toBeUndefined();
    });
  }

  it('fewer rows than the threshold, no array, a tensor model, or a polluted Object.prototype: rows as they are', () => {
    expect(rowsToColumns(tiledPenguins(COLUMNS_MIN_ROWS - 1), plan)).toBeUndefined();
    expect(rowsToColumns({ length: 300 }, plan)).toBeUndefined();
    expect(rowsToColumns(tiledPenguins(300), undefined)).toBeUndefined();
    expect(columnPlan([{ name: 'image', type: 'tensor', dtype: 'float32', shape: ['batch', 64] }])).toBeUndefined();
    const rows = tiledPenguins(300);
    Object.defineProperty(Object.prototype, 'polluted', { value: 1, enumerable: true, configurable: true, writable: true });
    let columns: ColumnarInput | undefined;
    try {
      columns = rowsToColumns(rows, plan);
    } finally {
      delete (Object.prototype as Record<string, unknown>).polluted;
    }
    expect(columns).toBeUndefined();
    expect(rowsToColumns(rows, plan)).toBeDefined();
  });
});

describe('typed answers expanded on the main thread', () => {
  /** A runtime that answers whatever output it is given. */
  const stub = (output: string, data: Float32Array | Float64Array, dims: number[]): Runtime => ({
    name: 'onnxruntime-web',
    backend: 'wasm',
    threads: 1,
    inputNames: ['x'],
    outputNames: [output],
    fallbacks: [],
    run: async () => ({ [output]: { data: data.slice(), dims } }),
    dispose: async () => undefined,
  });
  const withIds = (predictions: Prediction[], version: string, firstId: number): Prediction[] =>
    predictions.map((p, r) => ({ ...p, version, id: String(firstId + r) }));

  it('are the objects predictions() gives: float64 probabilities unrounded, ties to the first class, values through the inverse', async () => {
    const rows = opsRows(4);
    // Row 1 ties Adelie and Gentoo; float64 values that float32 would round.
    const probabilities = Float64Array.from([0.1, 0.2, 0.7, 0.4, 0.2, 0.4, 1 / 3, 1 / 3 + 1e-12, 1 / 3 - 1e-12, 0.5, 0.25, 0.25]);
    const classes = ['Adelie', 'Chinstrap', 'Gentoo'];
    const classifier = createScorer(ops, stub('p', probabilities, [4, 3]), { kind: 'classification', probabilities: 'p', classes });
    let batch = await classifier.scoreColumns(dictionaryColumns(ops, rows));
    const expected = withIds(classifier.predictions(batch), '2.1.0', 41);
    const answers = classifier.answers(batch);
    expect(expandAnswers(answers, '2.1.0', 41)).toEqual(expected);
    expect(JSON.stringify(expandAnswers(answers, '2.1.0', 41))).toBe(JSON.stringify(expected));
    expect(expected.map((p) => p.kind === 'classification' && p.label)).toEqual(['Gentoo', 'Adelie', 'Chinstrap', 'Adelie']);

    const regressor = createScorer(ops, stub('y', Float32Array.from([11.5, 12.25, 10, 9.75]), [4, 1]), {
      kind: 'regression',
      value: 'y',
      inverse: 'expm1',
    });
    batch = await regressor.scoreColumns(dictionaryColumns(ops, rows));
    const values = regressor.answers(batch);
    expect(expandAnswers(values, '1.0.0', 7)).toEqual(withIds(regressor.predictions(batch), '1.0.0', 7));
    expect(regressor.columnar(batch)).toEqual({ kind: 'regression', rows: 4, values: (values as { values: Float64Array }).values });
  });

  it('with the real penguins model: rows -> columns -> worker-side scoring -> objects equal predictBatch’s', async () => {
    const files = await penguinFiles();
    const runtime = await createRuntime('onnxruntime-web', { model: files.model }, { threads: 1 });
    try {
      const task = { kind: 'classification', probabilities: 'probabilities', classes: ['Adelie', 'Chinstrap', 'Gentoo'] } as const;
      const scorer = createScorer(penguins, runtime, task);
      const rows = tiledPenguins(1000);
      const columns: ColumnarInput = rowsToColumns(rows, columnPlan(penguins.inputs))!;
      const fast = expandAnswers(scorer.answers(await scorer.scoreColumns(columns)), '1.0.0', 1);
      expect(fast).toEqual(withIds(scorer.predictions(await scorer.score(rows)), '1.0.0', 1));
    } finally {
      await runtime.dispose();
    }
  });
});

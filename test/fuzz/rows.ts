// Bad rows: a row of the end-to-end set, altered (a field's value, a key added or removed, the
// row's own kind), sent with nine good rows at once (one micro-batch) through a worker thread. The
// nine must be answered as the research pipeline answers them; the altered one answered when it is
// still a valid row, else refused with a typed error naming its field where it has one.
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OndeviceModel, Prediction } from '../../src/node/index.js';
import { answered, refused, settle, worst, type Outcome } from './verdict.js';

/** The model the fuzz cases run against: the penguins training script's output. */
export const PENGUINS = fileURLToPath(new URL('../../models/penguins/build/', import.meta.url));

interface SpecField {
  readonly name: string;
  readonly type: 'number' | 'category';
  readonly levels: readonly string[];
}

const spec = JSON.parse(readFileSync(join(PENGUINS, 'feature-spec.json'), 'utf8')) as {
  fields: { name: string; type: 'number' | 'category' }[];
  features: { field: string; steps: { op: string; categories?: string[] }[] }[];
};
export const FIELDS: readonly SpecField[] = spec.fields.map(({ name, type }) => ({
  name,
  type,
  levels: spec.features.find((f) => f.field === name)?.steps.find((s) => s.op === 'one_hot')?.categories ?? [],
}));
const e2e = JSON.parse(readFileSync(join(PENGUINS, 'e2e-set.json'), 'utf8')) as {
  rows: Record<string, unknown>[];
  expected: { label: string[] };
};
export const E2E_ROWS = e2e.rows;
export const E2E_LABELS = e2e.expected.label;

class Penguin {
  constructor(readonly island: string) {}
}

const nested = (depth: number): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { value };
  return value;
};

/** Any value a caller might put in a field, the awkward ones included. */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(...FIELDS.flatMap((field) => field.levels)),
  fc.string({ maxLength: 12 }),
  fc.constantFrom(null, undefined, Number.NaN, Infinity, -Infinity, true, '', 'x'.repeat(70_000)),
  fc.bigInt(),
  fc.date({ noInvalidDate: true }),
  fc.array(fc.integer(), { maxLength: 4 }),
  fc.object({ maxDepth: 2 }),
  fc.integer({ min: 9, max: 5_000 }).map(nested),
  fc.constantFrom<unknown>(() => 1, Symbol('s'), new Penguin('Biscoe'), new Float64Array(2), new Map()),
);

type Key = { readonly kind: 'set'; readonly field: string; readonly value: unknown } | { readonly kind: 'delete'; readonly field: string };

const keyChange: fc.Arbitrary<Key> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), field: fc.constantFrom(...FIELDS.map((f) => f.name)), value: anyValue }),
  fc.record({ kind: fc.constant('set' as const), field: fc.constantFrom('extra', '__proto__', 'constructor'), value: anyValue }),
  fc.record({ kind: fc.constant('delete' as const), field: fc.constantFrom(...FIELDS.map((f) => f.name)) }),
);

const ROW_KINDS = [
  'plain',
  'null-prototype',
  'frozen',
  'proxy',
  'throwing-proxy',
  'throwing-getter',
  'class',
  'array',
  'null',
  'string',
] as const;
type RowKind = (typeof ROW_KINDS)[number];

export interface RowCase {
  readonly base: number;
  readonly changes: readonly Key[];
  readonly kind: RowKind;
  /** Where in the micro-batch of ten the altered row goes. */
  readonly position: number;
}

export const rowCase: fc.Arbitrary<RowCase> = fc.record({
  base: fc.nat(E2E_ROWS.length - 1),
  changes: fc.array(keyChange, { maxLength: 3 }),
  kind: fc.oneof({ weight: 6, arbitrary: fc.constant('plain' as const) }, { weight: 4, arbitrary: fc.constantFrom(...ROW_KINDS) }),
  position: fc.nat(9),
});

/** The fields the case's row is wrong in, or undefined when it is a valid row; [] when the row itself is wrong. */
export function rowFaults(test: RowCase): string[] | undefined {
  if (!['plain', 'null-prototype', 'frozen', 'proxy'].includes(test.kind)) return [];
  const values = applied(test);
  const faults = Object.keys(values).filter((key) => !cellFits(key, values[key]));
  for (const field of FIELDS) if (!Object.hasOwn(values, field.name)) faults.push(field.name);
  return faults.length === 0 ? undefined : faults;
}

function cellFits(key: string, value: unknown): boolean {
  const field = FIELDS.find((f) => f.name === key);
  if (field === undefined) return false;
  if (value === null || value === undefined) return true;
  return field.type === 'number'
    ? typeof value === 'number' && Number.isFinite(value)
    : typeof value === 'string' && field.levels.includes(value);
}

function applied(test: RowCase): Record<string, unknown> {
  const values: Record<string, unknown> = { ...E2E_ROWS[test.base] };
  for (const change of test.changes) {
    if (change.kind === 'delete') delete values[change.field];
    else Object.defineProperty(values, change.field, { value: change.value, enumerable: true, writable: true, configurable: true });
  }
  return values;
}

/** The row as the caller would hand it in. */
export function makeRow(test: RowCase): unknown {
  const values = applied(test);
  switch (test.kind) {
    case 'plain':
      return values;
    case 'null-prototype':
      return Object.assign(Object.create(null) as object, values);
    case 'frozen':
      return Object.freeze(values);
    case 'proxy':
      return new Proxy(values, {});
    case 'throwing-proxy':
      return new Proxy(values, {
        get() {
          throw new Error('the app forbids reading this');
        },
      });
    case 'throwing-getter':
      return Object.defineProperty({ ...values }, FIELDS[0]!.name, {
        enumerable: true,
        get() {
          throw new Error('a getter that throws');
        },
      });
    case 'class':
      return new Penguin('Biscoe');
    case 'array':
      return Object.values(values);
    case 'null':
      return null;
    case 'string':
      return '{"island":"Biscoe"}';
  }
}

const labelOf = (prediction: Prediction): string | undefined => (prediction.kind === 'classification' ? prediction.label : undefined);

/** Ten concurrent predict() calls, the altered row among nine good ones. */
export async function checkRows(model: OndeviceModel, test: RowCase): Promise<Outcome> {
  const goods = Array.from({ length: 10 }, (_, i) => (test.base + 1 + i) % E2E_ROWS.length);
  const calls = goods.map((row, i) =>
    settle(10_000, () => model.predict((i === test.position ? makeRow(test) : E2E_ROWS[row]) as Record<string, unknown>)),
  );
  const results = await Promise.all(calls);
  const faults = rowFaults(test);
  return worst(
    results.map((result, i) => {
      if (i !== test.position) {
        return answered(result, (p) => (labelOf(p) === E2E_LABELS[goods[i]!] ? undefined : `a good row got ${labelOf(p)}`));
      }
      if (faults === undefined) return answered(result);
      return refused(result, (error) => {
        if (error.name !== 'InputError') return `expected an InputError`;
        const field = error.details.field;
        if (faults.length > 0 && !(typeof field === 'string' && faults.includes(field)))
          return `named ${String(field)}, not one of ${faults.join(', ')}`;
        return error.details.row === 0 ? undefined : `row ${String(error.details.row)}, not 0`;
      });
    }),
  );
}

import { describe, expect, it } from 'vitest';
import { BundleError, InputError } from '../src/errors/index.js';
import { compileFeatureSpec, parseFeatureSpec } from '../src/features/index.js';
import { PENGUINS_BUILD, caught, readJson, type PenguinE2E } from './helpers.js';

const specJson = await readJson(new URL('feature-spec.json', PENGUINS_BUILD));
const e2e = await readJson<PenguinE2E>(new URL('e2e-set.json', PENGUINS_BUILD));
const transform = compileFeatureSpec(parseFeatureSpec(specJson));
const good = e2e.rows[5]!;

describe('feature transform', () => {
  it('gives the research pipeline’s feature matrix exactly in float64, and its float32 cast as model input', () => {
    const prepared = transform.prepare(e2e.rows);
    const features = prepared.features!;
    const modelInput = prepared.inputs.features!.data;
    expect(features).toHaveLength(e2e.rows.length * transform.width);
    expect(modelInput).toBeInstanceOf(Float32Array);
    e2e.expected.features.forEach((row, r) =>
      row.forEach((value, c) => {
        expect(features[r * transform.width + c]).toBe(value);
        expect(modelInput[r * transform.width + c]).toBe(Math.fround(value));
      }),
    );
  });

  it('names every output column and describes the inputs', () => {
    expect(transform.width).toBe(9);
    expect(transform.names).toContain('island=Dream');
    expect(transform.inputs.find((i) => i.name === 'sex')).toEqual({
      name: 'sex',
      type: 'category',
      categories: ['female', 'male'],
      missing: 'impute',
      acceptsUnknown: false,
    });
  });

  it('accepts an empty batch', () => {
    expect(transform.prepare([]).features).toHaveLength(0);
  });
});

describe('bad input gets a typed error naming the row and field', () => {
  const cases: [string, unknown, string, string | undefined][] = [
    ['missing field', omit(good, 'island'), 'MISSING_FIELD', 'island'],
    ['wrong type (string for number)', { ...good, body_mass_g: '4000' }, 'WRONG_TYPE', 'body_mass_g'],
    ['wrong type (number for category)', { ...good, island: 3 }, 'WRONG_TYPE', 'island'],
    ['unknown category', { ...good, island: 'Atlantis' }, 'UNKNOWN_CATEGORY', 'island'],
    ['NaN', { ...good, bill_length_mm: Number.NaN }, 'NOT_FINITE', 'bill_length_mm'],
    ['Infinity', { ...good, flipper_length_mm: Number.POSITIVE_INFINITY }, 'NOT_FINITE', 'flipper_length_mm'],
    ['extra field', { ...good, year: 2008 }, 'UNEXPECTED_FIELD', 'year'],
    ['__proto__ key', { ...good, ...JSON.parse('{"__proto__": {"polluted": true}}') }, 'FORBIDDEN_KEY', '__proto__'],
    ['constructor key', { ...good, constructor: 'x' }, 'FORBIDDEN_KEY', 'constructor'],
    ['10 MB string', { ...good, sex: 'x'.repeat(10 * 1024 * 1024) }, 'VALUE_TOO_LONG', 'sex'],
    ['not an object', 42, 'INVALID_ROW', undefined],
    ['an array', [1, 2], 'INVALID_ROW', undefined],
    ['null row', null, 'INVALID_ROW', undefined],
  ];
  for (const [what, row, code, field] of cases) {
    it(`${what} -> ${code}`, async () => {
      const error = await caught(() => transform.prepare([good, row]));
      expect(error).toBeInstanceOf(InputError);
      expect((error as InputError).code).toBe(code);
      expect((error as InputError).details.row).toBe(1);
      if (field !== undefined) expect((error as InputError).details.field).toBe(field);
      expect((error as InputError).message.length).toBeLessThan(300);
    });
  }

  it('a batch that is not an array -> INVALID_BATCH', async () => {
    expect(((await caught(() => transform.prepare({ rows: [] }))) as InputError).code).toBe('INVALID_BATCH');
  });

  it('no prototype is polluted', () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('feature spec validation', () => {
  it('refuses a step that does not fit its field', async () => {
    const bad = structuredClone(specJson) as { features: { steps: object[] }[] };
    bad.features[0]!.steps.push({ op: 'one_hot', categories: ['a'], unknown: 'error' });
    const error = await caught(() => parseFeatureSpec(bad));
    expect(error).toBeInstanceOf(BundleError);
    expect((error as BundleError).code).toBe('INVALID_FEATURE_SPEC');
    expect((error as BundleError).details.path).toBe('features[0].steps[2]');
  });

  it('refuses an unknown op, naming it', async () => {
    const bad = structuredClone(specJson) as { features: { steps: { op: string }[] }[] };
    bad.features[1]!.steps[1]!.op = 'quantile_transform';
    const error = (await caught(() => parseFeatureSpec(bad))) as BundleError;
    expect(error.message).toContain('features[1].steps[1].op');
  });

  it('refuses an impute value the encoder does not know', async () => {
    const bad = structuredClone(specJson) as { features: { field: string; steps: { value?: string }[] }[] };
    bad.features.find((f) => f.field === 'island')!.steps[0]!.value = 'Atlantis';
    expect(((await caught(() => parseFeatureSpec(bad))) as BundleError).code).toBe('INVALID_FEATURE_SPEC');
  });
});

function omit(row: Record<string, unknown>, key: string): Record<string, unknown> {
  const copy = { ...row };
  delete copy[key];
  return copy;
}

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BundleError, InputError } from '../src/errors/index.js';
import { compileFeatureSpec, parseFeatureSpec } from '../src/features/index.js';
import { parity, type ParityCase } from './feature-parity.js';

/*
 * The ops for scikit-learn's other preprocessing steps (models/README.md). The fixture is written by
 * models/ondevice_export/test_steps.py (ONDEVICE_WRITE_FIXTURES=1) from scikit-learn 1.2's transform()
 * on its bundled data sets; the library must reproduce it in float64.
 */
const fixture = JSON.parse(readFileSync(new URL('fixtures/steps-parity.json', import.meta.url), 'utf8')) as { cases: ParityCase[] };

describe('feature parity with scikit-learn transform()', () => {
  for (const item of fixture.cases) {
    it(`${item.name}: every value within 1e-12 relative, NaN where scikit-learn has NaN`, () => {
      const result = parity(item);
      expect(result.mismatches).toBe(0);
      expect(result.maxRelative).toBeLessThanOrEqual(1e-12);
    });
  }
});

const header = { format: 'ondevice/feature-spec', formatVersion: 1, name: 't', version: '1', output: { input: 'x', dtype: 'float64' } };
const spec = (fields: Record<string, 'number' | 'category'>, features: unknown[]): unknown => ({
  ...header,
  fields: Object.entries(fields).map(([name, type]) => ({ name, type })),
  features,
});
const numberSpec = (steps: unknown[]): unknown => spec({ a: 'number' }, [{ field: 'a', steps }]);
const categorySpec = (steps: unknown[]): unknown => spec({ c: 'category' }, [{ field: 'c', steps }]);
const oneHot = { op: 'one_hot', categories: ['x', 'y', 'z'], unknown: 'error' };

function refusal(json: unknown): { code: string; path: unknown; message: string } {
  try {
    parseFeatureSpec(json);
  } catch (error) {
    expect(error).toBeInstanceOf(BundleError);
    const bundle = error as BundleError;
    return { code: bundle.code, path: bundle.details.path, message: bundle.message };
  }
  throw new Error('expected INVALID_FEATURE_SPEC, the spec was accepted');
}

describe('a bad option of a new op is INVALID_FEATURE_SPEC naming its path', () => {
  const cases: [string, unknown, string, RegExp][] = [
    ['missing_indicator after a step', numberSpec([{ op: 'log' }, { op: 'missing_indicator' }]), 'features[0].steps[1]', /first step/],
    ['an unknown function', numberSpec([{ op: 'tanh' }]), 'features[0].steps[0].op', /must be one of/],
    ['log on a category', categorySpec([{ op: 'log' }]), 'features[0].steps[0]', /needs a number/],
    ['clip without bounds', numberSpec([{ op: 'clip' }]), 'features[0].steps[0]', /needs min, max or both/],
    ['clip min above max', numberSpec([{ op: 'clip', min: 3, max: 1 }]), 'features[0].steps[0].min', /must not exceed max/],
    ['clip bound not a number', numberSpec([{ op: 'clip', max: '1' }]), 'features[0].steps[0].max', /finite number/],
    ['bins without edges', numberSpec([{ op: 'bins', encode: 'ordinal' }]), 'features[0].steps[0].edges', /array/],
    [
      'bins edges out of order',
      numberSpec([{ op: 'bins', edges: [1, 3, 2], encode: 'ordinal' }]),
      'features[0].steps[0].edges[2]',
      /below/,
    ],
    ['bins edge not finite', numberSpec([{ op: 'bins', edges: [1, null], encode: 'ordinal' }]), 'features[0].steps[0].edges[1]', /finite/],
    ['bins encode', numberSpec([{ op: 'bins', edges: [1], encode: 'onehot' }]), 'features[0].steps[0].encode', /must be one of/],
    [
      'a step after a one-hot of bins',
      numberSpec([{ op: 'bins', edges: [1], encode: 'one_hot' }, { op: 'log' }]),
      'features[0].steps[1]',
      /nothing may follow one_hot/,
    ],
    [
      'a one-hot of bins on a category',
      categorySpec([
        { op: 'ordinal', categories: ['x'], unknown: 'error' },
        { op: 'bins', edges: [0.5], encode: 'one_hot' },
      ]),
      'features[0].steps[1]',
      /number fields only/,
    ],
    [
      'one_hot unknown "infrequent" without levels',
      categorySpec([{ ...oneHot, unknown: 'infrequent' }]),
      'features[0].steps[0].unknown',
      /no infrequent/,
    ],
    [
      'one_hot infrequent sharing a category',
      categorySpec([{ ...oneHot, infrequent: ['x'] }]),
      'features[0].steps[0].infrequent',
      /repeats "x"/,
    ],
    ['one_hot infrequent empty', categorySpec([{ ...oneHot, infrequent: [] }]), 'features[0].steps[0].infrequent', /not be empty/],
    ['one_hot infrequent not strings', categorySpec([{ ...oneHot, infrequent: [1] }]), 'features[0].steps[0].infrequent[0]', /string/],
    ['one_hot drop past the columns', categorySpec([{ ...oneHot, drop: 3 }]), 'features[0].steps[0].drop', /from 0 to 2/],
    ['one_hot drop not whole', categorySpec([{ ...oneHot, drop: 0.5 }]), 'features[0].steps[0].drop', /column index/],
    [
      'ordinal missing not a number',
      categorySpec([{ op: 'ordinal', categories: ['x'], unknown: 'error', missing: 'x' }]),
      'features[0].steps[0].missing',
      /finite number/,
    ],
    [
      'ordinal unknownValue infinite',
      categorySpec([{ op: 'ordinal', categories: ['x'], unknown: 'value', unknownValue: '-Infinity' }]),
      'features[0].steps[0].unknownValue',
      /finite number/,
    ],
    [
      'a group without inputs',
      spec({ a: 'number' }, [{ inputs: [], combine: { op: 'normalize', norm: 'l2' } }]),
      'features[0].inputs',
      /empty/,
    ],
    [
      'a group norm',
      spec({ a: 'number' }, [{ inputs: [{ field: 'a', steps: [] }], combine: { op: 'normalize', norm: 'l3' } }]),
      'features[0].combine.norm',
      /must be one of/,
    ],
    [
      'a polynomial term past the inputs',
      spec({ a: 'number' }, [{ inputs: [{ field: 'a', steps: [] }], combine: { op: 'polynomial', terms: [[0], [0, 1]] } }]),
      'features[0].combine.terms[1][1]',
      /from 0 to 0/,
    ],
    [
      'a polynomial term of degree 17',
      spec({ a: 'number' }, [{ inputs: [{ field: 'a', steps: [] }], combine: { op: 'polynomial', terms: [Array(17).fill(0)] } }]),
      'features[0].combine.terms[0]',
      /at most 16/,
    ],
    [
      'group outputs of the wrong count',
      spec({ a: 'number' }, [{ inputs: [{ field: 'a', steps: [] }], combine: { op: 'polynomial', terms: [[], [0]] }, outputs: [[]] }]),
      'features[0].outputs',
      /makes 2 columns/,
    ],
    [
      'a one-hot step on a group output',
      spec({ a: 'number' }, [
        {
          inputs: [{ field: 'a', steps: [] }],
          combine: { op: 'normalize', norm: 'max' },
          outputs: [[{ op: 'bins', edges: [0], encode: 'one_hot' }]],
        },
      ]),
      'features[0].outputs[0][0].op',
      /one-column numeric op/,
    ],
    [
      'a group input naming no field',
      spec({ a: 'number' }, [{ inputs: [{ field: 'b', steps: [] }], combine: { op: 'normalize', norm: 'l1' } }]),
      'features[0].inputs[0].field',
      /not in fields/,
    ],
    [
      'groups nested five deep',
      spec({ a: 'number' }, [
        [1, 2, 3, 4, 5].reduce<unknown>((inner) => ({ inputs: [inner], combine: { op: 'normalize', norm: 'l1' } }), {
          field: 'a',
          steps: [],
        }),
      ]),
      'features[0].inputs[0].inputs[0].inputs[0].inputs[0]',
      /deeper than 4/,
    ],
  ];
  for (const [what, json, path, message] of cases) {
    it(what, () => {
      const error = refusal(json);
      expect(error.code).toBe('INVALID_FEATURE_SPEC');
      expect(error.path).toBe(path);
      expect(error.message).toMatch(message);
    });
  }
});

describe('the new ops at scoring time', () => {
  it('a missing indicator accepts null beside an imputed block, and reads 1 for it', () => {
    const transform = compileFeatureSpec(
      parseFeatureSpec(
        spec({ a: 'number', c: 'category' }, [
          { field: 'a', steps: [{ op: 'impute', strategy: 'mean', value: 5 }] },
          { field: 'a', steps: [{ op: 'missing_indicator' }, { op: 'standardize', mean: 0.5, scale: 0.5 }] },
          { field: 'c', steps: [{ op: 'impute', strategy: 'most_frequent', value: 'x' }, oneHot] },
          { field: 'c', steps: [{ op: 'missing_indicator' }] },
        ]),
      ),
    );
    expect(transform.inputs.find((f) => f.name === 'a')).toMatchObject({ missing: 'impute' });
    expect(transform.names).toEqual(['a', 'a:missing', 'c=x', 'c=y', 'c=z', 'c:missing']);
    const features = transform.prepare([
      { a: null, c: null },
      { a: 2, c: 'z' },
    ]).features!;
    expect([...features]).toEqual([5, 1, 1, 0, 0, 1, 2, -1, 0, 0, 1, 0]);
    // The same from columns (NaN in a typed array is missing), and into a lent buffer.
    const columns = { a: new Float64Array([Number.NaN, 2]), c: [null, 'z'] };
    expect([...transform.prepareColumns(columns).features!]).toEqual([...features]);
    const lent = transform.lendInput!(2);
    transform.prepareColumnsInto!(columns, lent, 0);
    expect([...lent.data]).toEqual([...features]);
    lent.release();
  });

  it('one_hot drops its column and groups infrequent and unknown levels', () => {
    const step = { op: 'one_hot', categories: ['x', 'y'], infrequent: ['r', 's'], unknown: 'infrequent', drop: 0 };
    const transform = compileFeatureSpec(parseFeatureSpec(categorySpec([step])));
    expect(transform.names).toEqual(['c=y', 'c=infrequent_sklearn']);
    const features = transform.prepare(['x', 'y', 'r', 's', 'never'].map((c) => ({ c }))).features!;
    expect([...features]).toEqual([0, 0, 1, 0, 0, 1, 0, 1, 0, 1]);
    const refusing = compileFeatureSpec(parseFeatureSpec(categorySpec([{ ...step, unknown: 'error' }])));
    expect(() => refusing.prepare([{ c: 'never' }])).toThrow(InputError);
  });

  it('an ordinal encoding writes NaN for unknown and missing levels, in rows and columns, pooled or not', () => {
    const transform = compileFeatureSpec(
      parseFeatureSpec(
        spec({ a: 'number', c: 'category' }, [
          { field: 'c', steps: [{ op: 'ordinal', categories: ['x', 'y'], unknown: 'value', unknownValue: null, missing: null }] },
          { field: 'a', steps: [{ op: 'log' }] },
        ]),
      ),
    );
    const rows = [
      { a: 1, c: 'y' },
      { a: 1, c: 'never' },
      { a: Math.E, c: null },
    ];
    expect([...transform.prepare(rows).features!]).toEqual([1, 0, Number.NaN, 0, Number.NaN, 1]);
    const columns = { a: new Float64Array([1, 1, Math.E]), c: { codes: new Int32Array([1, 2, -1]), levels: ['x', 'y', 'never'] } };
    expect([...transform.prepareColumns(columns).features!]).toEqual([1, 0, Number.NaN, 0, Number.NaN, 1]);
    const pooled = transform.prepare(rows, { pooled: true });
    expect([...pooled.inputs.x!.data]).toEqual([1, 0, Number.NaN, 0, Number.NaN, 1]);
    pooled.release?.();
    // A value out of the domain is still refused, naming its own field, not the NaN before it.
    const error = (() => {
      try {
        transform.prepare([
          { a: 1, c: 'never' },
          { a: 0, c: 'x' },
        ]);
      } catch (caught) {
        return caught as InputError;
      }
      return undefined;
    })();
    expect(error?.code).toBe('OUT_OF_DOMAIN');
    expect(error?.details).toMatchObject({ row: 1, field: 'a' });
  });

  it('a group combines its inputs row by row, each output then taking its own steps', () => {
    const transform = compileFeatureSpec(
      parseFeatureSpec(
        spec({ a: 'number', b: 'number', c: 'category' }, [
          {
            inputs: [
              { field: 'a', steps: [] },
              { field: 'b', steps: [{ op: 'impute', strategy: 'mean', value: 0 }] },
            ],
            combine: { op: 'polynomial', terms: [[], [0], [1], [0, 0], [0, 1], [1, 1]] },
            outputs: [[], [], [], [{ op: 'standardize', mean: 1, scale: 2 }], [], []],
          },
          {
            inputs: [
              { field: 'a', steps: [] },
              { field: 'c', steps: [oneHot] },
            ],
            combine: { op: 'normalize', norm: 'l2' },
          },
        ]),
      ),
    );
    expect(transform.width).toBe(10);
    expect(transform.names).toEqual(['1', 'a', 'b', 'a a', 'a b', 'b b', 'a/l2', 'c=x/l2', 'c=y/l2', 'c=z/l2']);
    expect(transform.fieldColumns.find((f) => f.field === 'a')?.columns).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(transform.inputs.find((f) => f.name === 'b')).toMatchObject({ missing: 'impute' });
    const features = transform.prepare([{ a: 3, b: null, c: 'y' }]).features!;
    expect([...features]).toEqual([1, 3, 0, 4, 0, 0, 3 / Math.sqrt(10), 0, 1 / Math.sqrt(10), 0]);
    // A zero row divides by 1, as scikit-learn's; a value out of the domain is refused naming the group's field.
    expect([...transform.prepare([{ a: 0, b: 1, c: 'x' }]).features!].slice(6)).toEqual([0, 1, 0, 0]);
    expect(() => transform.prepare([{ a: null, b: 1, c: 'x' }])).toThrow(InputError);
  });

  it('bins count the edges at or below a value, as numpy.searchsorted(side="right")', () => {
    const ordinal = compileFeatureSpec(parseFeatureSpec(numberSpec([{ op: 'bins', edges: [1, 2, 2, 5], encode: 'ordinal' }])));
    const values = [-3, 1, 1.5, 2, 4.9, 5, 7];
    expect([...ordinal.prepare(values.map((a) => ({ a }))).features!]).toEqual([0, 1, 1, 3, 3, 4, 4]);
    const hot = compileFeatureSpec(
      parseFeatureSpec(
        numberSpec([
          { op: 'clip', max: 1.5 },
          { op: 'bins', edges: [1], encode: 'one_hot' },
        ]),
      ),
    );
    expect(hot.width).toBe(2);
    expect([...hot.prepare([{ a: 0 }, { a: 9 }]).features!]).toEqual([1, 0, 0, 1]);
  });
});

import { describe, expect, it } from 'vitest';
import { BundleError, InputError } from '../src/errors/index.js';
import { compileFeatureSpec, parseFeatureSpec } from '../src/features/index.js';
import { caught, everyOpSpec } from './helpers.js';

const header = { format: 'ondevice/feature-spec', formatVersion: 1, name: 'ops', version: '1.0.0' };

const tabular = compileFeatureSpec(parseFeatureSpec(everyOpSpec('ops')));

const row = (area: number | null, age: number | null, zone: string | null, roof: string | null) => ({ area, age, zone, roof });

describe('feature ops, with scikit-learn semantics', () => {
  it('impute -> log1p -> standardize; min_max with clip; rare_label -> ordinal -> standardize; ordinal and one_hot with unknowns', () => {
    const { features, inputs } = tabular.prepare([row(99, 7, 'RM', 'Gable'), row(null, 20, 'C', 'Mansard'), row(0, 3, null, 'Flat')]);
    expect(tabular.names).toEqual(['area', 'age', 'zone', 'roof', 'roof=Flat', 'roof=Gable']);
    expect([...features!]).toEqual([
      (Math.log1p(99) - 2) / 0.5,
      7 * 0.1 - 0.5,
      (1 - 1) / 2,
      1,
      0,
      1,
      (Math.log1p(9) - 2) / 0.5,
      1,
      (0 - 1) / 2,
      -1,
      0,
      0,
      (Math.log1p(0) - 2) / 0.5,
      0,
      (2 - 1) / 2,
      0,
      1,
      0,
    ]);
    // float64 model input is the features themselves, not a copy cast to float32.
    expect(inputs.x!.data).toBe(features);
    expect(inputs.x!.dims).toEqual([3, 6]);
  });

  it('describes what each field accepts', () => {
    expect(tabular.inputs).toEqual([
      { name: 'area', type: 'number', missing: 'impute' },
      { name: 'age', type: 'number', missing: 'error' },
      { name: 'zone', type: 'category', categories: ['Rare', 'RM', 'RL'], missing: 'impute', acceptsUnknown: true },
      { name: 'roof', type: 'category', categories: ['Flat', 'Gable'], missing: 'error', acceptsUnknown: true },
    ]);
  });

  it('refuses a null without an impute step, and a value outside the transform’s domain', async () => {
    expect(((await caught(() => tabular.prepare([row(1, null, 'RL', 'Flat')]))) as InputError).code).toBe('MISSING_VALUE');
    expect(((await caught(() => tabular.prepare([row(1, 2, 'RL', null)]))) as InputError).details).toMatchObject({ field: 'roof' });
    const error = (await caught(() => tabular.prepare([row(1, 2, 'RL', 'Flat'), row(-5, 2, 'RL', 'Flat')]))) as InputError;
    expect(error).toBeInstanceOf(InputError);
    expect(error).toMatchObject({ code: 'OUT_OF_DOMAIN', details: { row: 1, field: 'area' } });
  });

  it('float32 output casts at the end only', () => {
    const spec = parseFeatureSpec({
      ...header,
      fields: [{ name: 'a', type: 'number' }],
      features: [{ field: 'a', steps: [{ op: 'standardize', mean: 0.1, scale: 3 }] }],
      output: { input: 'x', dtype: 'float32' },
    });
    const prepared = compileFeatureSpec(spec).prepare([{ a: 1 / 3 }]);
    expect(prepared.features![0]).toBe((1 / 3 - 0.1) / 3);
    expect(prepared.inputs.x!.data[0]).toBe(Math.fround((1 / 3 - 0.1) / 3));
  });

  it('refuses steps in an order scikit-learn could not have produced', async () => {
    const bad = (steps: object[], type = 'category') =>
      caught(() =>
        parseFeatureSpec({
          ...header,
          fields: [{ name: 'f', type }],
          features: [{ field: 'f', steps }],
          output: { input: 'x', dtype: 'float32' },
        }),
      );
    const cases = [
      [
        [
          { op: 'one_hot', categories: ['a'], unknown: 'error' },
          { op: 'standardize', mean: 0, scale: 1 },
        ],
        'features[0].steps[1]',
      ],
      [[{ op: 'log1p' }], 'features[0].steps[0]'],
      [
        [
          { op: 'ordinal', categories: ['a'], unknown: 'error' },
          { op: 'rare_label', keep: ['a'], label: 'R' },
        ],
        'features[0].steps[1]',
      ],
      [[{ op: 'rare_label', keep: ['a'], label: 'R' }], 'features[0].steps'],
      [[{ op: 'quantile', n: 10 }], 'features[0].steps[0].op'],
    ] as const;
    for (const [steps, path] of cases) {
      const error = (await bad([...steps])) as BundleError;
      expect(error, JSON.stringify(steps)).toBeInstanceOf(BundleError);
      expect(error.details.path, JSON.stringify(steps)).toBe(path);
    }
    expect(((await bad([{ op: 'one_hot', categories: ['a'], unknown: 'error' }], 'number')) as BundleError).details.path).toBe(
      'features[0].steps[0]',
    );
  });
});

describe('tensor inputs', () => {
  const tensors = compileFeatureSpec(
    parseFeatureSpec({
      ...header,
      tensors: [
        { name: 'image', dtype: 'float32', shape: ['batch', 1, 2, 2] },
        { name: 'tokens', dtype: 'int32', shape: ['batch', 'length'] },
      ],
    }),
  );

  it('stacks examples into one batch: flat arrays, typed arrays, and { data, dims } for dynamic dimensions', () => {
    const { inputs, rows } = tensors.prepare([
      { image: [1, 2, 3, 4], tokens: { data: new Int32Array([7, 8, 9]), dims: [3] } },
      { image: new Float32Array([5, 6, 7, 8]), tokens: { data: [1, 2, 3], dims: [3] } },
    ]);
    expect(rows).toBe(2);
    expect(inputs.image).toEqual({ data: new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]), dims: [2, 1, 2, 2] });
    expect(inputs.tokens).toEqual({ data: new Int32Array([7, 8, 9, 1, 2, 3]), dims: [2, 3] });
  });

  it('a wrong shape or dtype gets a typed error naming the input', async () => {
    const good = { image: [1, 2, 3, 4], tokens: { data: [1], dims: [1] } };
    const cases: [unknown, string, string][] = [
      [{ ...good, image: [1, 2, 3] }, 'TENSOR_SHAPE', 'image'],
      [{ ...good, image: { data: [1, 2, 3, 4], dims: [1, 4] } }, 'TENSOR_SHAPE', 'image'],
      [{ ...good, image: new Float64Array(4) }, 'TENSOR_DTYPE', 'image'],
      [{ ...good, tokens: { data: new Float32Array(1), dims: [1] } }, 'TENSOR_DTYPE', 'tokens'],
      [{ ...good, tokens: [1] }, 'TENSOR_SHAPE', 'tokens'],
      [{ ...good, tokens: { data: [1.5], dims: [1] } }, 'WRONG_TYPE', 'tokens'],
      [{ ...good, image: [1, 2, Number.NaN, 4] }, 'NOT_FINITE', 'image'],
      [{ ...good, image: 'pixels' }, 'WRONG_TYPE', 'image'],
      [{ image: good.image }, 'MISSING_FIELD', 'tokens'],
    ];
    for (const [example, code, field] of cases) {
      const error = (await caught(() => tensors.prepare([good, example]))) as InputError;
      expect(error, JSON.stringify(example)).toBeInstanceOf(InputError);
      expect(error, JSON.stringify(example)).toMatchObject({ code, details: { row: 1, field } });
    }
    const mismatch = (await caught(() => tensors.prepare([good, { ...good, tokens: { data: [1, 2], dims: [2] } }]))) as InputError;
    expect(mismatch).toMatchObject({ code: 'TENSOR_SHAPE', details: { row: 1, field: 'tokens' } });
    expect(mismatch.message).toContain('"length"');
  });
});

describe('columnar input', () => {
  it('gives the same features as row objects; NaN in a typed array is missing; errors name the row and field', async () => {
    const rows = [row(99, 7, 'RM', 'Gable'), row(null, 20, 'C', 'Mansard'), row(0, 3, null, 'Flat')];
    const columns = {
      area: Float64Array.from([99, Number.NaN, 0]),
      age: new Float32Array([7, 20, 3]),
      zone: ['RM', 'C', null],
      roof: ['Gable', 'Mansard', 'Flat'],
    };
    expect(tabular.prepareColumns(columns).features).toEqual(tabular.prepare(rows).features);
    const bad = (await caught(() => tabular.prepareColumns({ ...columns, age: [7, 'old', 3] }))) as InputError;
    expect(bad).toMatchObject({ code: 'WRONG_TYPE', details: { row: 1, field: 'age' } });
    const uneven = (await caught(() => tabular.prepareColumns({ ...columns, roof: ['Flat'] }))) as InputError;
    expect(uneven).toMatchObject({ code: 'INVALID_BATCH', details: { field: 'roof' } });
    const missing = (await caught(() =>
      tabular.prepareColumns({ area: columns.area, age: columns.age, zone: columns.zone }),
    )) as InputError;
    expect(missing).toMatchObject({ code: 'MISSING_FIELD', details: { field: 'roof' } });
    const typedCategory = (await caught(() => tabular.prepareColumns({ ...columns, zone: new Float64Array(3) }))) as InputError;
    expect(typedCategory).toMatchObject({ code: 'WRONG_TYPE', details: { field: 'zone' } });
  });
});

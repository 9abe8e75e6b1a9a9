import { describe, expect, it } from 'vitest';
import { compileFeatureSpec, parseFeatureSpec } from '../src/features/index.js';
import { caught } from './helpers.js';

// keep_missing: a model that takes missing values itself (XGBoost, HistGradientBoosting) gets a
// null as NaN; anything else the transform cannot take is still refused.
const spec = (steps: unknown[]) =>
  compileFeatureSpec(
    parseFeatureSpec({
      format: 'ondevice/feature-spec',
      formatVersion: 1,
      name: 'k',
      version: '1.0.0',
      fields: [{ name: 'x', type: 'number' }],
      features: [{ field: 'x', steps }],
      output: { input: 'features', dtype: 'float32' },
    }),
  );

describe('keep_missing', () => {
  it('sends a null on as NaN, through the numeric steps, from rows and from columns', () => {
    const transform = spec([{ op: 'keep_missing' }, { op: 'log' }]);
    expect(transform.inputs).toEqual([{ name: 'x', type: 'number', missing: 'model' }]);
    expect(Array.from(transform.prepare([{ x: null }, { x: Math.E }]).features!)).toEqual([Number.NaN, 1]);
    expect(Array.from(transform.prepareColumns({ x: Float64Array.from([Number.NaN, 1]) }).features!)).toEqual([Number.NaN, 0]);
  });

  it('still refuses a value outside the steps’ domain, and a null where no step takes it', async () => {
    expect(await caught(() => spec([{ op: 'keep_missing' }, { op: 'log' }]).prepare([{ x: -1 }]))).toMatchObject({
      code: 'OUT_OF_DOMAIN',
      details: { field: 'x' },
    });
    expect(await caught(() => spec([{ op: 'log' }]).prepare([{ x: null }]))).toMatchObject({ code: 'MISSING_VALUE' });
  });

  it('is the first step of a number field only', async () => {
    expect(await caught(() => spec([{ op: 'log' }, { op: 'keep_missing' }]))).toMatchObject({
      code: 'INVALID_FEATURE_SPEC',
      details: { path: 'features[0].steps[1]' },
    });
  });
});

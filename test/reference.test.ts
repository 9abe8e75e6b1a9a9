import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findBuildFolders, SOURCE_FILES } from '../src/cli/pack.js';
import { BundleError } from '../src/errors/index.js';
import { compileFeatureSpec, parseFeatureSpec } from '../src/features/index.js';
import { parseReference, type Reference, type ReferenceDistribution } from '../src/monitor/reference.js';
import { caught, PENGUINS_BUILD } from './helpers.js';

const MODELS = fileURLToPath(new URL('../models/', import.meta.url));

async function json(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, 'utf8')) as unknown;
}

async function penguinsReference(): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(new URL('reference.json', PENGUINS_BUILD), 'utf8')) as Record<string, unknown>;
}

function expectDistribution(distribution: ReferenceDistribution, where: string): void {
  expect(
    distribution.frequencies.reduce((sum, f) => sum + f, 0),
    where,
  ).toBeCloseTo(1, 12);
  if (distribution.type === 'number') {
    expect(distribution.frequencies, where).toHaveLength(distribution.edges.length + 1);
    distribution.edges.forEach((edge, k) => k > 0 && expect(edge, where).toBeGreaterThan(distribution.edges[k - 1]!));
  } else {
    expect(distribution.frequencies, where).toHaveLength(distribution.levels.length);
    expect(distribution.levels.length, where).toBeLessThanOrEqual(50);
  }
}

const folders = await findBuildFolders(MODELS);

describe('reference.json of every committed build', () => {
  it('is written for every tabular model and for no tensor model', async () => {
    expect(folders.length).toBeGreaterThanOrEqual(8);
    for (const folder of folders) {
      const spec = parseFeatureSpec(await json(join(folder, SOURCE_FILES.featureSpec)));
      const present = await readFile(join(folder, SOURCE_FILES.reference)).then(
        () => true,
        () => false,
      );
      expect(present, folder).toBe(spec.kind === 'tabular');
    }
  });

  it.each(folders.map((f) => [f.slice(MODELS.length), f]))('%s: parses, matches its feature spec and task', async (_name, folder) => {
    const spec = parseFeatureSpec(await json(join(folder, SOURCE_FILES.featureSpec)));
    if (spec.kind !== 'tabular') return;
    const transform = compileFeatureSpec(spec);
    const reference = parseReference(await json(join(folder, SOURCE_FILES.reference)), transform.width);
    const card = (await json(join(folder, SOURCE_FILES.modelCard))) as {
      task: { kind: string; classes?: string[] };
      algorithm: { name: string };
      training: { data: { trainRows: number } };
    };

    expect(reference.rows).toBe(card.training.data.trainRows);
    expect(reference.featureMeans).toHaveLength(transform.width);
    expect(reference.fields.map((f) => [f.name, f.type])).toEqual(spec.fields.map((f) => [f.name, f.type]));
    for (const field of reference.fields) {
      expectDistribution(field, `${folder} ${field.name}`);
      expect(field.missing).toBeGreaterThanOrEqual(0);
      expect(field.missing).toBeLessThan(1);
    }
    expectDistribution(reference.output, `${folder} output`);
    if (card.task.kind === 'classification') {
      expect(reference.output).toMatchObject({ type: 'category', levels: card.task.classes });
    } else {
      expect(reference.output.type).toBe('number');
    }
    expect(reference.additive).toBe(card.algorithm.name === 'Ridge');
    expect(reference.thresholds).toEqual({ psi: 0.2, unknownRate: 0.05, missingRate: 0.1, minRows: 200 });
  });

  it('ridge: the exact attributions in parity.json start from the reference feature means and add up to the model output', async () => {
    const folder = join(MODELS, 'house-prices', 'build', 'ridge');
    const spec = parseFeatureSpec(await json(join(folder, SOURCE_FILES.featureSpec)));
    const reference: Reference = parseReference(await json(join(folder, SOURCE_FILES.reference)));
    const { linear } = (await json(join(folder, 'parity.json'))) as {
      linear: {
        fields: string[];
        coefficients: number[];
        intercept: number;
        featureMeans: number[];
        baseValue: number;
        attributions: number[][];
        outputs: number[];
      };
    };
    expect(spec.kind).toBe('tabular');
    if (spec.kind !== 'tabular') return;
    expect(linear.fields).toEqual(spec.fields.map((f) => f.name));
    expect(linear.featureMeans).toEqual(reference.featureMeans);
    expect(linear.coefficients).toHaveLength(reference.featureMeans.length);
    const base = linear.intercept + linear.coefficients.reduce((sum, c, i) => sum + c * linear.featureMeans[i]!, 0);
    expect(Math.abs(base - linear.baseValue)).toBeLessThan(1e-9);
    expect(linear.attributions).toHaveLength(20);
    linear.attributions.forEach((row, r) => {
      expect(row).toHaveLength(linear.fields.length);
      expect(Math.abs(linear.baseValue + row.reduce((sum, a) => sum + a, 0) - linear.outputs[r]!)).toBeLessThan(1e-9);
    });
  });
});

describe('parseReference', () => {
  it('reads the penguins reference', async () => {
    const reference = parseReference(await penguinsReference(), 9);
    expect(reference.rows).toBe(258);
    expect(reference.fields.map((f) => f.name)).toEqual([
      'bill_length_mm',
      'bill_depth_mm',
      'flipper_length_mm',
      'body_mass_g',
      'island',
      'sex',
    ]);
    expect(reference.fields[4]).toMatchObject({ type: 'category', levels: ['Biscoe', 'Dream', 'Torgersen'], missing: 0 });
    expect(reference.additive).toBe(false);
  });

  const spoilt: [string, (r: Record<string, unknown>) => Record<string, unknown>, string][] = [
    ['(root)', () => [] as unknown as Record<string, unknown>, 'must be an object'],
    ['format', (r) => ({ ...r, format: 'ondevice/manifest' }), ''],
    ['formatVersion', (r) => ({ ...r, formatVersion: 2 }), ''],
    ['rows', (r) => ({ ...r, rows: 0 }), 'positive whole number'],
    ['fields', (r) => ({ ...r, fields: [field(r, 0), field(r, 0)] }), 'must not repeat'],
    ['fields[0].missing', (r) => ({ ...r, fields: [{ ...field(r, 0), missing: 1.5 }] }), 'between 0 and 1'],
    ['fields[0].frequencies', (r) => ({ ...r, fields: [{ ...field(r, 0), frequencies: [0.5, 0.6] }] }), 'must sum to 1'],
    ['fields[0].frequencies', (r) => ({ ...r, fields: [{ ...field(r, 0), edges: [1], frequencies: [1] }] }), 'one more than edges'],
    ['fields[0].edges', (r) => ({ ...r, fields: [{ ...field(r, 0), edges: [2, 1], frequencies: [0.5, 0.5, 0] }] }), 'strictly ascending'],
    ['fields[0].type', (r) => ({ ...r, fields: [{ ...field(r, 0), type: 'text' }] }), ''],
    [
      'fields[4].levels',
      (r) => ({ ...r, fields: [...(r.fields as unknown[]).slice(0, 4), { ...field(r, 4), levels: ['Biscoe', 'Biscoe', 'Dream'] }] }),
      'must not repeat',
    ],
    ['output.frequencies', (r) => ({ ...r, output: { type: 'category', levels: ['a', 'b'], frequencies: [1] } }), 'one value per level'],
    ['featureMeans', (r) => ({ ...r, featureMeans: [0] }), 'the feature spec makes 9 columns'],
    ['additive', (r) => ({ ...r, additive: 'yes' }), 'true or false'],
    ['thresholds.psi', (r) => ({ ...r, thresholds: { ...(r.thresholds as object), psi: 0 } }), 'must be positive'],
    ['thresholds.minRows', (r) => ({ ...r, thresholds: { ...(r.thresholds as object), minRows: 1.5 } }), 'positive whole number'],
    ['thresholds.unknownRate', (r) => ({ ...r, thresholds: { ...(r.thresholds as object), unknownRate: -0.1 } }), 'between 0 and 1'],
  ];

  it.each(spoilt)('refuses a bad %s with INVALID_REFERENCE', async (path, spoil, why) => {
    const error = (await caught(() => penguinsReference().then((r) => parseReference(spoil(r), 9)))) as BundleError;
    expect(error).toBeInstanceOf(BundleError);
    expect(error.code).toBe('INVALID_REFERENCE');
    expect(error.details.path).toBe(path);
    expect(error.message).toContain(why);
  });
});

function field(reference: Record<string, unknown>, i: number): Record<string, unknown> {
  return (reference.fields as Record<string, unknown>[])[i]!;
}

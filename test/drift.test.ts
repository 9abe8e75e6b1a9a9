import { beforeAll, describe, expect, it } from 'vitest';
import { compileFeatureSpec, parseFeatureSpec, type FeatureTransform } from '../src/features/index.js';
import { DriftMonitor, binOf, stability } from '../src/monitor/drift.js';
import { parseReference, type Reference } from '../src/monitor/reference.js';
import { readJson } from './helpers.js';

const HOUSES = new URL('../models/house-prices/build/ridge/', import.meta.url);

/** The ridge bundle's feature spec and reference, its held-out rows and the research pipeline's prices for them. */
async function houses(): Promise<{ transform: FeatureTransform; reference: Reference; rows: Record<string, unknown>[]; prices: number[] }> {
  const transform = compileFeatureSpec(parseFeatureSpec(await readJson(new URL('feature-spec.json', HOUSES))));
  const reference = parseReference(await readJson(new URL('reference.json', HOUSES)), transform.width);
  const { rows } = await readJson<{ rows: Record<string, unknown>[] }>(new URL('confidence-set.json', HOUSES));
  const { predictions } = await readJson<{ predictions: number[] }>(new URL('parity.json', HOUSES));
  return { transform, reference, rows, prices: predictions };
}

let prices: readonly number[] = [];

/** What the worker hands the monitor for a call: the validated raw columns and each row's answer (the research price, or `answer`). */
function observe(transform: FeatureTransform, rows: readonly Record<string, unknown>[], answer?: number) {
  const prepared = transform.prepare(rows);
  return { rows: prepared.rows, raw: prepared.raw!, outputAt: (r: number) => answer ?? prices[r % prices.length]! };
}

describe('drift monitor', () => {
  beforeAll(async () => void ({ prices } = await houses()));

  it('bins as numpy searchsorted (side left): a value on an edge belongs to the bin below it', () => {
    expect([0, 1, 1.5, 2, 2.5, 3, 4].map((v) => binOf([1, 2, 3], v))).toEqual([0, 0, 1, 1, 2, 2, 3]);
    expect(binOf([], 5)).toBe(0);
  });

  it('PSI is zero for equal distributions, grows with the shift, and stays finite for empty bins', () => {
    expect(stability([0.25, 0.25, 0.5], [0.25, 0.25, 0.5])).toBe(0);
    const small = stability([0.3, 0.2, 0.5], [0.25, 0.25, 0.5]);
    const large = stability([0.8, 0.2, 0], [0.25, 0.25, 0.5]);
    expect(small).toBeGreaterThan(0);
    expect(large).toBeGreaterThan(small);
    expect(Number.isFinite(large)).toBe(true);
  });

  it('held-out rows stay below every threshold; shifted fields, and only they, drift', async () => {
    const { transform, reference, rows } = await houses();
    const calm = new DriftMonitor(reference, transform);
    calm.record(observe(transform, rows));
    const report = calm.report();
    expect(report.status).toBe('ok');
    expect(report.rows).toBe(rows.length);
    expect(Math.max(...report.features.map((f) => f.psi))).toBeLessThan(reference.thresholds.psi);
    expect(report.output.psi).toBeLessThan(reference.thresholds.psi);

    const moved = new DriftMonitor(reference, transform);
    moved.record(
      observe(
        transform,
        rows.map((row) => ({ ...row, Lot_Area: (row.Lot_Area as number) * 4, Central_Air: 'N' })),
      ),
    );
    const drifted = moved.report();
    expect(drifted.status).toBe('drift');
    expect(drifted.drifted.filter((f) => f !== 'output').sort()).toEqual(['Central_Air', 'Lot_Area']);
  });

  it("counts dictionary-encoded columns (levels in the caller's order, codes translated) as it counts the same rows as objects", async () => {
    const { transform, reference, rows } = await houses();
    const shifted = rows.map((row, i): Record<string, unknown> => ({
      ...row,
      Central_Air: i % 3 === 0 ? 'N' : row.Central_Air,
      Exterior_1st: i % 7 === 0 ? null : row.Exterior_1st,
    }));
    const columns: Record<string, unknown> = {};
    for (const field of transform.inputs) {
      const values = shifted.map((row) => row[field.name] ?? null);
      if (field.type === 'number') columns[field.name] = Float64Array.from(values, (v) => (v === null ? Number.NaN : (v as number)));
      else {
        // Levels reversed from first-seen order, so no code equals the transform's own.
        const levels = [...new Set(values.filter((v): v is string => typeof v === 'string'))].reverse();
        columns[field.name] = { codes: Int32Array.from(values, (v) => (v === null ? -1 : levels.indexOf(v as string))), levels };
      }
    }
    const prepared = transform.prepareColumns(columns);
    expect(prepared.raw!.translations?.size).toBeGreaterThan(0);
    const byColumns = new DriftMonitor(reference, transform);
    byColumns.record({ rows: prepared.rows, raw: prepared.raw!, outputAt: (r) => prices[r]! });
    const byRows = new DriftMonitor(reference, transform);
    byRows.record(observe(transform, shifted));
    expect(byColumns.report()).toEqual(byRows.report());
  });

  it('reports collecting until minRows rows are in, then judges', async () => {
    const { transform, reference, rows } = await houses();
    const monitor = new DriftMonitor(reference, transform);
    monitor.record(observe(transform, rows.slice(0, reference.thresholds.minRows - 1)));
    expect(monitor.report().status).toBe('collecting');
    expect(monitor.report().drifted).toEqual([]);
    monitor.record(observe(transform, rows.slice(0, 1)));
    expect(monitor.report().status).not.toBe('collecting');
  });

  it('counts missing values and unknown categories against their training rates', async () => {
    const { transform, reference, rows } = await houses();
    const monitor = new DriftMonitor(reference, transform);
    monitor.record(
      observe(
        transform,
        rows.map((row) => ({ ...row, Garage_Area: null, Exterior_1st: 'Adobe_Moon_Brick' })),
      ),
    );
    const report = monitor.report();
    const garage = report.features.find((f) => f.field === 'Garage_Area')!;
    expect(garage.missingRate).toBe(1);
    expect(garage.reasons).toContain('missing');
    const exterior = report.features.find((f) => f.field === 'Exterior_1st')!;
    expect(exterior.unknownRate).toBe(1);
    expect(exterior.reasons).toContain('unknown');
    expect(exterior.bins.at(-1)).toMatchObject({ label: '(other)', live: 1 });
  });

  it('keeps fixed memory: a huge call is sampled, and old rows fade once the window is full', async () => {
    const { transform, reference, rows } = await houses();
    const monitor = new DriftMonitor(reference, transform, { windowRows: 1_000, maxRowsPerCall: 100 });
    monitor.record(observe(transform, rows));
    expect(monitor.report().rows).toBeLessThanOrEqual(100);
    for (let i = 0; i < 50; i++) monitor.record(observe(transform, rows));
    expect(monitor.report().rows).toBeLessThan(2_000);
    expect(monitor.seen).toBeGreaterThan(2_000);
  });

  it('restores its counts from a saved state, and ignores a state that does not fit the reference', async () => {
    const { transform, reference, rows } = await houses();
    const first = new DriftMonitor(reference, transform);
    first.record(observe(transform, rows, 500_000));
    const saved = JSON.parse(JSON.stringify(first.state()));
    const restored = new DriftMonitor(reference, transform, {}, saved);
    expect(restored.report()).toEqual(first.report());
    const misfit = new DriftMonitor(reference, transform, {}, { ...saved, output: [1, 2] });
    expect(misfit.report().rows).toBe(0);
  });

  it('measures the output against the training predictions', async () => {
    const { transform, reference, rows } = await houses();
    const monitor = new DriftMonitor(reference, transform);
    monitor.record(observe(transform, rows, 900_000));
    const report = monitor.report();
    expect(report.output.drifted).toBe(true);
    expect(report.drifted).toContain('output');
    expect(report.output.bins.at(-1)!.live).toBe(1);
  });
});

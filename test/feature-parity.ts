/*
 * Feature parity with scikit-learn: reads a fixture written by models/ondevice_export/test_steps.py
 * ({ cases: [{ name, spec, rows, expected }] }, null for NaN), computes each case's features with the
 * library's tabular transform, and prints per case the largest difference from transform()'s output.
 * Run by test_steps.py (tsx test/feature-parity.ts <fixture>) and read by test/steps.test.ts.
 */
import { readFileSync } from 'node:fs';
import { compileFeatureSpec, parseFeatureSpec } from '../src/features/index.js';

export interface ParityCase {
  readonly name: string;
  readonly spec: unknown;
  readonly rows: readonly Record<string, unknown>[];
  readonly expected: readonly (readonly (number | null)[])[];
}

export interface ParityResult {
  readonly name: string;
  /** Largest |ours - sklearn| / max(|sklearn|, 1e-300) over finite values. */
  readonly maxRelative: number;
  readonly maxAbsolute: number;
  /** Cells where one side is NaN (null) and the other is not, or where the widths differ. */
  readonly mismatches: number;
  readonly width: number;
}

export function parity(item: ParityCase): ParityResult {
  const transform = compileFeatureSpec(parseFeatureSpec(item.spec));
  const features = transform.prepare(item.rows).features!;
  const width = transform.width;
  let maxRelative = 0;
  let maxAbsolute = 0;
  let mismatches = 0;
  item.expected.forEach((row, r) => {
    if (row.length !== width) mismatches++;
    row.forEach((value, c) => {
      const ours = features[r * width + c]!;
      if (value === null || Number.isNaN(ours)) {
        if (!(value === null && Number.isNaN(ours))) mismatches++;
        return;
      }
      const absolute = Math.abs(ours - value);
      maxAbsolute = Math.max(maxAbsolute, absolute);
      maxRelative = Math.max(maxRelative, absolute === 0 ? 0 : absolute / Math.max(Math.abs(value), 1e-300));
    });
  });
  return { name: item.name, maxRelative, maxAbsolute, mismatches, width };
}

const path = process.argv[2];
if (path !== undefined && import.meta.url === `file://${process.argv[1]}`) {
  const fixture = JSON.parse(readFileSync(path, 'utf8')) as { cases: ParityCase[] };
  const results = fixture.cases.map((item) => {
    try {
      return parity(item);
    } catch (error) {
      return { name: item.name, error: String(error) };
    }
  });
  process.stdout.write(JSON.stringify(results) + '\n');
}

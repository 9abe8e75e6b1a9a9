import type { GateSpec, MetricName } from '../bundle/index.js';
import { GateError } from '../errors/index.js';
import type { Scorer } from '../scoring/index.js';
import { classificationMetric, regressionMetric, withinTolerance } from './metrics.js';
import type { ConfidenceSet, EndToEndSet } from './sets.js';

export interface GateReport {
  readonly passed: boolean;
  readonly endToEnd: EndToEndReport;
  readonly metric: MetricReport;
}

export interface EndToEndReport {
  readonly passed: boolean;
  readonly rows: number;
  readonly tolerance: number;
  /** Values compared (features, outputs and labels) and how many fell outside the tolerance. */
  readonly compared: number;
  readonly mismatches: number;
  /** The largest difference seen, and where. */
  readonly maxDifference: number;
  readonly worst: {
    readonly row: number;
    readonly what: string;
    readonly expected: number | string;
    readonly actual: number | string;
  } | null;
}

export interface MetricReport {
  readonly passed: boolean;
  readonly name: MetricName;
  readonly value: number;
  readonly range: readonly [number, number];
  readonly rows: number;
}

/**
 * The deployment gate: the end-to-end set must reproduce the research outputs within the tolerance,
 * and the confidence-set metric must fall inside its range. Both run; the report says which failed.
 */
export async function runGate(scorer: Scorer, gate: GateSpec, e2e: EndToEndSet, confidence: ConfidenceSet): Promise<GateReport> {
  const endToEnd = await checkEndToEnd(scorer, gate.tolerance, e2e);
  const metric = await checkMetric(scorer, gate, confidence);
  return { passed: endToEnd.passed && metric.passed, endToEnd, metric };
}

/** Throws the `GateError` that names what failed; returns quietly when the gate passed. */
export function assertGatePassed(report: GateReport, version: string): void {
  if (!report.endToEnd.passed) {
    const { worst, mismatches, compared, tolerance } = report.endToEnd;
    throw new GateError(
      'GATE_E2E_MISMATCH',
      `version ${version} refused: ${mismatches} of ${compared} end-to-end values differ from the research outputs by more than ${tolerance}` +
        (worst ? ` (worst: row ${worst.row}, ${worst.what}: expected ${worst.expected}, got ${worst.actual})` : ''),
      {
        version,
        mismatches,
        compared,
        tolerance,
        maxDifference: report.endToEnd.maxDifference,
        ...(worst ? { row: worst.row, what: worst.what } : {}),
      },
    );
  }
  if (!report.metric.passed) {
    const { name, value, range, rows } = report.metric;
    throw new GateError(
      'GATE_METRIC_OUT_OF_RANGE',
      `version ${version} refused: ${name} ${value} on ${rows} confidence rows is outside [${range[0]}, ${range[1]}]`,
      {
        version,
        metric: name,
        value,
        range: [...range],
      },
    );
  }
}

async function checkEndToEnd(scorer: Scorer, tolerance: number, e2e: EndToEndSet): Promise<EndToEndReport> {
  const batch = await scorer.score(e2e.rows);
  const predictions = scorer.predictions(batch);
  let compared = 0;
  let mismatches = 0;
  let maxDifference = 0;
  let worst: EndToEndReport['worst'] = null;
  const compare = (row: number, what: string, actual: number, expected: number): void => {
    compared++;
    const difference = Math.abs(actual - expected);
    if (!withinTolerance(actual, expected, tolerance)) mismatches++;
    if (!(difference <= maxDifference)) {
      maxDifference = Number.isNaN(difference) ? Number.POSITIVE_INFINITY : difference;
      worst = { row, what, expected, actual };
    }
  };

  const width = scorer.transform.width;
  const features = batch.features;
  if (features !== undefined) {
    e2e.expected.features?.forEach((expected, row) => {
      expected.forEach((value, column) =>
        compare(row, `feature ${scorer.transform.names[column] ?? column}`, features[row * width + column] ?? Number.NaN, value),
      );
    });
  }
  predictions.forEach((prediction, row) => {
    if (prediction.kind === 'classification') {
      e2e.expected.probabilities?.[row]?.forEach((value, c) => {
        const label = scorer.task.kind === 'classification' ? scorer.task.classes[c]! : String(c);
        compare(row, `probability of ${label}`, prediction.probabilities[label] ?? Number.NaN, value);
      });
      const label = e2e.expected.label?.[row];
      if (label !== undefined) {
        compared++;
        if (label !== prediction.label) {
          mismatches++;
          worst ??= { row, what: 'label', expected: label, actual: prediction.label };
        }
      }
    } else if (e2e.expected.value !== undefined) {
      compare(row, 'value', prediction.value, e2e.expected.value[row]!);
    }
  });
  return { passed: mismatches === 0 && compared > 0, rows: batch.rows, tolerance, compared, mismatches, maxDifference, worst };
}

async function checkMetric(scorer: Scorer, gate: GateSpec, confidence: ConfidenceSet): Promise<MetricReport> {
  const predictions = scorer.predictions(await scorer.score(confidence.rows));
  const { name, range } = gate.metric;
  let value: number;
  if (confidence.labels !== undefined) {
    value = classificationMetric(
      name,
      predictions.map((p) => (p.kind === 'classification' ? p.label : String(p.value))),
      confidence.labels,
    );
  } else {
    value = regressionMetric(
      name,
      predictions.map((p) => (p.kind === 'regression' ? p.value : Number.NaN)),
      confidence.targets ?? [],
    );
  }
  return { passed: value >= range[0] && value <= range[1], name, value, range, rows: predictions.length };
}

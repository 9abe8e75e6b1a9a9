import type { GateSpec, MetricName } from '../bundle/index.js';
import { GateError } from '../errors/index.js';
import type { Prediction, ScoredBatch, Scorer } from '../scoring/index.js';
import { checkOutputs, outputRows, type ChecksReport } from './checks.js';
import { classificationMetric, regressionMetric, withinTolerance } from './metrics.js';
import type { ConfidenceSet, EndToEndSet } from './sets.js';

export type { ChecksReport } from './checks.js';

export interface GateReport {
  readonly passed: boolean;
  readonly endToEnd: EndToEndReport;
  /** Absent when the gate has no metric (a model without labelled data: `GateSpec.unlabelled`). */
  readonly metric?: MetricReport;
  /** The output checks the manifest declares (`GateSpec.checks`), on the confidence set. */
  readonly checks?: ChecksReport;
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
 * the confidence-set metric (where the gate has one) must fall inside its range, and the declared
 * output checks must hold. All run; the report says which failed. A set marked `sequence` goes
 * through one session, row after row, its state carried.
 */
export async function runGate(scorer: Scorer, gate: GateSpec, e2e: EndToEndSet, confidence: ConfidenceSet): Promise<GateReport> {
  const endToEnd = await checkEndToEnd(scorer, gate.tolerance, e2e);
  const scored = await scoreSet(scorer, confidence.rows, confidence.sequence === true);
  const metric = gate.metric === undefined ? undefined : checkMetric(scorer, gate.metric, confidence, scored);
  const checks = gate.checks === undefined ? undefined : checkOutputs(gate.checks, gate.tolerance, scored);
  return {
    passed: endToEnd.passed && (metric?.passed ?? true) && (checks?.passed ?? true),
    endToEnd,
    ...(metric === undefined ? {} : { metric }),
    ...(checks === undefined ? {} : { checks }),
  };
}

/** A set's rows scored in one batch, or one by one through a session. */
async function scoreSet(scorer: Scorer, rows: readonly unknown[], sequence: boolean): Promise<ScoredBatch[]> {
  if (!sequence) return [await scorer.score(rows)];
  const steps: ScoredBatch[] = [];
  let state: Awaited<ReturnType<Scorer['scoreSession']>>['state'] | undefined;
  for (const row of rows) {
    const step = await scorer.scoreSession([row], state);
    state = step.state;
    steps.push(step.batch);
  }
  return steps;
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
  if (report.metric !== undefined && !report.metric.passed) {
    const { name, value, range, rows } = report.metric;
    throw new GateError(
      'GATE_METRIC_OUT_OF_RANGE',
      `version ${version} refused: ${name} ${value} on ${rows} confidence rows is outside [${range[0]}, ${range[1]}]`,
      { version, metric: name, value, range: [...range] },
    );
  }
  if (report.checks !== undefined && !report.checks.passed) {
    const failure = report.checks.failures[0]!;
    throw new GateError(
      'GATE_CHECK_FAILED',
      `version ${version} refused: ${report.checks.failures.length} output check(s) failed (first: row ${failure.row}, output "${failure.output}": ${failure.why})`,
      { version, row: failure.row, output: failure.output, what: failure.check },
    );
  }
}

type Compare = (row: number, what: string, actual: number, expected: number) => void;

async function checkEndToEnd(scorer: Scorer, tolerance: number, e2e: EndToEndSet): Promise<EndToEndReport> {
  const steps = await scoreSet(scorer, e2e.rows, e2e.sequence === true);
  let compared = 0;
  let mismatches = 0;
  let maxDifference = 0;
  let worst: EndToEndReport['worst'] = null;
  const compare: Compare = (row, what, actual, expected) => {
    compared++;
    // Missing where the research pipeline had it missing (NaN features of a model that takes them).
    if (Number.isNaN(actual) && Number.isNaN(expected)) return;
    const difference = Math.abs(actual - expected);
    if (!withinTolerance(actual, expected, tolerance)) mismatches++;
    if (!(difference <= maxDifference)) {
      maxDifference = Number.isNaN(difference) ? Number.POSITIVE_INFINITY : difference;
      worst = { row, what, expected, actual };
    }
  };
  const mislabel = (row: number, expected: string, actual: string): void => {
    compared++;
    if (expected === actual) return;
    mismatches++;
    worst ??= { row, what: 'label', expected, actual };
  };
  let row = 0;
  for (const batch of steps) {
    compareFeatures(scorer, batch, e2e, row, compare);
    comparePredictions(scorer, scorer.predictions(batch), e2e, row, compare, mislabel);
    compareOutputs(batch, e2e, row, compare);
    row += batch.rows;
  }
  return { passed: mismatches === 0 && compared > 0, rows: row, tolerance, compared, mismatches, maxDifference, worst };
}

function compareFeatures(scorer: Scorer, batch: ScoredBatch, e2e: EndToEndSet, first: number, compare: Compare): void {
  const width = scorer.transform.width;
  const features = batch.features;
  if (features === undefined) return;
  for (let r = 0; r < batch.rows; r++) {
    e2e.expected.features?.[first + r]?.forEach((value, column) =>
      compare(first + r, `feature ${scorer.transform.names[column] ?? column}`, features[r * width + column] ?? Number.NaN, value),
    );
  }
}

function comparePredictions(
  scorer: Scorer,
  predictions: readonly Prediction[],
  e2e: EndToEndSet,
  first: number,
  compare: Compare,
  mislabel: (row: number, expected: string, actual: string) => void,
): void {
  predictions.forEach((prediction, k) => {
    const row = first + k;
    if (prediction.kind === 'classification') {
      const classes = Object.keys(prediction.probabilities);
      e2e.expected.probabilities?.[row]?.forEach((value, c) => {
        const label = classes[c] ?? String(c);
        compare(row, `probability of ${label}`, prediction.probabilities[label] ?? Number.NaN, value);
      });
      const label = e2e.expected.label?.[row];
      if (label !== undefined) mislabel(row, label, prediction.label);
    } else if (prediction.kind === 'regression' && e2e.expected.value !== undefined) {
      compare(row, 'value', prediction.value, e2e.expected.value[row]!);
    } else if (prediction.kind === 'embedding') {
      e2e.expected.outputs?.[scorer.task.kind === 'embedding' ? 'vector' : '']?.[row]?.forEach((value, i) =>
        compare(row, `vector[${i}]`, prediction.vector[i] ?? Number.NaN, value),
      );
    }
  });
}

/** The raw outputs the set records (`expected.outputs`), value by value. */
function compareOutputs(batch: ScoredBatch, e2e: EndToEndSet, first: number, compare: Compare): void {
  for (const [name, rows] of Object.entries(e2e.expected.outputs ?? {})) {
    if (name === 'vector' && batch.outputs[name] === undefined) continue;
    const actual = outputRows(batch, name);
    for (let r = 0; r < batch.rows; r++) {
      const values = actual[r];
      rows[first + r]?.forEach((value, i) =>
        compare(first + r, `output ${name}[${i}]`, values === undefined ? Number.NaN : Number(values[i] ?? Number.NaN), value),
      );
    }
  }
}

function checkMetric(
  scorer: Scorer,
  metric: NonNullable<GateSpec['metric']>,
  confidence: ConfidenceSet,
  scored: readonly ScoredBatch[],
): MetricReport {
  const predictions = scored.flatMap((batch) => scorer.predictions(batch));
  const { name, range } = metric;
  let value: number;
  if (confidence.labels !== undefined) {
    value = classificationMetric(
      name,
      predictions.map((p) => (p.kind === 'classification' ? p.label : p.kind === 'regression' ? String(p.value) : '')),
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

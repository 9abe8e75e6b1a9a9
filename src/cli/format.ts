import type { GateReport } from '../gate/index.js';

/** A number for people: 4 significant digits, exponent for the very small or large. */
export function num(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude < 1e-3 || magnitude >= 1e7) return value.toExponential(2).replace(/\.?0+e/, 'e');
  return String(Number(value.toPrecision(4)));
}

/** A count with thousands separators (1,234,567), as `toLocaleString('en-US')` writes it without loading locale data. */
export function count(value: number): string {
  if (!Number.isInteger(value)) return value.toLocaleString('en-US');
  return String(value).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function bytes(value: number): string {
  if (value < 1024) return `${value} B`;
  if (value < 1024 * 1024) return `${(value / 1024).toFixed(1)} KiB`;
  if (value < 1024 ** 3) return `${(value / 1024 / 1024).toFixed(1)} MiB`;
  return `${(value / 1024 ** 3).toFixed(2)} GiB`;
}

export const plural = (n: number, word: string, many = `${word}s`): string => `${count(n)} ${n === 1 ? word : many}`;

/** The gate report in two lines: the end-to-end check, then the metric. */
export function describeGate(gate: GateReport): string[] {
  const e = gate.endToEnd;
  const worst =
    e.worst === null ? '' : ` (worst: row ${e.worst.row}, ${e.worst.what}: expected ${e.worst.expected}, got ${e.worst.actual})`;
  const m = gate.metric;
  return [
    `end-to-end: ${plural(e.rows, 'row')}, ${count(e.compared - e.mismatches)} of ${plural(e.compared, 'value')} match the research outputs within ${num(e.tolerance)} x max(1, |value|); max absolute difference ${num(e.maxDifference)}${e.passed ? '' : worst}`,
    m === undefined
      ? 'confidence: no metric (a model without labelled data)'
      : `confidence: ${m.name} ${num(m.value)} on ${plural(m.rows, 'row')}, ${m.passed ? 'inside' : 'OUTSIDE'} [${m.range[0]}, ${m.range[1]}]`,
    ...(gate.checks === undefined
      ? []
      : [
          `output checks: ${count(gate.checks.checked)} values, ${gate.checks.passed ? 'all pass' : `${gate.checks.failures.length} FAILED (first: row ${gate.checks.failures[0]!.row}, ${gate.checks.failures[0]!.output}: ${gate.checks.failures[0]!.why})`}`,
        ]),
  ];
}

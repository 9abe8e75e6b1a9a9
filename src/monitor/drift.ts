import { MISSING_CODE, UNKNOWN_CODE, type FeatureTransform, type RawColumns } from '../features/index.js';
import type { DriftThresholds, Reference, ReferenceDistribution } from './reference.js';

/** Drift of one raw input field (or of the model's output) against the training distribution. */
export interface FeatureDrift {
  readonly field: string;
  readonly type: 'number' | 'category';
  /** Population stability index of the live values against training, over the bins below. */
  readonly psi: number;
  readonly missingRate: number;
  readonly referenceMissingRate: number;
  /** Categories: the share of levels the model does not know by name (grouped as rare, or refused). */
  readonly unknownRate?: number;
  readonly referenceUnknownRate?: number;
  readonly drifted: boolean;
  /** Why it drifted: `psi`, `missing`, `unknown`. */
  readonly reasons: readonly ('psi' | 'missing' | 'unknown')[];
  /** Per bin, the training share and the live share (non-missing values), for a chart. */
  readonly bins: readonly DriftBin[];
}

export interface DriftBin {
  readonly label: string;
  readonly reference: number;
  readonly live: number;
}

export interface OutputDrift {
  readonly type: 'number' | 'category';
  readonly psi: number;
  readonly drifted: boolean;
  readonly bins: readonly DriftBin[];
}

export interface DriftReport {
  /** Rows in the current picture (older rows fade: see `DriftOptions.windowRows`). */
  readonly rows: number;
  /** Rows recorded since monitoring began for this version, sampled rows only. */
  readonly seen: number;
  /** `collecting` until `thresholds.minRows` rows are in the picture. */
  readonly status: 'collecting' | 'ok' | 'drift';
  readonly thresholds: DriftThresholds;
  readonly features: readonly FeatureDrift[];
  readonly output: OutputDrift;
  /** The fields that drifted (and `output` when the answers did), most drifted first. */
  readonly drifted: readonly string[];
}

export interface DriftOptions {
  /**
   * How many rows the picture holds: once twice this many are counted, every count is halved, so
   * old traffic fades and memory stays fixed.
   * @defaultValue `10000` (`DEFAULT_DRIFT_WINDOW_ROWS`)
   */
  readonly windowRows?: number;
  /**
   * Rows of one call that are counted (evenly spaced): a huge batch costs no more than this.
   * @defaultValue `1024` (`DEFAULT_DRIFT_ROWS_PER_CALL`)
   */
  readonly maxRowsPerCall?: number;
}

/** `DriftOptions.windowRows` when not given. */
export const DEFAULT_DRIFT_WINDOW_ROWS = 10_000;
/** `DriftOptions.maxRowsPerCall` when not given. */
export const DEFAULT_DRIFT_ROWS_PER_CALL = 1_024;

/** Counts, as persisted across reloads: plain arrays, keyed by field. */
export interface DriftState {
  readonly rows: number;
  readonly seen: number;
  readonly fields: Readonly<Record<string, { readonly bins: readonly number[]; readonly missing: number; readonly unknown: number }>>;
  readonly output: readonly number[];
}

/** What one call scored, as the monitor reads it. */
export interface ObservedBatch {
  readonly rows: number;
  readonly raw: RawColumns;
  /** The answer for row i: a class label, or the predicted value. */
  readonly outputAt: (row: number) => string | number;
}

const EPSILON = 1e-4;
const OTHER = '(other)';

interface FieldCounter {
  readonly name: string;
  readonly type: 'number' | 'category';
  readonly labels: readonly string[];
  readonly referenceShares: readonly number[];
  readonly referenceMissing: number;
  /** Categories: the training share of levels the model does not know by name. */
  readonly referenceUnknown: number;
  readonly bins: Float64Array;
  missing: number;
  unknown: number;
  /** Counts rows 0, step, 2 step, ... below `rows` of its column (looked up once, not per row). */
  count(raw: RawColumns, rows: number, step: number): void;
}

/**
 * Running distributions of live inputs and outputs against the bundle's reference (training)
 * distribution. Fixed memory: one counter per reference bin; population stability index per field.
 */
export class DriftMonitor {
  readonly #reference: Reference;
  readonly #fields: readonly FieldCounter[];
  readonly #output: {
    readonly labels: readonly string[];
    readonly shares: readonly number[];
    readonly bins: Float64Array;
    readonly binOf: (value: string | number) => number;
  };
  readonly #windowRows: number;
  readonly #maxRowsPerCall: number;
  #rows = 0;
  #seen = 0;

  constructor(reference: Reference, transform: FeatureTransform, options: DriftOptions = {}, state?: DriftState) {
    this.#reference = reference;
    this.#windowRows = options.windowRows ?? DEFAULT_DRIFT_WINDOW_ROWS;
    this.#maxRowsPerCall = options.maxRowsPerCall ?? DEFAULT_DRIFT_ROWS_PER_CALL;
    this.#fields = reference.fields.map((field) => fieldCounter(field, transform));
    this.#output = outputCounter(reference.output);
    if (state !== undefined) this.#restore(state);
  }

  /** Rows recorded so far (sampled rows only). */
  get seen(): number {
    return this.#seen;
  }

  /** Counts a scored call (a sample of its rows when it is large). */
  record(batch: ObservedBatch): void {
    if (batch.rows === 0) return;
    const step = Math.max(1, Math.ceil(batch.rows / this.#maxRowsPerCall));
    for (const field of this.#fields) field.count(batch.raw, batch.rows, step);
    for (let r = 0; r < batch.rows; r += step) {
      this.#output.bins[this.#output.binOf(batch.outputAt(r))]!++;
      this.#rows++;
      this.#seen++;
    }
    if (this.#rows >= 2 * this.#windowRows) this.#fade();
  }

  report(): DriftReport {
    const { thresholds } = this.#reference;
    const enough = this.#rows >= thresholds.minRows;
    const features = this.#fields.map((field): FeatureDrift => {
      const live = shares(field.bins);
      const psi = stability(live, field.referenceShares);
      const missingRate = this.#rows === 0 ? 0 : field.missing / this.#rows;
      const reasons: ('psi' | 'missing' | 'unknown')[] = [];
      const unknownRate =
        field.type === 'category' ? (this.#rows - field.missing === 0 ? 0 : field.unknown / (this.#rows - field.missing)) : undefined;
      if (enough && psi > thresholds.psi) reasons.push('psi');
      if (enough && missingRate - field.referenceMissing > thresholds.missingRate) reasons.push('missing');
      if (enough && unknownRate !== undefined && unknownRate - field.referenceUnknown > thresholds.unknownRate) reasons.push('unknown');
      return {
        field: field.name,
        type: field.type,
        psi,
        missingRate,
        referenceMissingRate: field.referenceMissing,
        ...(unknownRate === undefined ? {} : { unknownRate, referenceUnknownRate: field.referenceUnknown }),
        drifted: reasons.length > 0,
        reasons,
        bins: field.labels.map((label, i) => ({ label, reference: field.referenceShares[i]!, live: live[i]! })),
      };
    });
    const outputLive = shares(this.#output.bins);
    const outputPsi = stability(outputLive, this.#output.shares);
    const output: OutputDrift = {
      type: this.#reference.output.type,
      psi: outputPsi,
      drifted: enough && outputPsi > thresholds.psi,
      bins: this.#output.labels.map((label, i) => ({ label, reference: this.#output.shares[i]!, live: outputLive[i]! })),
    };
    const drifted = features
      .filter((f) => f.drifted)
      .sort((a, b) => b.psi - a.psi)
      .map((f) => f.field);
    if (output.drifted) drifted.push('output');
    return {
      rows: this.#rows,
      seen: this.#seen,
      status: !enough ? 'collecting' : drifted.length > 0 ? 'drift' : 'ok',
      thresholds,
      features,
      output,
      drifted,
    };
  }

  state(): DriftState {
    return {
      rows: this.#rows,
      seen: this.#seen,
      fields: Object.fromEntries(this.#fields.map((f) => [f.name, { bins: [...f.bins], missing: f.missing, unknown: f.unknown }])),
      output: [...this.#output.bins],
    };
  }

  /** Counts saved by the same reference (same bins); anything that does not fit is ignored. */
  #restore(state: DriftState): void {
    if (!(
      state.output.length === this.#output.bins.length && this.#fields.every((f) => state.fields[f.name]?.bins.length === f.bins.length)
    ))
      return;
    this.#rows = state.rows;
    this.#seen = state.seen;
    this.#output.bins.set(state.output);
    for (const field of this.#fields) {
      const saved = state.fields[field.name]!;
      field.bins.set(saved.bins);
      field.missing = saved.missing;
      field.unknown = saved.unknown;
    }
  }

  #fade(): void {
    const halve = (bins: Float64Array): void => bins.forEach((v, i) => (bins[i] = v / 2));
    for (const field of this.#fields) {
      halve(field.bins);
      field.missing /= 2;
      field.unknown /= 2;
    }
    halve(this.#output.bins);
    this.#rows /= 2;
  }
}

/** PSI = sum (live - ref) ln(live / ref), both floored at a small share so empty bins stay finite. */
export function stability(live: readonly number[], reference: readonly number[]): number {
  let psi = 0;
  for (let i = 0; i < reference.length; i++) {
    const a = Math.max(live[i]!, EPSILON);
    const e = Math.max(reference[i]!, EPSILON);
    psi += (a - e) * Math.log(a / e);
  }
  return psi;
}

function shares(bins: Float64Array): number[] {
  const total = bins.reduce((sum, v) => sum + v, 0);
  return Array.from(bins, (v) => (total === 0 ? 0 : v / total));
}

/** Bin i holds values v with edges[i-1] < v <= edges[i]: i = the count of edges below v (as numpy's searchsorted, side left). */
export function binOf(edges: readonly number[], value: number): number {
  let low = 0;
  let high = edges.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (edges[mid]! < value) low = mid + 1;
    else high = mid;
  }
  return low;
}

function numberLabels(edges: readonly number[]): string[] {
  const f = (x: number): string => (Math.abs(x) >= 1000 || Number.isInteger(x) ? String(Math.round(x)) : x.toPrecision(3));
  if (edges.length === 0) return ['all'];
  return [`≤ ${f(edges[0]!)}`, ...edges.slice(1).map((e, i) => `${f(edges[i]!)}–${f(e)}`), `> ${f(edges[edges.length - 1]!)}`];
}

function fieldCounter(field: Reference['fields'][number], transform: FeatureTransform): FieldCounter {
  if (field.type === 'number') {
    const edges = field.edges;
    const counter: FieldCounter = {
      name: field.name,
      type: 'number',
      labels: numberLabels(edges),
      referenceShares: field.frequencies,
      referenceMissing: field.missing,
      referenceUnknown: 0,
      bins: new Float64Array(edges.length + 1),
      missing: 0,
      unknown: 0,
      count(raw, rows, step) {
        const column = raw.numbers.get(field.name);
        for (let row = 0; row < rows; row += step) {
          const value = column?.[row];
          if (value === undefined || Number.isNaN(value)) counter.missing++;
          else counter.bins[binOf(edges, value)]!++;
        }
      },
    };
    return counter;
  }
  // Levels the model knows by name keep their own bin; training levels it does not know (grouped
  // as rare by the spec) and unseen ones share the last bin, so live and training bins agree.
  const known = transform.levels.get(field.name) ?? [];
  const knownSet = new Set(known);
  const kept = field.levels.filter((level) => knownSet.has(level) && level !== OTHER);
  const keptIndex = new Map(kept.map((level, i) => [level, i]));
  const other = kept.length;
  const referenceShares = [...kept.map((level) => field.frequencies[field.levels.indexOf(level)]!), 0];
  referenceShares[other] = Math.max(0, 1 - kept.reduce((sum, level) => sum + field.frequencies[field.levels.indexOf(level)]!, 0));
  // Per transform code (+2 for the missing and unknown codes): its bin, or -1 for missing.
  const binOfCode = new Int32Array(known.length + 2);
  binOfCode[MISSING_CODE + 2] = -1;
  binOfCode[UNKNOWN_CODE + 2] = other;
  known.forEach((level, code) => (binOfCode[code + 2] = keptIndex.get(level) ?? other));
  const counter: FieldCounter = {
    name: field.name,
    type: 'category',
    labels: [...kept, OTHER],
    referenceShares,
    referenceMissing: field.missing,
    referenceUnknown: referenceShares[other]!,
    bins: new Float64Array(kept.length + 1),
    missing: 0,
    unknown: 0,
    count(raw, rows, step) {
      const column = raw.categories.get(field.name);
      const translation = raw.translations?.get(field.name);
      for (let row = 0; row < rows; row += step) {
        const given = column?.[row];
        const code = given === undefined || translation === undefined ? given : translation[given + 1];
        const bin = code === undefined ? -1 : binOfCode[code + 2]!;
        if (bin < 0) counter.missing++;
        else {
          counter.bins[bin]!++;
          if (bin === other) counter.unknown++;
        }
      }
    },
  };
  return counter;
}

function outputCounter(output: ReferenceDistribution): {
  labels: readonly string[];
  shares: readonly number[];
  bins: Float64Array;
  binOf: (value: string | number) => number;
} {
  if (output.type === 'number') {
    const edges = output.edges;
    return {
      labels: numberLabels(edges),
      shares: output.frequencies,
      bins: new Float64Array(edges.length + 1),
      binOf: (v) => binOf(edges, Number(v)),
    };
  }
  const index = new Map(output.levels.map((level, i) => [level, i]));
  // An answer outside the training classes cannot happen for a classifier; count it in the first bin rather than drop it.
  return {
    labels: output.levels,
    shares: output.frequencies,
    bins: new Float64Array(output.levels.length),
    binOf: (v) => index.get(String(v)) ?? 0,
  };
}

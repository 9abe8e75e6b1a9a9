import { isRecord } from '../util/json.js';
import { GateError, InputError } from '../errors/index.js';
import { parseConfidenceSet, parseEndToEndSet, readSetFile } from '../gate/index.js';
import { prepareModel, type GatedModel } from '../model/index.js';
import type { Prediction } from '../scoring/index.js';
import type { FeatureTransform } from '../features/index.js';
import { parseCommandArgs, UsageError, type Command } from './command.js';
import { CliError } from './errors.js';
import { parseJsonFile } from './files.js';
import { count, num, plural } from './format.js';
import { readLocalBundle, type LocalBundle } from './local-bundle.js';

export interface DiffOptions {
  /** A bundle folder (`<bundles>/<name>/`) or its channel.json. */
  readonly bundle: string;
  readonly candidate: string;
  /** Default: the live version. */
  readonly against?: string;
  /** Rows per model run. Default 1000. */
  readonly batchRows?: number;
  /** How many label changes and skipped rows to show. Default 5. */
  readonly examples?: number;
}

export interface Stats {
  readonly count: number;
  readonly max: number;
  readonly mean: number;
  /** Nearest-rank 99th percentile. */
  readonly p99: number;
}

/** A row of one of the versions' sets: `e2e-set@1.0.0` or `confidence-set@1.1.0`, and its index there. */
export interface RowRef {
  readonly source: string;
  readonly row: number;
}

export interface DiffSide {
  readonly version: string;
  readonly live: boolean;
  readonly metric: { readonly name: string; readonly value: number; readonly range: readonly [number, number]; readonly rows: number };
}

export interface DiffSummary {
  readonly name: string;
  readonly task: 'classification' | 'regression';
  readonly baseline: DiffSide;
  readonly candidate: DiffSide;
  readonly rows: {
    /** Distinct rows over both versions' end-to-end and confidence sets. */
    readonly distinct: number;
    /** Rows that appear in more than one set, counted once. */
    readonly duplicates: number;
    readonly compared: number;
    /** Rows one of the versions does not accept (a field it lacks, a category it refuses). */
    readonly skipped: number;
    readonly comparedBySource: Readonly<Record<string, number>>;
  };
  readonly skippedExamples: readonly (RowRef & { readonly reason: string })[];
  /** The candidate's gate tolerance; a row differs "beyond" it as the gate measures: |new - old| > tolerance * max(1, |old|). */
  readonly tolerance: number;
  readonly beyondTolerance: number;
  readonly labels?: {
    readonly changed: number;
    readonly examples: readonly (RowRef & {
      readonly from: string;
      readonly to: string;
      readonly fromProbability: number;
      readonly toProbability: number;
    })[];
    readonly classesOnlyInBaseline: readonly string[];
    readonly classesOnlyInCandidate: readonly string[];
  };
  /** |p_new - p_old| over every row and every class both versions have. */
  readonly probabilities?: Stats;
  /** Regression: |new - old|, and relative |new - old| / max(1, |old|). */
  readonly values?: { readonly absolute: Stats; readonly relative: Stats };
}

interface Candidate {
  readonly ref: RowRef;
  readonly row: unknown;
}

/**
 * A differential test of two versions of a bundle: both are verified and gated, then both score
 * every distinct row of both versions' end-to-end and confidence sets, and the summary says how
 * much the predictions move. Rows only one version accepts are skipped and counted.
 */
export async function diffVersions(options: DiffOptions): Promise<DiffSummary> {
  const baselineBundle = await readLocalBundle(options.bundle, options.against === undefined ? {} : { version: options.against });
  const candidateBundle = await readLocalBundle(options.bundle, { version: options.candidate });
  if (candidateBundle.manifest.version === baselineBundle.manifest.version) {
    throw new UsageError(`the candidate and the version it is compared against are both ${options.candidate}; name another with --against`);
  }
  const { task: baseTask } = baselineBundle.manifest;
  const { task: candTask } = candidateBundle.manifest;
  if (baseTask.kind !== candTask.kind) {
    throw new CliError(
      'NOT_COMPARABLE',
      `${baselineBundle.manifest.version} is a ${baseTask.kind} model and ${candidateBundle.manifest.version} a ${candTask.kind} one: their predictions cannot be compared`,
    );
  }

  const baseline = await prepared(baselineBundle, 'baseline');
  let candidate: GatedModel | undefined;
  try {
    candidate = await prepared(candidateBundle, 'candidate');
    return await compare(baselineBundle, baseline, candidateBundle, candidate, options);
  } finally {
    await baseline.scorer.runtime.dispose();
    await candidate?.scorer.runtime.dispose();
  }
}

async function prepared(bundle: LocalBundle, role: string): Promise<GatedModel> {
  try {
    return await prepareModel(bundle.manifest, bundle.files);
  } catch (error) {
    if (error instanceof GateError)
      throw new GateError(error.code, `the ${role} fails its gate, so it is not compared: ${error.message}`, error.details);
    throw error;
  }
}

interface AcceptedRow {
  readonly ref: RowRef;
  readonly base: unknown;
  readonly cand: unknown;
}

async function compare(
  baseBundle: LocalBundle,
  base: GatedModel,
  candBundle: LocalBundle,
  cand: GatedModel,
  options: DiffOptions,
): Promise<DiffSummary> {
  const examples = options.examples ?? 5;
  const { rows: all, duplicates } = collectRows([baseBundle, candBundle]);
  const { accepted, skipped, skippedExamples } = acceptedByBoth(all, base, baseBundle, cand, candBundle, examples);
  const basePredictions: Prediction[] = [];
  const candPredictions: Prediction[] = [];
  const batchRows = options.batchRows ?? 1000;
  for (let start = 0; start < accepted.length; start += batchRows) {
    const batch = accepted.slice(start, start + batchRows);
    basePredictions.push(...base.scorer.predictions(await base.scorer.score(batch.map((r) => r.base))));
    candPredictions.push(...cand.scorer.predictions(await cand.scorer.score(batch.map((r) => r.cand))));
  }

  const tolerance = candBundle.manifest.gate.tolerance;
  const comparedBySource: Record<string, number> = {};
  for (const { ref } of accepted) comparedBySource[ref.source] = (comparedBySource[ref.source] ?? 0) + 1;
  const side = (bundle: LocalBundle, model: GatedModel): DiffSide => ({
    version: bundle.manifest.version,
    live: bundle.pinned,
    metric: gateMetric(model.gate),
  });
  const common = {
    name: candBundle.manifest.name,
    baseline: side(baseBundle, base),
    candidate: side(candBundle, cand),
    rows: { distinct: all.length, duplicates, compared: accepted.length, skipped, comparedBySource },
    skippedExamples,
    tolerance,
  };
  const baseTask = baseBundle.manifest.task;
  const candTask = candBundle.manifest.task;
  if (baseTask.kind === 'classification' && candTask.kind === 'classification') {
    return {
      ...common,
      ...labelChanges(accepted, basePredictions, candPredictions, baseTask.classes, candTask.classes, tolerance, examples),
    };
  }
  return { ...common, ...valueChanges(basePredictions, candPredictions, tolerance) };
}

/** The rows both versions accept (each as the version reads it); the others counted, a few kept with why. */
function acceptedByBoth(
  all: readonly Candidate[],
  base: GatedModel,
  baseBundle: LocalBundle,
  cand: GatedModel,
  candBundle: LocalBundle,
  examples: number,
): { accepted: AcceptedRow[]; skipped: number; skippedExamples: (RowRef & { reason: string })[] } {
  const accepted: AcceptedRow[] = [];
  const skippedExamples: (RowRef & { reason: string })[] = [];
  let skipped = 0;
  for (const { ref, row } of all) {
    const forBase = acceptedRow(row, base.scorer.transform, baseBundle.manifest.version);
    const forCand = typeof forBase === 'string' ? forBase : acceptedRow(row, cand.scorer.transform, candBundle.manifest.version);
    if (typeof forBase === 'string' || typeof forCand === 'string') {
      skipped++;
      if (skippedExamples.length < examples)
        skippedExamples.push({ ...ref, reason: typeof forBase === 'string' ? forBase : (forCand as string) });
      continue;
    }
    accepted.push({ ref, base: forBase, cand: forCand });
  }
  return { accepted, skipped, skippedExamples };
}

/** Classifiers: labels that changed (a few as examples) and how far the shared classes' probabilities moved. */
function labelChanges(
  accepted: readonly AcceptedRow[],
  basePredictions: readonly Prediction[],
  candPredictions: readonly Prediction[],
  baseClasses: readonly string[],
  candClasses: readonly string[],
  tolerance: number,
  examples: number,
): Pick<DiffSummary, 'task' | 'beyondTolerance' | 'labels' | 'probabilities'> {
  const shared = baseClasses.filter((c) => candClasses.includes(c));
  const differences = new Float64Array(accepted.length * shared.length);
  let changed = 0;
  let beyond = 0;
  const changes: NonNullable<DiffSummary['labels']>['examples'][number][] = [];
  accepted.forEach(({ ref }, i) => {
    const before = basePredictions[i]!;
    const after = candPredictions[i]!;
    if (before.kind !== 'classification' || after.kind !== 'classification') return;
    let rowBeyond = false;
    shared.forEach((c, k) => {
      const difference = Math.abs(after.probabilities[c]! - before.probabilities[c]!);
      differences[i * shared.length + k] = difference;
      if (!(difference <= tolerance * Math.max(1, Math.abs(before.probabilities[c]!)))) rowBeyond = true;
    });
    if (rowBeyond) beyond++;
    if (before.label === after.label) return;
    changed++;
    if (changes.length < examples)
      changes.push({
        ...ref,
        from: before.label,
        to: after.label,
        fromProbability: before.probabilities[before.label]!,
        toProbability: after.probabilities[after.label]!,
      });
  });
  return {
    task: 'classification',
    beyondTolerance: beyond,
    labels: {
      changed,
      examples: changes,
      classesOnlyInBaseline: baseClasses.filter((c) => !candClasses.includes(c)),
      classesOnlyInCandidate: candClasses.filter((c) => !baseClasses.includes(c)),
    },
    probabilities: stats(differences),
  };
}

/** Regressions: how far the values moved, absolute and relative to max(1, |before|). */
function valueChanges(
  basePredictions: readonly Prediction[],
  candPredictions: readonly Prediction[],
  tolerance: number,
): Pick<DiffSummary, 'task' | 'beyondTolerance' | 'values'> {
  const absolute = new Float64Array(basePredictions.length);
  const relative = new Float64Array(basePredictions.length);
  let beyond = 0;
  basePredictions.forEach((before, i) => {
    const after = candPredictions[i]!;
    if (before.kind !== 'regression' || after.kind !== 'regression') return;
    absolute[i] = Math.abs(after.value - before.value);
    relative[i] = absolute[i]! / Math.max(1, Math.abs(before.value));
    if (!(relative[i]! <= tolerance)) beyond++;
  });
  return { task: 'regression', beyondTolerance: beyond, values: { absolute: stats(absolute), relative: stats(relative) } };
}

/** Every row of both versions' sets, in order, each distinct row once (under its first source). */
function collectRows(bundles: readonly LocalBundle[]): { rows: Candidate[]; duplicates: number } {
  const seen = new Set<string>();
  const rows: Candidate[] = [];
  let duplicates = 0;
  for (const bundle of bundles) {
    const { manifest, files, manifestPath } = bundle;
    const at = (file: string): string => manifestPath.replace(/manifest\.json$/, file);
    const sets: [string, readonly unknown[]][] = [
      [`e2e-set@${manifest.version}`, parseEndToEndSet(readSetFile(files.e2eSet, at(manifest.files.e2eSet.path), parseJsonFile)).rows],
      [
        `confidence-set@${manifest.version}`,
        parseConfidenceSet(readSetFile(files.confidenceSet, at(manifest.files.confidenceSet.path), parseJsonFile)).rows,
      ],
    ];
    for (const [source, list] of sets) {
      list.forEach((row, index) => {
        const key = stableKey(row);
        if (seen.has(key)) {
          duplicates++;
          return;
        }
        seen.add(key);
        rows.push({ ref: { source, row: index }, row });
      });
    }
  }
  return { rows, duplicates };
}

/**
 * The row as this version takes it: only the fields (or tensors) its spec reads, so a field added
 * or dropped by the other version does not make it refuse the row. A string says why it is refused.
 */
function acceptedRow(row: unknown, transform: FeatureTransform, version: string): unknown {
  if (!isRecord(row)) return `${version}: not an object`;
  const spec = transform.spec;
  const names = spec.kind === 'tabular' ? spec.fields.map((f) => f.name) : spec.tensors.map((t) => t.name);
  const projected: Record<string, unknown> = {};
  for (const name of names) {
    if (!Object.hasOwn(row, name)) return `${version} needs field "${name}", which the row lacks`;
    projected[name] = row[name];
  }
  try {
    transform.prepare([projected]);
  } catch (error) {
    if (error instanceof InputError) return `${version}: ${error.reason}`;
    throw error;
  }
  return projected;
}

/** JSON with object keys sorted: the same row written in another key order is the same row. */
function stableKey(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    isRecord(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, v[k]]),
        )
      : v,
  );
}

function stats(values: Float64Array): Stats {
  if (values.length === 0) return { count: 0, max: 0, mean: 0, p99: 0 };
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: values.length,
    max: sorted[sorted.length - 1]!,
    mean: sum / values.length,
    p99: sorted[Math.ceil(0.99 * sorted.length) - 1]!,
  };
}

export function describeDiff(summary: DiffSummary): string {
  const { baseline: b, candidate: c, rows } = summary;
  const metric = (s: DiffSide): string => `${s.version}${s.live ? ' (live)' : ''} ${s.metric.name} ${num(s.metric.value)}`;
  const sources = Object.entries(rows.comparedBySource)
    .map(([source, n]) => `${source} ${count(n)}`)
    .join(', ');
  const lines = [
    `diff ${summary.name}: candidate ${c.version} against ${b.version}${b.live ? ' (live)' : ''}`,
    `  both gates pass: ${metric(b)} -> ${metric(c)} on their confidence sets`,
    `  rows compared: ${count(rows.compared)} of ${count(rows.distinct)} distinct (${sources || 'none'})` +
      `; ${plural(rows.duplicates, 'duplicate')} counted once; ${count(rows.skipped)} skipped`,
  ];
  for (const s of summary.skippedExamples) lines.push(`    skipped ${s.source} row ${s.row}: ${s.reason}`);
  const percent = (n: number): string => (rows.compared === 0 ? '' : ` (${num((100 * n) / rows.compared)}%)`);
  if (summary.labels !== undefined && summary.probabilities !== undefined) {
    const { labels, probabilities: p } = summary;
    lines.push(`  labels changed: ${count(labels.changed)} of ${count(rows.compared)} rows${percent(labels.changed)}`);
    for (const e of labels.examples)
      lines.push(`    ${e.source} row ${e.row}: ${e.from} (p ${num(e.fromProbability)}) -> ${e.to} (p ${num(e.toProbability)})`);
    if (labels.classesOnlyInBaseline.length > 0 || labels.classesOnlyInCandidate.length > 0) {
      lines.push(
        `  classes only in ${b.version}: ${labels.classesOnlyInBaseline.join(', ') || 'none'}; only in ${c.version}: ${labels.classesOnlyInCandidate.join(', ') || 'none'}`,
      );
    }
    lines.push(`  probability |difference| over ${plural(p.count, 'value')}: max ${num(p.max)}, mean ${num(p.mean)}, p99 ${num(p.p99)}`);
  }
  if (summary.values !== undefined) {
    const { absolute: a, relative: r } = summary.values;
    lines.push(`  |difference|: max ${num(a.max)}, mean ${num(a.mean)}, p99 ${num(a.p99)}`);
    lines.push(`  relative |difference| / max(1, |old value|): max ${num(r.max)}, mean ${num(r.mean)}, p99 ${num(r.p99)}`);
  }
  lines.push(
    `  rows differing beyond the candidate's tolerance (${num(summary.tolerance)} x max(1, |old|), as the gate measures): ${count(summary.beyondTolerance)}${percent(summary.beyondTolerance)}`,
  );
  return `${lines.join('\n')}\n`;
}

export const diffCommand: Command = {
  name: 'diff',
  summary: 'compare two versions of a bundle on their test rows (a differential test)',
  usage: 'ondevice diff <bundle-dir> <candidate-version> [--against <version>] [--json]',
  help: `Loads both versions (verified, and gated: each must pass its own gate), scores every distinct
row of both versions' end-to-end and confidence sets with both, and summarises how the
predictions move: for classification, how many labels change (with examples: the set, the row,
old -> new label) and the absolute difference of the probabilities; for regression, the absolute
and relative difference of the values; for both, how many rows differ by more than the
candidate's tolerance. Works for tabular and tensor bundles. When the versions read different
fields, each scores only the fields it reads, and rows one of them refuses are skipped and counted.

  <bundle-dir>           A bundle folder (<bundles>/<name>/) or its channel.json.
  <candidate-version>    The new version, e.g. 1.1.0.
  --against <version>    The version to compare with. Default: the live one.
  --json                 Print the summary as JSON.`,
  async run(argv, io) {
    const args = parseCommandArgs(diffCommand, argv, { against: { type: 'string' }, json: { type: 'boolean' } }, io, {
      min: 2,
      max: 2,
      names: 'a bundle folder and the candidate version',
    });
    if (args === undefined) return 0;
    const summary = await diffVersions({
      bundle: args.positionals[0]!,
      candidate: args.positionals[1]!,
      ...(args.values.against === undefined ? {} : { against: args.values.against }),
    });
    io.stdout.write(args.values.json === true ? `${JSON.stringify(summary, null, 2)}\n` : describeDiff(summary));
    return 0;
  },
};

/** A side's gate metric; a gate without one (an unlabelled model) reads as NaN on no rows. */
function gateMetric(gate: GatedModel['gate']): DiffSide['metric'] {
  const m = gate.metric;
  return m === undefined
    ? { name: 'none', value: Number.NaN, range: [Number.NaN, Number.NaN], rows: 0 }
    : { name: m.name, value: m.value, range: m.range, rows: m.rows };
}

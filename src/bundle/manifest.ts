import { BundleError } from '../errors/index.js';
import { isRecord, readArray, readLiteral, readNumber, readRecord, readString, type Fail } from '../util/json.js';
import type { Backend, RuntimeName } from '../runtimes/index.js';
import { isSha256Hex } from './hash.js';
import { isVersion } from './version.js';

/**
 * `manifest.json`: one immutable version of a bundle. Every file is listed with its size and
 * SHA-256; the channel pins the manifest's own hash, so nothing unlisted or altered is ever used.
 */
export interface Manifest {
  readonly format: 'ondevice/manifest';
  readonly formatVersion: 2;
  readonly name: string;
  readonly version: string;
  /** SHA-256 over the sorted `role:sha256` lines of the files: the identity of the content. */
  readonly contentHash: string;
  /** The runtime that scores the model; the library loads only that runtime's code. */
  readonly runtime: RuntimeName;
  readonly files: BundleFiles;
  /** Versions kept in sync: the model, the feature spec it was trained with, and the training data. */
  readonly versions: { readonly model: string; readonly featureSpec: string; readonly data: string };
  readonly task: Task;
  readonly gate: GateSpec;
  /**
   * Other builds of the same model for some devices (e.g. int8 for WASM, fp16 for WebGPU), each in
   * its file `variant.<name>`. The library serves the first one whose backends it is about to use
   * and that passes its own gate, else the main model (`RuntimeOptions.variant`).
   */
  readonly variants?: readonly ModelVariant[];
  /**
   * Friendly names for model outputs (alias -> the model's own output name), so the task can name
   * `probabilities` where a converted graph model calls its output `Identity:0` or
   * `StatefulPartitionedCall:0`. The runtime answers to both names.
   */
  readonly outputAliases?: Readonly<Record<string, string>>;
  readonly metadata: ModelMetadata;
}

export interface ModelVariant {
  /** Lowercase letters, digits and dashes; its file's role is `variant.<name>`. */
  readonly name: string;
  /** The backends it is built for, e.g. `['wasm']`. */
  readonly backends: readonly Backend[];
  /** Its own gate: a quantized model answers within a wider tolerance of the research outputs. */
  readonly gate: GateSpec;
  readonly description?: string;
  readonly toleranceReason?: string;
}

/** What practice asks every model version to carry (Burkov, Machine Learning Engineering, 8.5.3). */
export interface ModelMetadata {
  readonly description: string;
  readonly algorithm: { readonly name: string; readonly hyperparameters: Readonly<Record<string, unknown>> };
  readonly training: {
    readonly library: string;
    readonly libraryVersion: string;
    /** Where the training data came from and which version (its SHA-256). */
    readonly data: Readonly<Record<string, unknown>> & { readonly name: string; readonly sha256: string };
  };
  /** The raw inputs a row must carry. */
  readonly features: readonly { readonly name: string; readonly type: string }[];
  /** The model outputs the library reads, their types and how to read them. */
  readonly outputs: readonly { readonly name: string; readonly type: string; readonly meaning: string }[];
  /** Who packed this version and when. (Who approved its deployment is in the channel.) */
  readonly build: { readonly by: string; readonly at: string };
  /** Anything else the model card says (e.g. the research metric, why this tolerance). */
  readonly [key: string]: unknown;
}

export const REQUIRED_ROLES = ['model', 'featureSpec', 'e2eSet', 'confidenceSet'] as const;
/** `weights`: a TensorFlow.js model's weights file; `reference`: the training distribution (`reference.json`, src/monitor). */
export const OPTIONAL_ROLES = ['weights', 'reference'] as const;
export const FILE_ROLES = [...REQUIRED_ROLES, ...OPTIONAL_ROLES] as const;
/** A model variant's file (`ModelVariant`). */
export type VariantRole = `variant.${string}`;
/**
 * One of a TensorFlow.js model's weight shards, numbered from 1 in the order `model.json`'s
 * `weightsManifest` lists them, each under its own name: `weights.1` ... `weights.<n>`. A bundle has
 * either these or the single `weights` file (one joined file: the older form, still read).
 */
export type WeightShardRole = `weights.${number}`;
export type FileRole = (typeof FILE_ROLES)[number] | VariantRole | WeightShardRole;
export type RequiredRole = (typeof REQUIRED_ROLES)[number];

export type BundleFiles = Readonly<Record<RequiredRole, BundleFile>> &
  Readonly<Partial<Record<(typeof OPTIONAL_ROLES)[number], BundleFile>>> &
  Readonly<Partial<Record<VariantRole, BundleFile>>> &
  Readonly<Partial<Record<WeightShardRole, BundleFile>>>;

const VARIANT_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

export function variantRole(name: string): VariantRole {
  return `variant.${name}`;
}

/** Lowercase letters, digits and dashes, at most 32: what a variant may be called. */
export function isVariantName(name: string): boolean {
  return VARIANT_NAME.test(name);
}

function isVariantRole(key: string): key is VariantRole {
  return key.startsWith('variant.') && isVariantName(key.slice('variant.'.length));
}

export function weightShardRole(index: number): WeightShardRole {
  return `weights.${index}`;
}

/** The shard's number (from 1), or undefined when `key` is not a shard's role. */
function shardNumber(key: string): number | undefined {
  const match = /^weights\.([1-9][0-9]{0,3})$/.exec(key);
  return match === null ? undefined : Number(match[1]);
}

/** The weight shards' roles a manifest lists, in order (`weights.1`, `weights.2`, ...). */
export function weightShardRoles(files: Partial<Record<FileRole, unknown>>): WeightShardRole[] {
  return Object.keys(files)
    .filter((key) => shardNumber(key) !== undefined && files[key as WeightShardRole] !== undefined)
    .sort((a, b) => shardNumber(a)! - shardNumber(b)!) as WeightShardRole[];
}

/** The roles a manifest lists, in a fixed order: the fixed roles, the weight shards in order, then the variants' by name. */
export function presentRoles(files: Partial<Record<FileRole, unknown>>): FileRole[] {
  const variants = Object.keys(files)
    .filter(isVariantRole)
    .filter((role) => files[role] !== undefined)
    .sort();
  return [...FILE_ROLES.filter((role) => files[role] !== undefined), ...weightShardRoles(files), ...variants];
}

export interface BundleFile {
  /** Relative to the manifest. */
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export type Task = ClassificationTask | RegressionTask | BinaryTask | OutputsTask | EmbeddingTask;

export interface ClassificationTask {
  readonly kind: 'classification';
  readonly classes: readonly string[];
  /** Name of the model output holding `rows x classes` probabilities. */
  readonly probabilities: string;
}

export interface RegressionTask {
  readonly kind: 'regression';
  /** Name of the model output holding one value per row. */
  readonly value: string;
  /** Applied to the model's output, e.g. `expm1` for a model trained on log1p of the target. */
  readonly inverse?: 'expm1';
}

/**
 * A classifier with one sigmoid output: `p` of the second class, one value per row. Predictions are
 * classifications with the probabilities `1 - p` and `p`; the label is the second class when
 * `p >= threshold`.
 */
export interface BinaryTask {
  readonly kind: 'binary';
  readonly output: string;
  readonly classes: readonly [string, string];
  /** @defaultValue 0.5 */
  readonly threshold: number;
}

/** The model's named outputs as it produced them: a detector's scores, a state update, anything not a label. */
export interface OutputsTask {
  readonly kind: 'outputs';
  readonly outputs: readonly TaskOutput[];
}

export interface TaskOutput {
  readonly name: string;
  /**
   * The dimension along which an output holds one slice per row, split into each row's prediction;
   * null: none, the whole output goes with the call's one row.
   * @defaultValue 0
   */
  readonly batch: number | null;
}

/** A vector per row (`rows x dims`), optionally scaled to unit length. */
export interface EmbeddingTask {
  readonly kind: 'embedding';
  readonly output: string;
  readonly normalize?: 'l2';
}

export type MetricName = 'accuracy' | 'rmse' | 'mae' | 'r2';

export interface GateSpec {
  /** Largest allowed |browser - research| on the end-to-end set, relative above magnitude 1. */
  readonly tolerance: number;
  /**
   * The confidence-set metric and the inclusive range it must fall in. Absent for a model with no
   * labelled data (a pretrained detector, an embedding): then `unlabelled` says why, and the
   * confidence set holds rows without labels for the `checks`.
   */
  readonly metric?: { readonly name: MetricName; readonly range: readonly [number, number] };
  /** Why the gate has no metric (required when it has none). */
  readonly unlabelled?: string;
  /** Checks every output of the confidence set's rows must pass (with or without a metric). */
  readonly checks?: OutputChecks;
}

export interface OutputChecks {
  /** Every value of every output is finite. */
  readonly finite?: boolean;
  /** Per output, the inclusive range every value must fall in. */
  readonly ranges?: Readonly<Record<string, readonly [number, number]>>;
  /** Outputs whose values along the last dimension sum to 1 (within the gate's tolerance). */
  readonly sumToOne?: readonly string[];
}

const fail: Fail = (path, why) => {
  throw new BundleError('INVALID_MANIFEST', `manifest: ${path} ${why}`, { path });
};

/**
 * What a bundle may hold at most, whatever its manifest says (a manifest cannot raise them): model
 * variants, and the size of any one file. `pack` refuses past them too.
 */
export const MANIFEST_CEILINGS = { variants: 8, weightShards: 64, outputAliases: 32, fileBytes: 1024 * 1024 * 1024 } as const;

export function parseManifest(json: unknown): Manifest {
  const root = readRecord(json, '(root)', fail);
  readLiteral(root.format, ['ondevice/manifest'], 'format', fail);
  readLiteral(root.formatVersion, [2], 'formatVersion', fail);
  const version = readString(root.version, 'version', fail);
  if (!isVersion(version)) fail('version', `"${version}" is not a version like 1.2.0`);
  const contentHash = readString(root.contentHash, 'contentHash', fail);
  if (!isSha256Hex(contentHash)) fail('contentHash', 'must be 64 lowercase hex digits');

  const filesJson = readRecord(root.files, 'files', fail);
  // Checked before any is read: every file is a request, and the list is the manifest's to choose.
  const listed = Object.keys(filesJson).length;
  const most = FILE_ROLES.length + MANIFEST_CEILINGS.variants + MANIFEST_CEILINGS.weightShards;
  if (listed > most) fail('files', `lists ${listed} files; a bundle has at most ${most}`);
  const files = {} as Record<FileRole, BundleFile>;
  for (const role of REQUIRED_ROLES) files[role] = parseFile(filesJson[role], `files.${role}`);
  for (const role of OPTIONAL_ROLES) if (filesJson[role] !== undefined) files[role] = parseFile(filesJson[role], `files.${role}`);
  for (const key of Object.keys(filesJson)) {
    if (isVariantRole(key) || shardNumber(key) !== undefined) files[key as FileRole] = parseFile(filesJson[key], `files.${key}`);
    else if (!(FILE_ROLES as readonly string[]).includes(key)) fail(`files.${key}`, 'is not a known file role');
  }
  checkWeightShards(files);
  const variants = root.variants === undefined ? undefined : parseVariants(root.variants, files);
  const variantRoles = new Set(variants?.map((v) => variantRole(v.name)));
  for (const role of Object.keys(files).filter(isVariantRole)) {
    if (!variantRoles.has(role)) fail(`files.${role}`, 'belongs to no entry of variants');
  }
  const runtime = readLiteral(root.runtime, ['onnxruntime-web', 'tensorflow-js'] as const, 'runtime', fail);
  if (runtime === 'tensorflow-js' && files.weights === undefined && files['weights.1'] === undefined)
    fail('files.weights', 'is required by a TensorFlow.js model (or its shards, weights.1 ... weights.<n>)');
  if (runtime !== 'tensorflow-js' && files['weights.1'] !== undefined) fail('files.weights.1', 'is for TensorFlow.js models only');
  // A variant is one model file: a TensorFlow.js model is two (model.json and its weights).
  if (runtime === 'tensorflow-js' && root.variants !== undefined) fail('variants', 'are for onnxruntime-web models only');
  const versions = readRecord(root.versions, 'versions', fail);

  return {
    format: 'ondevice/manifest',
    formatVersion: 2,
    name: readString(root.name, 'name', fail),
    version,
    contentHash,
    runtime,
    files,
    versions: {
      model: readString(versions.model, 'versions.model', fail),
      featureSpec: readString(versions.featureSpec, 'versions.featureSpec', fail),
      data: readString(versions.data, 'versions.data', fail),
    },
    task: parseTask(root.task),
    gate: parseGate(root.gate, 'gate'),
    ...(variants === undefined ? {} : { variants }),
    ...(root.outputAliases === undefined ? {} : { outputAliases: parseOutputAliases(root.outputAliases) }),
    metadata: parseMetadata(root.metadata),
  };
}

/** Shards numbered 1 to n without a gap, at most the ceiling, and not beside a single `weights` file. */
function checkWeightShards(files: Partial<Record<FileRole, BundleFile>>): void {
  const shards = weightShardRoles(files);
  if (shards.length === 0) return;
  if (files.weights !== undefined) fail('files.weights', 'and weights.1 ... weights.<n> are two forms of the same weights: give one');
  if (shards.length > MANIFEST_CEILINGS.weightShards)
    fail('files', `lists ${shards.length} weight shards; a bundle has at most ${MANIFEST_CEILINGS.weightShards}`);
  shards.forEach((role, i) => {
    if (role !== weightShardRole(i + 1)) fail(`files.${role}`, `follows ${i} shards: shards are numbered 1, 2, ... without a gap`);
  });
}

/** `outputAliases`: alias -> the model's output name, both non-empty, no alias naming another alias. */
function parseOutputAliases(value: unknown): Record<string, string> {
  const record = readRecord(value, 'outputAliases', fail);
  const entries = Object.entries(record);
  if (entries.length > MANIFEST_CEILINGS.outputAliases)
    fail('outputAliases', `has ${entries.length} entries; at most ${MANIFEST_CEILINGS.outputAliases}`);
  const aliases: Record<string, string> = {};
  for (const [alias, target] of entries) {
    const name = readString(target, `outputAliases.${alias}`, fail);
    if (alias.length === 0 || name.length === 0 || alias.length > 200 || name.length > 200)
      fail(`outputAliases.${alias}`, 'must map a name of 1 to 200 characters to one of 1 to 200');
    if (alias === name || Object.hasOwn(record, name)) fail(`outputAliases.${alias}`, `names "${name}", which is an alias itself`);
    aliases[alias] = name;
  }
  return aliases;
}

function parseGate(value: unknown, path: string): GateSpec {
  const gate = readRecord(value, path, fail);
  const tolerance = readNumber(gate.tolerance, `${path}.tolerance`, fail);
  if (tolerance < 0) fail(`${path}.tolerance`, 'must not be negative');
  const checks = gate.checks === undefined ? undefined : parseChecks(gate.checks, `${path}.checks`);
  if (gate.metric === undefined) {
    const unlabelled = readString(gate.unlabelled, `${path}.unlabelled`, (_, why) =>
      fail(`${path}.unlabelled`, `${why}: a gate without a metric says why`),
    );
    return { tolerance, unlabelled, ...(checks === undefined ? {} : { checks }) };
  }
  const metric = readRecord(gate.metric, `${path}.metric`, fail);
  return {
    tolerance,
    metric: {
      name: readLiteral(metric.name, ['accuracy', 'rmse', 'mae', 'r2'] as const, `${path}.metric.name`, fail),
      range: readRange(metric.range, `${path}.metric.range`),
    },
    ...(checks === undefined ? {} : { checks }),
  };
}

function readRange(value: unknown, path: string): [number, number] {
  const range = readArray(value, path, fail).map((v, i) => readNumber(v, `${path}[${i}]`, fail));
  if (range.length !== 2 || range[0]! > range[1]!) fail(path, 'must be [low, high] with low <= high');
  return [range[0]!, range[1]!];
}

function parseChecks(value: unknown, path: string): OutputChecks {
  const checks = readRecord(value, path, fail);
  const ranges = checks.ranges === undefined ? undefined : readRecord(checks.ranges, `${path}.ranges`, fail);
  return {
    ...(checks.finite === undefined ? {} : { finite: checks.finite === true }),
    ...(ranges === undefined
      ? {}
      : { ranges: Object.fromEntries(Object.entries(ranges).map(([name, r]) => [name, readRange(r, `${path}.ranges.${name}`)])) }),
    ...(checks.sumToOne === undefined
      ? {}
      : { sumToOne: readArray(checks.sumToOne, `${path}.sumToOne`, fail).map((n, i) => readString(n, `${path}.sumToOne[${i}]`, fail)) }),
  };
}

const BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;

function parseVariants(value: unknown, files: Partial<Record<FileRole, BundleFile>>): ModelVariant[] {
  const seen = new Set<string>();
  const list = readArray(value, 'variants', fail);
  if (list.length > MANIFEST_CEILINGS.variants)
    fail('variants', `has ${list.length} entries; a bundle has at most ${MANIFEST_CEILINGS.variants}`);
  return list.map((item, i): ModelVariant => {
    const path = `variants[${i}]`;
    const entry = readRecord(item, path, fail);
    const name = readString(entry.name, `${path}.name`, fail);
    if (!VARIANT_NAME.test(name)) fail(`${path}.name`, 'must be lowercase letters, digits and dashes (at most 32)');
    if (seen.has(name)) fail(`${path}.name`, `repeats "${name}"`);
    seen.add(name);
    if (files[variantRole(name)] === undefined) fail(`${path}.name`, `has no file: files.${variantRole(name)} is missing`);
    const backends = readArray(entry.backends, `${path}.backends`, fail).map((b, k) =>
      readLiteral(b, BACKENDS, `${path}.backends[${k}]`, fail),
    );
    if (backends.length === 0) fail(`${path}.backends`, 'must name at least one backend');
    const optional = (key: 'description' | 'toleranceReason'): Partial<Record<typeof key, string>> =>
      entry[key] === undefined ? {} : { [key]: readString(entry[key], `${path}.${key}`, fail) };
    return { name, backends, gate: parseGate(entry.gate, `${path}.gate`), ...optional('description'), ...optional('toleranceReason') };
  });
}

function parseMetadata(value: unknown): ModelMetadata {
  const metadata = readRecord(value, 'metadata', fail);
  const algorithm = readRecord(metadata.algorithm, 'metadata.algorithm', fail);
  const training = readRecord(metadata.training, 'metadata.training', fail);
  const data = readRecord(training.data, 'metadata.training.data', fail);
  const build = readRecord(metadata.build, 'metadata.build', fail);
  const list = (key: 'features' | 'outputs', fields: readonly string[]) =>
    readArray(metadata[key], `metadata.${key}`, fail).map((item, i) => {
      const entry = readRecord(item, `metadata.${key}[${i}]`, fail);
      return Object.fromEntries(fields.map((f) => [f, readString(entry[f], `metadata.${key}[${i}].${f}`, fail)]));
    });
  return {
    ...metadata,
    description: readString(metadata.description, 'metadata.description', fail),
    algorithm: {
      name: readString(algorithm.name, 'metadata.algorithm.name', fail),
      hyperparameters: isRecord(algorithm.hyperparameters) ? algorithm.hyperparameters : {},
    },
    training: {
      ...training,
      library: readString(training.library, 'metadata.training.library', fail),
      libraryVersion: readString(training.libraryVersion, 'metadata.training.libraryVersion', fail),
      data: {
        ...data,
        name: readString(data.name, 'metadata.training.data.name', fail),
        sha256: readString(data.sha256, 'metadata.training.data.sha256', fail),
      },
    },
    features: list('features', ['name', 'type']) as unknown as ModelMetadata['features'],
    outputs: list('outputs', ['name', 'type', 'meaning']) as unknown as ModelMetadata['outputs'],
    build: { by: readString(build.by, 'metadata.build.by', fail), at: readString(build.at, 'metadata.build.at', fail) },
  };
}

function parseFile(value: unknown, path: string): BundleFile {
  const file = readRecord(value, path, fail);
  const relative = readString(file.path, `${path}.path`, fail);
  // Files live beside the manifest: no climbing out, no absolute URLs.
  if (!/^[A-Za-z0-9._-]+$/.test(relative) || relative.startsWith('.')) fail(`${path}.path`, 'must be a plain file name');
  const size = readNumber(file.size, `${path}.size`, fail);
  if (!Number.isInteger(size) || size < 0) fail(`${path}.size`, 'must be a whole number of bytes');
  if (size > MANIFEST_CEILINGS.fileBytes)
    fail(`${path}.size`, `is ${size} bytes; a bundle file has at most ${MANIFEST_CEILINGS.fileBytes}`);
  const sha256 = readString(file.sha256, `${path}.sha256`, fail);
  if (!isSha256Hex(sha256)) fail(`${path}.sha256`, 'must be 64 lowercase hex digits');
  return { path: relative, size, sha256 };
}

function parseTask(value: unknown): Task {
  const task = readRecord(value, 'task', fail);
  const kind = readLiteral(task.kind, ['classification', 'regression', 'binary', 'outputs', 'embedding'] as const, 'task.kind', fail);
  if (kind === 'binary' || kind === 'outputs' || kind === 'embedding') return parseTensorTask(kind, task);
  if (kind === 'regression') {
    const value = readString(task.value, 'task.value', fail);
    if (task.inverse === undefined || task.inverse === null) return { kind, value };
    return { kind, value, inverse: readLiteral(task.inverse, ['expm1'] as const, 'task.inverse', fail) };
  }
  const classes = readArray(task.classes, 'task.classes', fail).map((c, i) => readString(c, `task.classes[${i}]`, fail));
  if (classes.length < 2) fail('task.classes', 'must name at least two classes');
  return { kind, classes, probabilities: readString(task.probabilities, 'task.probabilities', fail) };
}

function parseTensorTask(kind: 'binary' | 'outputs' | 'embedding', task: Record<string, unknown>): Task {
  if (kind === 'embedding') {
    const output = readString(task.output, 'task.output', fail);
    if (task.normalize === undefined || task.normalize === null) return { kind, output };
    return { kind, output, normalize: readLiteral(task.normalize, ['l2'] as const, 'task.normalize', fail) };
  }
  if (kind === 'binary') {
    const classes = readArray(task.classes, 'task.classes', fail).map((c, i) => readString(c, `task.classes[${i}]`, fail));
    if (classes.length !== 2 || classes[0] === classes[1]) fail('task.classes', 'must name two different classes: [negative, positive]');
    const threshold = task.threshold === undefined ? 0.5 : readNumber(task.threshold, 'task.threshold', fail);
    if (!(threshold >= 0 && threshold <= 1)) fail('task.threshold', 'must be within [0, 1]');
    return { kind, output: readString(task.output, 'task.output', fail), classes: [classes[0]!, classes[1]!], threshold };
  }
  const outputs = readArray(task.outputs, 'task.outputs', fail).map((item, i): TaskOutput => {
    const entry = readRecord(item, `task.outputs[${i}]`, fail);
    const name = readString(entry.name, `task.outputs[${i}].name`, fail);
    if (entry.batch === null) return { name, batch: null };
    const axis = entry.batch === undefined ? 0 : readNumber(entry.batch, `task.outputs[${i}].batch`, fail);
    if (!Number.isInteger(axis) || axis < 0) fail(`task.outputs[${i}].batch`, 'must be a dimension index, or null for none');
    return { name, batch: axis };
  });
  if (outputs.length === 0) fail('task.outputs', 'must name at least one output');
  if (new Set(outputs.map((o) => o.name)).size !== outputs.length) fail('task.outputs', 'names must not repeat');
  return { kind, outputs };
}

/** The content hash: independent of file names and order, so re-packing the same bytes gives the same hash. */
export async function contentHashOf(files: BundleFiles, hash: (bytes: Uint8Array) => Promise<string>): Promise<string> {
  const lines = presentRoles(files)
    .map((role) => `${role}:${files[role]!.sha256}\n`)
    .join('');
  return hash(new TextEncoder().encode(lines));
}

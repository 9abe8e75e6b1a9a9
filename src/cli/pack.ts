import { copyFile, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import {
  compareVersions,
  contentHashOf,
  DEFAULT_METADATA_CAPS,
  presentRoles,
  parseJsonBytes,
  parseManifest,
  sha256Hex,
  variantRole,
  type BundleFile,
  type FileRole,
  type Manifest,
} from '../bundle/index.js';
import { MANIFEST_CEILINGS } from '../bundle/manifest.js';
import { BundleError } from '../errors/index.js';
import { compileFeatureSpec, parseFeatureSpec, type FeatureSpec } from '../features/index.js';
import { parseConfidenceSet, parseEndToEndSet, readSetFile } from '../gate/index.js';
import { parseReference, type Reference } from '../monitor/index.js';
import type { RuntimeName } from '../runtimes/index.js';
import { isRecord, readArray, readLiteral, readRecord, readString, type Fail } from '../util/json.js';
import { describeSignatureChange, nextChannel, readChannelFile, writeChannelFile } from './channel-file.js';
import { parseCommandArgs, UsageError, type Command } from './command.js';
import { exists, isDirectory, jsonText, shown } from './files.js';
import { checkModelInputs, checkModelOutputs } from './onnx-inputs.js';
import { inSourceFile, readSourceJson } from './source-json.js';
import { tfjsModelFiles } from './tfjs-source.js';

/** The files a training script writes, by role, as `pack` expects them in the model's build folder. */
export const SOURCE_FILES = {
  featureSpec: 'feature-spec.json',
  e2eSet: 'e2e-set.json',
  confidenceSet: 'confidence-set.json',
  modelCard: 'model-card.json',
  /** Optional (tabular models): the training distribution, packed when the build folder has it. */
  reference: 'reference.json',
} as const;

/** Source files a build folder may lack. */
const OPTIONAL_SOURCES: ReadonlySet<string> = new Set([SOURCE_FILES.reference]);

/** The model's own files, by runtime. */
export const MODEL_FILES: Readonly<Record<RuntimeName, Partial<Record<FileRole, string>>>> = {
  'onnxruntime-web': { model: 'model.onnx' },
  // The weights as model.json names them: one file, or each shard under its own name (tfjs-source.ts).
  'tensorflow-js': { model: 'model.json', weights: 'weights.bin' },
};

/** Every build folder (one holding a model-card.json) at or below `root`. */
export async function findBuildFolders(root: string): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true });
  if (entries.some((e) => e.isFile() && e.name === SOURCE_FILES.modelCard)) return [resolve(root)];
  const nested = await Promise.all(
    entries.filter((e) => e.isDirectory() && e.name !== 'data').map((e) => findBuildFolders(join(root, e.name))),
  );
  return nested.flat().sort();
}

export interface PackOptions {
  /** Folder holding the training script's output (see SOURCE_FILES). */
  readonly source: string;
  /** Bundles folder: the bundle goes to `<out>/<name>/<version>/` and `<out>/<name>/channel.json`. */
  readonly out: string;
  /** Make the packed version the channel's live one. Default true. */
  readonly promote?: boolean;
  /** Who packs (manifest `metadata.build.by`). Default: $ONDEVICE_BUILT_BY, else the OS user. */
  readonly builtBy?: string;
  /** When (ISO 8601). Default: now. */
  readonly builtAt?: string;
  /** With `promote`: who approves the deployment and why (channel `live.approval`). Default: the builder, "packed and promoted". */
  readonly approval?: { readonly by: string; readonly reason: string };
}

export interface PackResult {
  readonly manifest: Manifest;
  readonly manifestPath: string;
  readonly manifestSha256: string;
  readonly channelPath: string | undefined;
  /** False when the same version with the same content was already packed. */
  readonly written: boolean;
  /** Set when promoting removed a channel.json.sig that no longer matched: says so, for the user. */
  readonly signatureNote?: string | undefined;
}

/** Refusals of the model card, naming it: what it says becomes the manifest. */
function cardFail(file: string): Fail {
  return (path, why) => {
    throw new BundleError('INVALID_MANIFEST', `${shown(file)}: ${path} ${why}`, { path, file: shown(file) });
  };
}

/** The outputs the library reads, with their types and how to read them (manifest metadata). */
function describeOutputs(task: unknown, fail: Fail): { name: string; type: string; meaning: string }[] {
  const t = readRecord(task, 'task', fail);
  if (t.kind === 'classification') {
    const classes = Array.isArray(t.classes) ? t.classes.map(String) : [];
    return [
      {
        name: readString(t.probabilities, 'task.probabilities', fail),
        type: `float[N, ${classes.length}]`,
        meaning: `probability of each class, in the order ${classes.join(', ')}; the label is the most probable`,
      },
    ];
  }
  if (t.kind === 'binary') {
    const classes = Array.isArray(t.classes) ? t.classes.map(String) : [];
    return [
      {
        name: readString(t.output, 'task.output', fail),
        type: 'float[N, 1]',
        meaning: `probability of "${classes[1] ?? '?'}" (a sigmoid); the label is "${classes[1] ?? '?'}" at or above the threshold, else "${classes[0] ?? '?'}"`,
      },
    ];
  }
  if (t.kind === 'embedding')
    return [
      {
        name: readString(t.output, 'task.output', fail),
        type: 'float[N, D]',
        meaning: `a vector per row${t.normalize === 'l2' ? ', scaled to unit length' : ''}`,
      },
    ];
  if (t.kind === 'outputs') {
    const outputs = Array.isArray(t.outputs) ? t.outputs : [];
    return outputs.map((o, i) => {
      const entry = readRecord(o, `task.outputs[${i}]`, fail);
      const meaning =
        entry.meaning === undefined ? 'as the model produced it' : readString(entry.meaning, `task.outputs[${i}].meaning`, fail);
      return { name: readString(entry.name, `task.outputs[${i}].name`, fail), type: 'tensor', meaning };
    });
  }
  const inverse = t.inverse === 'expm1' ? ', then expm1 (the model predicts log1p of the target)' : '';
  return [{ name: readString(t.value, 'task.value', fail), type: 'float[N, 1]', meaning: `the predicted target${inverse}` }];
}

/**
 * `reference.json` as the browser reads it (`parseReference`, its feature means one per feature
 * column), and describing this model: fields of the feature spec (those it leaves out are not monitored), and an output of the
 * task's kind (the classes, in order, for a classifier). Refused with `INVALID_REFERENCE` naming the
 * file (`details.file`) and the place in it (`details.path`).
 */
function checkReference(bytes: Buffer, spec: FeatureSpec, task: unknown, file: string): void {
  const refuse = (path: string, why: string): never => {
    throw new BundleError('INVALID_REFERENCE', `${shown(file)}: reference: ${path} ${why}`, { path, file: shown(file) });
  };
  const json = readSourceJson(bytes, file);
  if (spec.kind !== 'tabular') return refuse('(root)', 'describes raw fields, and a tensor model has none: leave reference.json out');
  const width = compileFeatureSpec(spec).width;
  let reference: Reference;
  try {
    reference = parseReference(json, width);
  } catch (error) {
    if (error instanceof BundleError)
      throw new BundleError(error.code, `${shown(file)}: ${error.message}`, { ...error.details, file: shown(file) });
    throw error;
  }
  // A field the reference leaves out is not monitored; one it describes must be the spec's, of the same type.
  const types = new Map(spec.fields.map((f) => [f.name, f.type]));
  reference.fields.forEach((field, i) => {
    const type = types.get(field.name);
    if (type === undefined)
      refuse(`fields[${i}].name`, `is "${field.name}", which is not a field of the feature spec (${[...types.keys()].join(', ')})`);
    if (type !== field.type) refuse(`fields[${i}].type`, `is ${field.type}; the feature spec's "${field.name}" is a ${type}`);
  });
  const kind = isRecord(task) ? task.kind : undefined;
  const expected = kind === 'classification' ? 'category' : kind === 'regression' ? 'number' : undefined;
  if (expected !== undefined && reference.output.type !== expected)
    refuse('output.type', `is ${reference.output.type}; a ${String(kind)} model's output is a ${expected}`);
  if (kind === 'classification' && isRecord(task) && Array.isArray(task.classes) && reference.output.type === 'category') {
    const classes = task.classes.map(String);
    if (JSON.stringify(reference.output.levels) !== JSON.stringify(classes))
      refuse('output.levels', `are ${reference.output.levels.join(', ')}; the classes are ${classes.join(', ')}`);
  }
}

/** A build folder read and checked: its model card, the file of each role and their bytes. */
interface PackSource {
  readonly card: Record<string, unknown>;
  /** Refusals of the model card, naming it. */
  readonly fail: Fail;
  readonly cardFile: string;
  readonly runtime: 'onnxruntime-web' | 'tensorflow-js';
  readonly names: Partial<Record<FileRole, string>>;
  readonly roles: readonly FileRole[];
  readonly bytes: Record<FileRole, Buffer>;
  readonly spec: FeatureSpec;
  readonly variants: readonly Record<string, unknown>[];
}

/** A build folder checked and its manifest built; nothing written yet. */
interface PreparedPack {
  readonly source: string;
  readonly read: PackSource;
  readonly manifest: Manifest;
  /** `<out>/<name>`. */
  readonly out: string;
}

/**
 * Packs a trained model into an immutable, content-addressed version: every file is checked
 * (feature spec, sets), hashed and listed in `manifest.json`. A version folder is never
 * overwritten with different content: a new model needs a new version.
 */
export async function pack(options: PackOptions): Promise<PackResult> {
  return writePrepared(await preparePack(options), options);
}

/**
 * Packs several build folders all or nothing: every folder is checked (its files, its version
 * against what `out` holds, the promotions in order) before any bundle is written.
 */
export async function packAll(sources: readonly string[], options: Omit<PackOptions, 'source'>): Promise<PackResult[]> {
  const builtAt = options.builtAt ?? new Date().toISOString();
  const prepared: PreparedPack[] = [];
  // One at a time: a folder's files are read whole, and the first refusal ends the pack.
  for (const source of sources) prepared.push(await preparePack({ ...options, source, builtAt }));
  await checkTogether(prepared, options.promote !== false);
  const results: PackResult[] = [];
  for (const item of prepared) results.push(await writePrepared(item, options));
  return results;
}

/** Everything `pack` refuses, found before it writes: the build folder, and its version against `out`. */
async function preparePack(options: PackOptions): Promise<PreparedPack> {
  const source = resolve(options.source);
  const read = await readSource(source);
  const builtBy = options.builtBy ?? process.env.ONDEVICE_BUILT_BY ?? userInfo().username;
  const manifest = await buildManifest(read, builtBy, options.builtAt ?? new Date().toISOString());
  const out = join(resolve(options.out), manifest.name);
  await alreadyPacked(join(out, manifest.version), manifest, source);
  if (options.promote !== false) refuseRollback(manifest, (await readChannelFile(out))?.live.version, source);
  return { source, read, manifest, out };
}

/** Two folders packing the same version differently, or promotions in an order that would roll one back. */
async function checkTogether(prepared: readonly PreparedPack[], promote: boolean): Promise<void> {
  const versions = new Map<string, PreparedPack>();
  const live = new Map<string, string | undefined>();
  for (const item of prepared) {
    const { name, version, contentHash } = item.manifest;
    const same = versions.get(`${name}@${version}`);
    if (same !== undefined && same.manifest.contentHash !== contentHash)
      throw new BundleError(
        'INVALID_MANIFEST',
        `pack: ${shown(same.source)} and ${shown(item.source)} both pack ${name} ${version}, with other content; give one a new version`,
        { version, file: shown(item.source) },
      );
    versions.set(`${name}@${version}`, item);
    if (!promote) continue;
    if (!live.has(name)) live.set(name, (await readChannelFile(item.out))?.live.version);
    refuseRollback(item.manifest, live.get(name), item.source);
    live.set(name, version);
  }
}

/** Writes a prepared version and (unless `promote: false`) makes it live. */
async function writePrepared(
  { source, read, manifest, out }: PreparedPack,
  options: PackOptions | Omit<PackOptions, 'source'>,
): Promise<PackResult> {
  const builtBy = manifest.metadata.build.by;
  const { manifestPath, written } = await writeVersion(source, out, read, manifest);
  // The bytes on disk are what clients verify, whether written now or by an earlier identical pack.
  const manifestSha256 = await sha256Hex(await readFile(manifestPath));
  if (options.promote === false)
    return { manifest, manifestPath, manifestSha256, channelPath: undefined, written, signatureNote: undefined };
  const promoted = await promoteVersion(
    out,
    manifest,
    manifestSha256,
    { by: options.approval?.by ?? builtBy, reason: options.approval?.reason ?? 'packed and promoted by ondevice pack' },
    manifest.metadata.build.at,
    source,
  );
  return { manifest, manifestPath, manifestSha256, written, ...promoted };
}

/**
 * A build folder's file, refused before it is read when it is past the bundle's file ceiling
 * (`MANIFEST_CEILINGS.fileBytes`, what the loader allows), or missing.
 */
async function readSourceFile(source: string, name: string): Promise<Buffer> {
  const path = join(source, name);
  const info = await stat(path).catch(() => undefined);
  if (info === undefined || !info.isFile())
    throw new BundleError('FETCH_FAILED', `pack: ${path} is missing; the training script should write it`, { file: name });
  if (info.size > MANIFEST_CEILINGS.fileBytes)
    throw new BundleError(
      'TOO_LARGE',
      `${shown(path)} is ${info.size} bytes; a bundle file has at most ${MANIFEST_CEILINGS.fileBytes} (browsers refuse larger)`,
      { file: shown(path), limit: MANIFEST_CEILINGS.fileBytes, bytes: info.size },
    );
  return readFile(path);
}

/** A set's file in the build folder: its JSON, or the same in safetensors (`e2e-set.safetensors`); not both. */
async function setFile(source: string, json: string): Promise<string> {
  const binary = json.replace(/\.json$/, '.safetensors');
  const [hasJson, hasBinary] = [await exists(join(source, json)), await exists(join(source, binary))];
  if (hasJson && hasBinary)
    throw new BundleError('INVALID_SET', `${shown(join(source, json))} and ${binary} are both there: keep one`, {
      file: shown(join(source, json)),
    });
  return hasBinary ? binary : json;
}

/** The build folder's model card and files, refused now for what the browser would refuse on users' devices. */
async function readSource(source: string): Promise<PackSource> {
  const cardFile = join(source, SOURCE_FILES.modelCard);
  const fail = cardFail(cardFile);
  const card = readRecord(readSourceJson(await readSourceFile(source, SOURCE_FILES.modelCard), cardFile), '(root)', fail);
  const runtime =
    card.runtime === undefined
      ? 'onnxruntime-web'
      : readLiteral(card.runtime, ['onnxruntime-web', 'tensorflow-js'] as const, 'runtime', fail);
  const names: Partial<Record<FileRole, string>> = {
    featureSpec: SOURCE_FILES.featureSpec,
    e2eSet: await setFile(source, SOURCE_FILES.e2eSet),
    confidenceSet: await setFile(source, SOURCE_FILES.confidenceSet),
    ...(runtime === 'tensorflow-js'
      ? await tfjsModelFiles(source, await readSourceFile(source, MODEL_FILES[runtime].model!), card.outputAliases)
      : MODEL_FILES[runtime]),
    ...((await exists(join(source, SOURCE_FILES.reference))) ? { reference: SOURCE_FILES.reference } : {}),
  };
  // Variants (models/README.md): each entry names its model file in the build folder.
  const variants =
    card.variants === undefined
      ? []
      : readArray(card.variants, 'variants', fail).map((item, i) => readRecord(item, `variants[${i}]`, fail));
  for (const [i, variant] of variants.entries()) {
    names[variantRole(readString(variant.name, `variants[${i}].name`, fail))] = readString(variant.model, `variants[${i}].model`, fail);
  }
  const roles = presentRoles(names);
  const bytes = {} as Record<FileRole, Buffer>;
  for (const role of roles) bytes[role] = await readSourceFile(source, names[role]!);
  const spec = checkFiles(source, { card, runtime, names, roles, bytes });
  return { card, fail, cardFile, runtime, names, roles, bytes, spec, variants };
}

/**
 * Each file through the loader's own parsers (JSON depth, the feature spec and its ceilings, the sets),
 * refusals naming the file; the reference against the spec; each ONNX model's inputs against it.
 */
function checkFiles(
  source: string,
  { card, runtime, names, roles, bytes }: Omit<PackSource, 'spec' | 'variants' | 'fail' | 'cardFile'>,
): FeatureSpec {
  const at = (role: FileRole): string => join(source, names[role]!);
  const json = (role: FileRole): unknown => readSourceJson(bytes[role]!, at(role));
  const set = (role: 'e2eSet' | 'confidenceSet'): unknown => readSetFile(bytes[role]!, at(role), (b, file) => readSourceJson(b, file));
  const spec = inSourceFile(at('featureSpec'), () => parseFeatureSpec(json('featureSpec')));
  inSourceFile(at('e2eSet'), () => parseEndToEndSet(set('e2eSet')));
  const confidence = inSourceFile(at('confidenceSet'), () => parseConfidenceSet(set('confidenceSet')));
  const gate = isRecord(card.gate) ? card.gate : {};
  if (gate.metric !== undefined && confidence.labels === undefined && confidence.targets === undefined)
    throw new BundleError(
      'INVALID_SET',
      `${shown(at('confidenceSet'))}: needs labels or targets for the gate's metric (a model without labelled data leaves gate.metric out and says why in gate.unlabelled)`,
      { set: 'confidence set', path: '(root)', file: shown(at('confidenceSet')) },
    );
  if (bytes.reference !== undefined) checkReference(bytes.reference, spec, card.task, at('reference'));
  // TensorFlow.js casts what it is fed to float32 itself; onnxruntime takes the typed array as it is.
  if (runtime === 'onnxruntime-web')
    for (const role of roles.filter((r) => r === 'model' || r.startsWith('variant.'))) {
      checkModelInputs(bytes[role]!, at(role), spec, at('featureSpec'));
      checkModelOutputs(bytes[role]!, at(role), card.task, join(source, SOURCE_FILES.modelCard), spec);
    }
  return spec;
}

/** The version's manifest: files hashed, versions and gate from the model card, metadata for people. */
async function buildManifest(
  { card, fail, cardFile, runtime, names, roles, bytes, spec, variants }: PackSource,
  builtBy: string,
  builtAt: string,
): Promise<Manifest> {
  const files = {} as Record<FileRole, BundleFile>;
  for (const role of roles) files[role] = { path: names[role]!, size: bytes[role]!.byteLength, sha256: await sha256Hex(bytes[role]!) };
  const version = readString(card.version, 'version', fail);
  const training = readRecord(card.training, 'training', fail);
  const data = readRecord(training.data, 'training.data', fail);
  const gate = readRecord(card.gate, 'gate', fail);
  const metric = gate.metric === undefined ? undefined : readRecord(gate.metric, 'gate.metric', fail);
  const {
    name: _name,
    version: _version,
    runtime: _runtime,
    task,
    gate: _gate,
    variants: _variants,
    outputAliases,
    featureSpecVersion,
    ...metadata
  } = card;
  if (featureSpecVersion !== spec.version)
    fail('featureSpecVersion', `is ${String(featureSpecVersion)} but the feature spec is ${spec.version}`);
  const manifest = {
    format: 'ondevice/manifest',
    formatVersion: 2,
    name: readString(card.name, 'name', fail),
    version,
    contentHash: await contentHashOf(files, sha256Hex),
    runtime,
    files,
    versions: {
      model: version,
      featureSpec: spec.version,
      data: `${readString(data.name, 'training.data.name', fail)}@sha256:${readString(data.sha256, 'training.data.sha256', fail)}`,
    },
    task,
    gate: manifestGate(gate, metric),
    ...(variants.length === 0 ? {} : { variants: variants.map(manifestVariant) }),
    ...(outputAliases === undefined ? {} : { outputAliases }),
    metadata: {
      ...metadata,
      features:
        spec.kind === 'tabular'
          ? spec.fields.map((f) => ({ name: f.name, type: f.type }))
          : spec.tensors.map((t) => ({ name: t.name, type: `${t.dtype}[${t.shape.join(', ')}]` })),
      outputs: describeOutputs(task, fail),
      gate: {
        ...(metric === undefined ? {} : { metric }),
        ...(gate.toleranceReason === undefined ? {} : { toleranceReason: gate.toleranceReason }),
      },
      build: { by: builtBy, at: builtAt },
    },
  };
  return loaderChecked(manifest, cardFile);
}

/**
 * The manifest as the browser will read it: its bytes within the loader's cap and depth, then
 * parsed (variants, file sizes and the rest). What it says comes from the model card, so refusals name it.
 */
function loaderChecked(json: unknown, cardFile: string): Manifest {
  const manifest = inSourceFile(cardFile, () => parseManifest(json));
  const bytes = new TextEncoder().encode(jsonText(manifest));
  const cap = DEFAULT_METADATA_CAPS.manifestBytes;
  if (bytes.byteLength > cap)
    throw new BundleError(
      'TOO_LARGE',
      `${shown(cardFile)}: the manifest built from it is ${bytes.byteLength} bytes; browsers read at most ${cap}: make its metadata smaller`,
      { file: shown(cardFile), limit: cap, bytes: bytes.byteLength },
    );
  inSourceFile(cardFile, () => parseManifest(parseJsonBytes(bytes, 'the manifest built from it')));
  return manifest;
}

/** The gate as the manifest carries it: the metric's name and range (the card may say more), or why there is none, and the output checks. */
function manifestGate(gate: Record<string, unknown>, metric: Record<string, unknown> | undefined): Record<string, unknown> {
  return {
    tolerance: gate.tolerance,
    ...(metric === undefined ? { unlabelled: gate.unlabelled } : { metric: { name: metric.name, range: metric.range } }),
    ...(gate.checks === undefined ? {} : { checks: gate.checks }),
  };
}

function manifestVariant({
  name,
  backends,
  tolerance,
  metric,
  description,
  toleranceReason,
}: Record<string, unknown>): Record<string, unknown> {
  return {
    name,
    backends,
    gate: { tolerance, metric: isRecord(metric) ? { name: metric.name, range: metric.range } : metric },
    ...(description === undefined ? {} : { description }),
    ...(toleranceReason === undefined ? {} : { toleranceReason }),
  };
}

/** Whether the version folder holds this content already; other content there is refused, naming the build folder. */
async function alreadyPacked(versionDir: string, manifest: Manifest, source: string): Promise<boolean> {
  const manifestPath = join(versionDir, 'manifest.json');
  const existing = await readFile(manifestPath).catch(() => undefined);
  if (existing === undefined) return false;
  const packed = parseManifest(parseJsonBytes(existing, shown(manifestPath)));
  if (packed.contentHash !== manifest.contentHash) {
    throw new BundleError(
      'INVALID_MANIFEST',
      `pack: ${versionDir} already holds ${manifest.name} ${manifest.version} with other content than ${shown(source)}; give the new model a new version`,
      { version: manifest.version, file: shown(source) },
    );
  }
  return true;
}

/** Writes the version folder (files, then its manifest last), or finds the same content already packed there. */
async function writeVersion(
  source: string,
  out: string,
  { names, roles }: PackSource,
  manifest: Manifest,
): Promise<{ manifestPath: string; written: boolean }> {
  const versionDir = join(out, manifest.version);
  const manifestPath = join(versionDir, 'manifest.json');
  // Checked again here: another pack may have written the version since it was prepared.
  if (await alreadyPacked(versionDir, manifest, source)) return { manifestPath, written: false };
  await mkdir(versionDir, { recursive: true });
  try {
    for (const role of roles) await copyFile(join(source, names[role]!), join(versionDir, manifest.files[role]!.path));
    // The manifest goes last: a version folder without one is an interrupted pack, not a version.
    await writeFile(manifestPath, jsonText(manifest));
  } catch (error) {
    await rm(versionDir, { recursive: true, force: true });
    throw error;
  }
  return { manifestPath, written: true };
}

/** Promoting a version older than the live one is a rollback, which `pack` never does. */
function refuseRollback({ name, version }: Manifest, live: string | undefined, source: string): void {
  if (live !== undefined && compareVersions(version, live) < 0) {
    throw new BundleError(
      'ROLLBACK_REFUSED',
      `pack: ${name} ${live} is live; promoting the older ${version} (${shown(source)}) is a rollback (ondevice rollback)`,
      { version, file: shown(source) },
    );
  }
}

/** Makes the version live in the bundle's channel; an older version than the live one is a rollback, refused here. */
async function promoteVersion(
  out: string,
  manifest: Manifest,
  manifestSha256: string,
  approval: { by: string; reason: string },
  at: string,
  source: string,
): Promise<{ channelPath: string; signatureNote: string | undefined }> {
  const { name, version } = manifest;
  const previous = await readChannelFile(out);
  refuseRollback(manifest, previous?.live.version, source);
  const channel = nextChannel(previous, { name, version, manifestSha256, approval, at });
  // Shared with promote: a signature over the old channel is removed, never left stale.
  const written = await writeChannelFile(out, channel);
  return { channelPath: written.path, signatureNote: describeSignatureChange(written) };
}

export const packCommand: Command = {
  name: 'pack',
  summary: 'turn build folders into versioned, hash-verified bundles',
  usage: 'ondevice pack <folder>... --out <bundles-dir> [--no-promote]',
  help: `For every build folder at or below each <folder> (a folder holding model-card.json): check, hash
and copy the trained model into <bundles-dir>/<name>/<version>/ with a manifest.json, and make it
the live version in <bundles-dir>/<name>/channel.json (unless --no-promote). A build folder holds
what the training script wrote:
  ${Object.values(SOURCE_FILES)
    .map((name) => (OPTIONAL_SOURCES.has(name) ? `${name} (optional)` : name))
    .join(', ')}
  and the model: ${Object.entries(MODEL_FILES)
    .map(([runtime, files]) => `${Object.values(files).join(' + ')} (${runtime})`)
    .join(' or ')}
Every folder is checked first (each JSON file as the browser reads it, with no NaN or Infinity;
the library's ceilings; an ONNX model's inputs against the feature spec's dtypes): with one bad
folder, nothing is written. A version is immutable: packing other content under an existing
version is refused.

  --out <dir>       The bundles folder (e.g. public/bundles).
  --no-promote      Pack only; make the version live later with ondevice promote.`,
  async run(argv, io) {
    const args = parseCommandArgs(packCommand, argv, { out: { type: 'string', short: 'o' }, 'no-promote': { type: 'boolean' } }, io, {
      min: 1,
      max: Number.POSITIVE_INFINITY,
      names: 'at least one model folder',
    });
    if (args === undefined) return 0;
    if (args.values.out === undefined) throw new UsageError('--out <bundles-dir> is required: where the bundles go');
    const out = args.values.out;
    for (const folder of args.positionals) {
      if (!(await isDirectory(folder)))
        throw new BundleError('FETCH_FAILED', `${folder} is not a folder; give the model folders to pack (e.g. models)`, { url: folder });
    }
    const folders = (await Promise.all(args.positionals.map(findBuildFolders))).flat();
    if (folders.length === 0)
      throw new BundleError('FETCH_FAILED', `no ${SOURCE_FILES.modelCard} at or below ${args.positionals.join(', ')}`, {});
    // Every folder is checked before any is written: one bad folder leaves the bundles folder as it was.
    for (const result of await packAll(folders, { out, promote: args.values['no-promote'] !== true })) {
      const where = shown(result.manifestPath);
      io.stdout.write(
        `${result.written ? 'packed' : 'already packed'} ${result.manifest.name} ${result.manifest.version} (${result.manifest.runtime}) -> ${where}\n` +
          `  content ${result.manifest.contentHash.slice(0, 16)}…, manifest sha256 ${result.manifestSha256.slice(0, 16)}…` +
          (result.channelPath ? `, live in ${shown(result.channelPath)}\n` : '\n') +
          (result.signatureNote === undefined ? '' : `  ${result.signatureNote}\n`) +
          fileSizes(result.manifest),
      );
      const warning = setShareWarning(result.manifest);
      if (warning !== undefined) io.stderr.write(warning);
    }
    return 0;
  },
};

/** The test sets' part of a bundle past which `pack` warns: every visitor downloads them. */
export const SET_SHARE_WARNING = 0.5;

const SET_ROLES: readonly string[] = ['e2eSet', 'confidenceSet'];

function setShare(manifest: Manifest): { sets: number; total: number } {
  const files = Object.entries(manifest.files).filter((entry): entry is [string, BundleFile] => entry[1] !== undefined);
  const total = files.reduce((sum, [, file]) => sum + file.size, 0);
  const sets = files.filter(([role]) => SET_ROLES.includes(role)).reduce((sum, [, file]) => sum + file.size, 0);
  return { sets, total };
}

/** Each file's size, and the test sets' share of the whole. */
function fileSizes(manifest: Manifest): string {
  const { sets, total } = setShare(manifest);
  const lines = Object.values(manifest.files)
    .filter((file): file is BundleFile => file !== undefined)
    .map((file) => `    ${file.path} ${file.size.toLocaleString('en-US')} B`);
  return `  files, ${total.toLocaleString('en-US')} B in all (test sets ${percent(sets, total)}):\n${lines.join('\n')}\n`;
}

/** A warning when the test sets are most of the bundle: they reach every browser that loads it, records and labels included. */
function setShareWarning(manifest: Manifest): string | undefined {
  const { sets, total } = setShare(manifest);
  if (total === 0 || sets / total <= SET_SHARE_WARNING) return undefined;
  return (
    `warning: ${manifest.name} ${manifest.version}: its test sets are ${percent(sets, total)} of the bundle, and every browser that loads it ` +
    `downloads them (the rows, and the confidence set's labels); keep them as small as the gate needs\n`
  );
}

const percent = (part: number, whole: number): string => `${whole === 0 ? 0 : ((100 * part) / whole).toFixed(1)}%`;

import type { BundleBytes, GateSpec, Manifest, RequiredRole } from '../bundle/index.js';
import { isVariantName, parseJsonBytes, variantRole } from '../bundle/index.js';
import { runtimeFilesOf } from '../bundle/runtime-files.js';
import { InputError, describeUnknown } from '../errors/index.js';
import { compileFeatureSpec, parseFeatureSpec, type FeatureTransform } from '../features/index.js';
import {
  assertGatePassed,
  parseConfidenceSet,
  parseEndToEndSet,
  readSetFile,
  runGate,
  type ConfidenceSet,
  type EndToEndSet,
  type GateReport,
} from '../gate/index.js';
import { parseReference, type Reference } from '../monitor/index.js';
import {
  MAX_SHARDS,
  createRuntime,
  defaultShards,
  plannedBackends,
  type Runtime,
  type RuntimeFiles,
  type RuntimeOptions,
} from '../runtimes/index.js';
import { createScorer, type ColumnShards, type Scorer, type ShardInit, type StartShard } from '../scoring/index.js';
import { DeferredShards } from './deferred-shards.js';

export interface GatedModel {
  readonly scorer: Scorer;
  readonly gate: GateReport;
  /** The held-out set: the background for explanations. */
  readonly confidence: ConfidenceSet;
  /** The training distribution, when the bundle ships one: drift is measured against it. */
  readonly reference?: Reference;
  /** The model variant serving (`Manifest.variants`), or undefined for the main model. */
  readonly variant?: string;
  /** Variants tried or considered before the one serving, and why each was passed over. */
  readonly variantsPassedOver: readonly VariantPassedOver[];
  readonly timings: { readonly runtimeMs: number; readonly gateMs: number };
}

export interface VariantPassedOver {
  readonly variant: string;
  readonly reason: string;
}

/**
 * A verified version made ready to serve: feature spec compiled, runtime started, gate passed.
 * A variant built for the backend about to be tried first is tried before the main model, against
 * its own gate; one that does not load or does not pass is passed over (and said why), and the main
 * model serves. A `variant` option that is not `auto`, `none` or a variant name is refused
 * (`InputError` `INVALID_OPTION`).
 * Throws `GateError` (after releasing the runtime) when the main model must not serve.
 * The same code runs in the browser's worker and in the Node CLI, so both reach the same verdict.
 */
export async function prepareModel(
  manifest: Manifest,
  files: BundleBytes,
  runtimeOptions: RuntimeOptions = {},
  startShard?: StartShard,
  onPhase?: (phase: 'runtime' | 'gate') => void,
): Promise<GatedModel> {
  const { wanted, options, workers } = checkedOptions(runtimeOptions);
  const context: GateContext = {
    manifest,
    files,
    ...parsedFiles(manifest, files),
    workers,
    ...(startShard === undefined ? {} : { startShard }),
    ...(onPhase === undefined ? {} : { onPhase }),
  };
  const mainFiles: RuntimeFiles = runtimeFilesOf(manifest, files);
  const passedOver: VariantPassedOver[] = [];
  const variants = manifest.variants ?? [];
  if (wanted !== 'auto' && wanted !== 'none' && !variants.some((v) => v.name === wanted)) {
    passedOver.push({
      variant: wanted,
      reason: `the bundle has no variant "${wanted}" (it has ${variants.map((v) => v.name).join(', ') || 'none'})`,
    });
  }
  const considered = wanted === 'none' ? [] : variants.filter((v) => wanted === 'auto' || v.name === wanted);
  const planned = considered.length === 0 ? [] : await plannedBackends(manifest.runtime, mainFiles, options);
  for (const variant of considered) {
    // Only for the backend this load tries first: an int8 build for WASM must not displace WebGPU.
    const backends = planned.filter((b) => variant.backends.includes(b));
    const model = files[variantRole(variant.name)];
    if (planned[0] === undefined || !variant.backends.includes(planned[0]) || model === undefined) {
      passedOver.push({
        variant: variant.name,
        reason: `built for ${variant.backends.join(', ')}; this load tries ${planned.join(', then ') || 'no backend'}`,
      });
      continue;
    }
    try {
      return await gated(context, { model }, { ...options, backends }, variant.gate, variant.name, passedOver);
    } catch (error) {
      passedOver.push({ variant: variant.name, reason: describeUnknown(error) });
    }
  }
  return gated(context, mainFiles, options, manifest.gate, undefined, passedOver);
}

/** A version's parsed files and what its models are started and gated with. */
interface GateContext {
  readonly manifest: Manifest;
  readonly files: BundleBytes;
  readonly transform: FeatureTransform;
  readonly e2e: EndToEndSet;
  readonly confidence: ConfidenceSet;
  readonly reference?: Reference;
  readonly workers: number;
  readonly startShard?: StartShard;
  readonly onPhase?: (phase: 'runtime' | 'gate') => void;
}

/** The feature spec compiled, the sets and the reference parsed (each failure names its file). */
function parsedFiles(manifest: Manifest, files: BundleBytes): Pick<GateContext, 'transform' | 'e2e' | 'confidence' | 'reference'> {
  const name = (role: RequiredRole): string => manifest.files[role].path;
  const transform = compileFeatureSpec(parseFeatureSpec(parseJsonBytes(files.featureSpec, name('featureSpec'))));
  const e2e = parseEndToEndSet(readSetFile(files.e2eSet, name('e2eSet'), parseJsonBytes));
  const confidence = parseConfidenceSet(readSetFile(files.confidenceSet, name('confidenceSet'), parseJsonBytes));
  if (files.reference === undefined) return { transform, e2e, confidence };
  return {
    transform,
    e2e,
    confidence,
    reference: parseReference(parseJsonBytes(files.reference, manifest.files.reference!.path), transform.width),
  };
}

/** The app's runtime options, checked (they come unchecked): the variant wanted and the shard workers. */
function checkedOptions(runtimeOptions: RuntimeOptions): { wanted: string; options: Omit<RuntimeOptions, 'variant'>; workers: number } {
  const { variant: wanted = 'auto', ...options } = runtimeOptions;
  if (typeof wanted !== 'string' || !(wanted === 'auto' || wanted === 'none' || isVariantName(wanted))) {
    throw new InputError(
      'INVALID_OPTION',
      `variant must be 'auto', 'none' or a variant's name, got ${typeof wanted === 'string' ? `"${wanted.slice(0, 40)}"` : typeof wanted}`,
      { field: 'variant' },
    );
  }
  const { shards } = options;
  if (shards !== undefined && !(Number.isInteger(shards) && shards >= 0 && shards <= MAX_SHARDS)) {
    throw new InputError(
      'INVALID_OPTION',
      `shards must be a whole number from 0 to ${MAX_SHARDS}, got ${typeof shards === 'number' ? shards : typeof shards}`,
      { field: 'shards' },
    );
  }
  return { wanted, options, workers: shards ?? defaultShards() };
}

/** One model file started and gated; its runtime released when it does not pass. */
async function gated(
  context: GateContext,
  runtimeFiles: RuntimeFiles,
  backends: RuntimeOptions,
  gateSpec: GateSpec,
  variant: string | undefined,
  passedOver: readonly VariantPassedOver[],
): Promise<GatedModel> {
  const { manifest, files, transform, e2e, confidence, reference } = context;
  const started = performance.now();
  context.onPhase?.('runtime');
  const created = await createRuntime(manifest.runtime, runtimeFiles, backends);
  const init = { model: runtimeFiles.model, featureSpec: files.featureSpec, task: manifest.task };
  const { runtime, pool } = withShardsWhereUseful(created, init, context.workers, context.startShard);
  const runtimeReady = performance.now();
  try {
    const scorer = createScorer(transform, runtime, manifest.task, pool);
    context.onPhase?.('gate');
    const gate = await runGate(scorer, gateSpec, e2e, confidence);
    assertGatePassed(gate, variant === undefined ? manifest.version : `${manifest.version} (variant ${variant})`);
    return {
      scorer,
      gate,
      confidence,
      ...(reference === undefined ? {} : { reference }),
      ...(variant === undefined ? {} : { variant }),
      variantsPassedOver: passedOver,
      timings: { runtimeMs: runtimeReady - started, gateMs: performance.now() - runtimeReady },
    };
  } catch (error) {
    await runtime.dispose();
    throw error;
  }
}

/**
 * The runtime with shard workers for its large batches (`RuntimeOptions.shards`), where they can
 * help: onnxruntime-web on WASM, shards to start (`startShard`: the browser's worker), and at least
 * two of them. The pool's code is imported when the first large batch comes, not before.
 */
function withShardsWhereUseful(
  runtime: Runtime,
  init: ShardInit,
  workers: number,
  startShard: StartShard | undefined,
): { runtime: Runtime; pool?: ColumnShards } {
  if (startShard === undefined || workers < 2 || runtime.name !== 'onnxruntime-web' || runtime.backend !== 'wasm') return { runtime };
  const pool = new DeferredShards(workers, init, startShard);
  return { runtime: pool.wrap(runtime), pool };
}

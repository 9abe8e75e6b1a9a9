import type { BundleBytes, Manifest, RequiredRole } from '../bundle/index.js';
import { parseJsonBytes } from '../bundle/index.js';
import { compileFeatureSpec, parseFeatureSpec } from '../features/index.js';
import { assertGatePassed, parseConfidenceSet, parseEndToEndSet, runGate, type ConfidenceSet, type GateReport } from '../gate/index.js';
import { parseReference, type Reference } from '../monitor/index.js';
import { createRuntime, type RuntimeOptions } from '../runtimes/index.js';
import { createScorer, type Scorer } from '../scoring/index.js';

export interface GatedModel {
  readonly scorer: Scorer;
  readonly gate: GateReport;
  /** The held-out set: the background for explanations. */
  readonly confidence: ConfidenceSet;
  /** The training distribution, when the bundle ships one: drift is measured against it. */
  readonly reference?: Reference;
  readonly timings: { readonly runtimeMs: number; readonly gateMs: number };
}

/**
 * A verified version made ready to serve: feature spec compiled, runtime started, gate passed.
 * Throws `GateError` (after releasing the runtime) when the version must not serve.
 * The same code runs in the browser's worker and in the Node CLI, so both reach the same verdict.
 */
export async function prepareModel(manifest: Manifest, files: BundleBytes, runtimeOptions: RuntimeOptions = {}): Promise<GatedModel> {
  const name = (role: RequiredRole): string => manifest.files[role].path;
  const transform = compileFeatureSpec(parseFeatureSpec(parseJsonBytes(files.featureSpec, name('featureSpec'))));
  const e2e = parseEndToEndSet(parseJsonBytes(files.e2eSet, name('e2eSet')));
  const confidence = parseConfidenceSet(parseJsonBytes(files.confidenceSet, name('confidenceSet')));
  const reference = files.reference === undefined ? undefined : parseReference(parseJsonBytes(files.reference, manifest.files.reference!.path), transform.width);

  const started = performance.now();
  const runtime = await createRuntime(manifest.runtime, files.weights === undefined ? { model: files.model } : { model: files.model, weights: files.weights }, runtimeOptions);
  const runtimeReady = performance.now();
  try {
    const scorer = createScorer(transform, runtime, manifest.task);
    const gate = await runGate(scorer, manifest.gate, e2e, confidence);
    assertGatePassed(gate, manifest.version);
    return { scorer, gate, confidence, ...(reference === undefined ? {} : { reference }), timings: { runtimeMs: runtimeReady - started, gateMs: performance.now() - runtimeReady } };
  } catch (error) {
    await runtime.dispose();
    throw error;
  }
}

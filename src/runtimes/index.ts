import { ScoringError, describeUnknown } from '../errors/index.js';
import type { Backend, BackendFailure, Runtime, RuntimeFiles, RuntimeName, RuntimeOptions, RuntimeProvider } from './runtime.js';

export type { Backend, BackendFailure, Runtime, RuntimeFiles, RuntimeName, RuntimeOptions, InputTensor, OutputTensor, ShardStatus } from './runtime.js';

/** The most shard workers an app may ask for (`RuntimeOptions.shards`). */
export const MAX_SHARDS = 16;

/** The default number of shard workers: the device's cores, up to 4; none on a single core. */
export function defaultShards(): number {
  const cores = typeof navigator !== 'undefined' ? navigator.hardwareConcurrency || 1 : 1;
  return cores < 2 ? 0 : Math.min(4, cores);
}

/**
 * The runtime a bundle names, imported on demand (an app whose bundles are all ONNX never downloads
 * TensorFlow.js, and the other way round), started on the first backend of `options.backends` that
 * loads the model. Each backend tried before it is in `fallbacks`, with why it failed; when none
 * loads, one `ScoringError('RUNTIME_LOAD_FAILED')` names every backend and its reason.
 */
export async function createRuntime(name: RuntimeName, files: RuntimeFiles, options: RuntimeOptions = {}): Promise<Runtime> {
  const provider = await loadProvider(name);
  const backends: readonly Backend[] = options.backends === undefined || options.backends === 'auto' ? await provider.auto(files) : options.backends;
  // The list may come from an app unchecked: a bare string would otherwise be tried letter by letter.
  if (!Array.isArray(backends as unknown)) throw new ScoringError('RUNTIME_LOAD_FAILED', `backends must be 'auto' or a list of backend names`, { runtime: name });
  if (backends.length === 0) throw new ScoringError('RUNTIME_LOAD_FAILED', `no backends to try for ${name}`, { runtime: name, tried: [] });

  const failed: BackendFailure[] = [];
  for (const backend of backends) {
    // Own properties only: the list may come from an app unchecked (`'__proto__'`, `'toString'`).
    const load = Object.hasOwn(provider.backends, backend) ? provider.backends[backend] : undefined;
    if (load === undefined) {
      failed.push({ backend: String(backend), reason: `${name} has no ${String(backend)} backend (it has ${Object.keys(provider.backends).join(', ')})` });
      continue;
    }
    try {
      const runtime = await load(files, options);
      return { ...runtime, fallbacks: failed };
    } catch (error) {
      failed.push({ backend, reason: describeUnknown(error) });
    }
  }
  throw new ScoringError(
    'RUNTIME_LOAD_FAILED',
    `${name} could not load the model on any backend: ${failed.map((f) => `${f.backend} (${f.reason})`).join('; ')}`,
    { runtime: name, tried: failed.map((f) => f.backend), reasons: failed.map((f) => f.reason) },
  );
}

/** The backends `createRuntime` would try for these files and options, in order. */
export async function plannedBackends(name: RuntimeName, files: RuntimeFiles, options: RuntimeOptions = {}): Promise<readonly Backend[]> {
  if (options.backends !== undefined && options.backends !== 'auto') return Array.isArray(options.backends as unknown) ? options.backends : [];
  return (await loadProvider(name)).auto(files);
}

async function loadProvider(name: RuntimeName): Promise<RuntimeProvider> {
  try {
    return name === 'tensorflow-js' ? (await import('./tfjs.js')).tfjsProvider : (await import('./onnx.js')).onnxProvider;
  } catch (error) {
    throw new ScoringError('RUNTIME_LOAD_FAILED', `could not load ${name}: ${describeUnknown(error)}`, { runtime: name });
  }
}

import { ScoringError, describeUnknown } from '../errors/index.js';
import { nestedWorkersWithheld } from '../util/environment.js';
import {
  RUNTIME_PACKAGES,
  type Backend,
  type BackendFailure,
  type Runtime,
  type RuntimeFiles,
  type RuntimeName,
  type RuntimeOptions,
  type RuntimeProvider,
} from './runtime.js';

export { RUNTIME_PACKAGES } from './runtime.js';

export { runtimeEnvironment } from './environment.js';
export type { RuntimeEnvironment } from './environment.js';
export type {
  Backend,
  BackendFailure,
  Runtime,
  RuntimeFiles,
  RuntimeName,
  RuntimeOptions,
  InputTensor,
  TensorData,
  OutputTensor,
  ShardStatus,
} from './runtime.js';

/** The most shard workers an app may ask for (`RuntimeOptions.shards`). */
export const MAX_SHARDS = 16;

/** The default number of shard workers: the device's cores, up to 4; none on a single core, nor in Firefox (`nestedWorkersWithheld`). */
export function defaultShards(): number {
  const cores = typeof navigator !== 'undefined' ? navigator.hardwareConcurrency || 1 : 1;
  return cores < 2 || nestedWorkersWithheld() !== undefined ? 0 : Math.min(4, cores);
}

/**
 * The runtime a bundle names, imported on demand (an app whose bundles are all ONNX never downloads
 * TensorFlow.js, and the other way round), started on the first backend of `options.backends` that
 * loads the model. Each backend tried before it is in `fallbacks`, with why it failed; when none
 * loads, one `ScoringError('RUNTIME_LOAD_FAILED')` names every backend and its reason.
 */
export async function createRuntime(name: RuntimeName, files: RuntimeFiles, options: RuntimeOptions = {}): Promise<Runtime> {
  return createRuntimeWith(await loadProvider(name), files, options);
}

/** `createRuntime` with a provider already in hand (a shard worker imports onnxruntime-web's alone). */
export async function createRuntimeWith(provider: RuntimeProvider, files: RuntimeFiles, options: RuntimeOptions = {}): Promise<Runtime> {
  const name = provider.name;
  if (provider.missing !== undefined) throw missingRuntime(name, provider.missing.packages, provider.missing.reason);
  const backends: readonly Backend[] =
    options.backends === undefined || options.backends === 'auto' ? await provider.auto(files) : options.backends;
  // The list may come from an app unchecked: a bare string would otherwise be tried letter by letter.
  if (!Array.isArray(backends as unknown))
    throw new ScoringError('RUNTIME_LOAD_FAILED', `backends must be 'auto' or a list of backend names`, { runtime: name });
  if (backends.length === 0) throw new ScoringError('RUNTIME_LOAD_FAILED', `no backends to try for ${name}`, { runtime: name, tried: [] });

  const failed: BackendFailure[] = [];
  for (const backend of backends) {
    // Own properties only: the list may come from an app unchecked (`'__proto__'`, `'toString'`).
    const load = Object.hasOwn(provider.backends, backend) ? provider.backends[backend] : undefined;
    if (load === undefined) {
      failed.push({
        backend: String(backend),
        reason: `${name} has no ${String(backend)} backend (it has ${Object.keys(provider.backends).join(', ')})`,
      });
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

/**
 * Starts loading the runtime a version names as soon as its manifest is read, before the model's
 * bytes are in: its code and, for onnxruntime-web on WASM, its WebAssembly module (the largest
 * download of a cold start), so that creating the session waits for neither. Never rejects: what
 * fails here fails again, named, when the runtime is created.
 */
export function warmRuntime(name: RuntimeName, modelBytes: number, options: RuntimeOptions = {}): void {
  void loadProvider(name)
    .then((provider) => provider.warm?.(modelBytes, options))
    .catch(() => undefined);
}

/** The backends `createRuntime` would try for these files and options, in order. */
export async function plannedBackends(name: RuntimeName, files: RuntimeFiles, options: RuntimeOptions = {}): Promise<readonly Backend[]> {
  if (options.backends !== undefined && options.backends !== 'auto')
    return Array.isArray(options.backends as unknown) ? options.backends : [];
  return (await loadProvider(name)).auto(files);
}

async function loadProvider(name: RuntimeName): Promise<RuntimeProvider> {
  try {
    return name === 'tensorflow-js' ? (await import('./tfjs.js')).tfjsProvider : (await import('./onnx.js')).onnxProvider;
  } catch (error) {
    const text = describeUnknown(error);
    // Node names the package it could not find; the app then lacks an optional peer dependency.
    const absent = RUNTIME_PACKAGES[name].filter((pkg) => text.includes(`'${pkg}'`) || text.includes(`"${pkg}"`));
    if (absent.length > 0) throw missingRuntime(name, RUNTIME_PACKAGES[name], text);
    throw new ScoringError('RUNTIME_LOAD_FAILED', `could not load ${name}: ${text}`, { runtime: name });
  }
}

function missingRuntime(name: RuntimeName, packages: readonly string[], reason: string): ScoringError {
  return new ScoringError(
    'RUNTIME_MISSING',
    `this bundle runs on ${name}, which this app does not include (${reason}): npm install ${packages.join(' ')}`,
    {
      runtime: name,
      packages,
    },
  );
}

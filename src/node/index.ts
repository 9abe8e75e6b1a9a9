// `ondevice/node`: the model in this process, for Node (servers, scripts, the CLI, tests). The same
// service, verification, gate, feature code and runtimes as in the browser's worker; no worker.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sha256Hex, parseManifest, parseJsonBytes } from '../bundle/index.js';
import { inThreadLink } from '../client/in-thread-link.js';
import { openModel, type ClientOptions, type ServiceLink } from '../client/model.js';
import { BundleError } from '../errors/index.js';
import type { LoadProgress, OndeviceModel, WorkerLoadOptions } from '../worker/protocol.js';
import { ModelService } from '../worker/service.js';
import { fileOrNetworkFetch, nodeIo } from './io.js';
import { startThreadLink } from './worker-link.js';

export { fileOrNetworkFetch } from './io.js';

export interface NodeLoadOptions extends Omit<WorkerLoadOptions, 'persisted' | 'pinned'>, ClientOptions {
  /** Called as a bundle is read or downloaded. */
  readonly onProgress?: (progress: LoadProgress) => void;
  /**
   * Serve this packed version instead of the channel's live one (a folder source only): its
   * manifest is then verified against the bytes read now, not pinned by the channel.
   * @defaultValue the channel's live version
   */
  readonly version?: string;
  /**
   * Where the model runs: `same`, this thread; `worker`, a worker thread of its own (as in a
   * browser), so this thread can prepare the next batch while the last one is scored.
   * @defaultValue `'same'`
   */
  readonly thread?: 'same' | 'worker';
}

/**
 * Loads a bundle in this process: `source` is a bundle folder (`<bundles>/<name>/`), its
 * `channel.json`, or an `http(s):`/`file:` URL of a channel. The channel, manifest and every file
 * are verified as in the browser, the gate runs, and the model answers `predict`, `predictBatch`,
 * `predictColumns` and the rest exactly as `load()` from `ondevice` does in a browser. Versions are
 * kept in memory (nothing is written to disk). Rejects with the same typed errors.
 *
 * @throws {BundleError} `FETCH_FAILED` (`source` does not exist, or a file cannot be read),
 * `INVALID_MANIFEST` (`version` is not like 1.2.0, or its manifest is malformed), and as in a
 * browser: `INVALID_CHANNEL`, `INVALID_FEATURE_SPEC`, `INVALID_SET`, `INVALID_REFERENCE`,
 * `INVALID_JSON`, `INTEGRITY_MISMATCH`, `SIZE_MISMATCH`, `TOO_LARGE`, `TIMEOUT`,
 * `SIGNATURE_INVALID`, `ROLLBACK_REFUSED`.
 * @throws {GateError} `GATE_E2E_MISMATCH`, `GATE_METRIC_OUT_OF_RANGE`: the version failed its gate.
 * @throws {ScoringError} `RUNTIME_MISSING` (the runtime's package is not installed),
 * `RUNTIME_LOAD_FAILED`; with `thread: 'worker'`, `WORKER_LOAD_FAILED` (the thread did not start).
 * @throws {InputError} `INVALID_OPTION`: an option out of its range (e.g. `variant`).
 */
export async function load(source: string | URL, options: NodeLoadOptions = {}): Promise<OndeviceModel> {
  const { onProgress, batching, cache, version, thread = 'same', ...serviceOptions } = options;
  const channelUrl = await channelUrlOf(source);
  const pinned = version === undefined ? undefined : await pinnedVersion(channelUrl, version);
  const link: ServiceLink = thread === 'worker' ? await startThreadLink() : inThreadLink(new ModelService(nodeIo()));
  return openModel(link, channelUrl, pinned === undefined ? serviceOptions : { ...serviceOptions, pinned }, onProgress, {
    ...(batching === undefined ? {} : { batching }),
    ...(cache === undefined ? {} : { cache }),
  });
}

/** A channel URL for a folder, a file path or a URL. */
export async function channelUrlOf(source: string | URL): Promise<string> {
  if (source instanceof URL) return source.href;
  if (/^(https?|file):/i.test(source)) return new URL(source).href;
  const info = await stat(source).catch(() => undefined);
  if (info === undefined)
    throw new BundleError(
      'FETCH_FAILED',
      `${source} does not exist; give a bundle folder (<bundles>/<name>/), its channel.json, or a URL`,
      { url: source },
    );
  return pathToFileURL(info.isDirectory() ? join(source, 'channel.json') : source).href;
}

/** `<bundle>/<version>/manifest.json`, pinned by the SHA-256 of its bytes as they are now. */
async function pinnedVersion(channelUrl: string, version: string): Promise<NonNullable<WorkerLoadOptions['pinned']>> {
  if (!/^\d+\.\d+\.\d+$/.test(version))
    throw new BundleError('INVALID_MANIFEST', `"${version.slice(0, 40)}" is not a version like 1.2.0`, { version: version.slice(0, 40) });
  const manifestUrl = new URL(`${version}/manifest.json`, channelUrl).href;
  const response = await fileOrNetworkFetch(manifestUrl);
  if (!response.ok)
    throw new BundleError('FETCH_FAILED', `could not read ${manifestUrl}: HTTP ${response.status}`, {
      url: manifestUrl,
      status: response.status,
    });
  const bytes = new Uint8Array(await response.arrayBuffer());
  const manifest = parseManifest(parseJsonBytes(bytes, manifestUrl));
  return { name: manifest.name, version: manifest.version, manifestUrl, sha256: await sha256Hex(bytes) };
}

export { OndeviceError, InputError, BundleError, GateError, ScoringError, StateError } from '../errors/index.js';
export type { ErrorDetails, InputErrorCode, BundleErrorCode, GateErrorCode, ScoringErrorCode, StateErrorCode } from '../errors/index.js';
export type {
  OndeviceModel,
  ModelSession,
  ModelInfo,
  FeatureMatrix,
  ColumnarInput,
  DictionaryColumn,
  DeploymentEvent,
  UpdateResult,
  LoadProgress,
  RowResult,
} from '../worker/protocol.js';
export type {
  Prediction,
  ClassificationPrediction,
  RegressionPrediction,
  OutputsPrediction,
  EmbeddingPrediction,
  ColumnarPrediction,
} from '../scoring/index.js';

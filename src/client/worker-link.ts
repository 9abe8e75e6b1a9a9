import * as Comlink from 'comlink';
import { ScoringError } from '../errors/index.js';
import { PROTOCOL_VERSION, type WorkerApi } from '../worker/protocol.js';
import type { ServiceEndpoint, ServiceLink } from './model.js';

/** A worker the app hands in, or a function that makes one (e.g. a bundler's `?worker` import). */
export type WorkerSource = Worker | (() => Worker);

/** How long `load()` waits for the worker's script to load and answer, by default (30 s). */
export const WORKER_START_TIMEOUT_MS = 30_000;

/** Pause before a worker whose code did not load is started once more. */
const RETRY_DELAY_MS = 200;

/**
 * Starts the service's worker and waits, at most `startTimeoutMs`, until it answers. A script that
 * cannot load (a 404, a cut or blocked request, offline without a service worker, a
 * Content-Security-Policy without `'self'` for workers) rejects with `ScoringError`
 * `WORKER_LOAD_FAILED` naming its URL, instead of leaving every call waiting. A worker whose code
 * failed to load is started once more (WebKit can fail a module load when two workers start at
 * once from a service worker's cache); one that did not answer in time is not.
 */
export async function startWorkerLink(source: WorkerSource | undefined, startTimeoutMs: number): Promise<ServiceLink> {
  try {
    return await startOnce(source, startTimeoutMs);
  } catch (error) {
    const reloadable = !(source instanceof Worker) && error instanceof ScoringError && error.details.failure === 'load';
    if (!reloadable) throw error;
    await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
    return startOnce(source, startTimeoutMs);
  }
}

async function startOnce(source: WorkerSource | undefined, startTimeoutMs: number): Promise<ServiceLink> {
  const { worker, url } =
    source === undefined ? createDefaultWorker() : { worker: typeof source === 'function' ? source() : source, url: undefined };
  const failed = (why: string, failure: 'load' | 'timeout' | 'protocol'): ScoringError =>
    new ScoringError('WORKER_LOAD_FAILED', `the ondevice worker ${url === undefined ? '' : `(${url}) `}${why}`, {
      worker: 'ondevice',
      failure,
      ...(url === undefined ? {} : { url }),
    });
  let started = false;
  const lost = new Promise<never>((_, reject) => {
    // Before the worker answers, an error event means its script did not load or threw on start.
    worker.addEventListener('error', (event) => {
      if (!started) reject(failed(`did not load: ${describeEvent(event)}`, 'load'));
    });
  });
  lost.catch(() => undefined);
  const endpoint = Comlink.wrap<WorkerApi>(worker) as unknown as ServiceEndpoint & { [Comlink.releaseProxy](): void };
  const close = (): void => {
    endpoint[Comlink.releaseProxy]();
    worker.terminate();
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(failed(`did not answer within ${startTimeoutMs} ms`, 'timeout')), startTimeoutMs)),
  );
  try {
    const hello = await Promise.race([endpoint.hello(), lost, timedOut]);
    if (hello.protocol !== PROTOCOL_VERSION)
      throw failed(
        `speaks protocol ${hello.protocol}, this page ${PROTOCOL_VERSION}: its script is from another version of ondevice (a stale cache?)`,
        'protocol',
      );
    started = true;
  } catch (error) {
    close();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return { endpoint, lost, close };
}

/**
 * The library's own worker. Written as `new Worker(new URL('../worker/entry.js', import.meta.url))`
 * so that bundlers (Vite, webpack, Parcel) find and build it. A worker does not tell its URL, and
 * an error event from a failed load carries none: the URL the constructor is given is recorded.
 */
function createDefaultWorker(): { worker: Worker; url: string | undefined } {
  return recordingUrl(() => new Worker(new URL('../worker/entry.js', import.meta.url), { type: 'module', name: 'ondevice' }));
}

/** Runs `create` with `Worker` standing in for a subclass that records the URL it is given. */
function recordingUrl(create: () => Worker): { worker: Worker; url: string | undefined } {
  const Original = globalThis.Worker;
  let url: string | undefined;
  const Recording = class extends Original {
    constructor(scriptUrl: string | URL, options?: WorkerOptions) {
      url = String(scriptUrl);
      super(scriptUrl, options);
    }
  };
  let swapped = false;
  try {
    globalThis.Worker = Recording;
    swapped = true;
  } catch {
    // A frozen global (SES lockdown): the URL stays unknown.
  }
  try {
    return { worker: create(), url };
  } finally {
    if (swapped) globalThis.Worker = Original;
  }
}

function describeEvent(event: Event): string {
  if (typeof ErrorEvent !== 'undefined' && event instanceof ErrorEvent && event.message) return event.message;
  return 'a network error, an HTTP error, or a Content-Security-Policy that does not allow it (worker-src / script-src)';
}

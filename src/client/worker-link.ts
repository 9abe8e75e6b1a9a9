import * as Comlink from 'comlink';
import { ScoringError } from '../errors/index.js';
import { PROTOCOL_VERSION, type WorkerApi } from '../worker/protocol.js';
import type { ServiceEndpoint, ServiceLink } from './model.js';

/** A worker the app hands in, or a function that makes one (e.g. a bundler's `?worker` import). */
export type WorkerSource = Worker | (() => Worker);

/** How long `load()` waits for the worker's script to load and answer, by default (30 s). */
export const WORKER_START_TIMEOUT_MS = 30_000;

/**
 * Starts the service's worker and waits, at most `startTimeoutMs`, until it answers. A script that
 * cannot load (a 404, a cut or blocked request, offline without a service worker, a
 * Content-Security-Policy without `'self'` for workers) rejects with `ScoringError`
 * `WORKER_LOAD_FAILED` naming its URL, instead of leaving every call waiting.
 */
export async function startWorkerLink(source: WorkerSource | undefined, startTimeoutMs: number): Promise<ServiceLink> {
  const { worker, url } = source === undefined ? createDefaultWorker() : { worker: typeof source === 'function' ? source() : source, url: undefined };
  const failed = (why: string): ScoringError =>
    new ScoringError('WORKER_LOAD_FAILED', `the ondevice worker ${url === undefined ? '' : `(${url}) `}${why}`, { worker: 'ondevice', ...(url === undefined ? {} : { url }) });
  let started = false;
  const lost = new Promise<never>((_, reject) => {
    // Before the worker answers, an error event means its script did not load or threw on start.
    worker.addEventListener('error', (event) => {
      if (!started) reject(failed(`did not load: ${describeEvent(event)}`));
    });
  });
  lost.catch(() => undefined);
  const endpoint = Comlink.wrap<WorkerApi>(worker) as unknown as ServiceEndpoint & { [Comlink.releaseProxy](): void };
  const close = (): void => {
    endpoint[Comlink.releaseProxy]();
    worker.terminate();
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(failed(`did not answer within ${startTimeoutMs} ms`)), startTimeoutMs)));
  try {
    const hello = await Promise.race([endpoint.hello(), lost, timedOut]);
    if (hello.protocol !== PROTOCOL_VERSION) throw failed(`speaks protocol ${hello.protocol}, this page ${PROTOCOL_VERSION}: its script is from another version of ondevice (a stale cache?)`);
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

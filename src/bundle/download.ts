import { BundleError, describeUnknown } from '../errors/index.js';
import { sha256Hex } from './hash.js';

export interface DownloadProgress {
  /** Bytes received so far, over every file of the version. */
  readonly loadedBytes: number;
  /** Bytes the manifest announces for the whole version. */
  readonly totalBytes: number;
  /** The file being received. */
  readonly file: string;
}

export type ProgressListener = (progress: DownloadProgress) => void;

/** `fetch`, or what stands in for it: Node's loader reads `file:` URLs from disk through one. */
export type FetchLike = (url: string, init?: RequestInit) => Promise<Response>;

export const globalFetch: FetchLike = (url, init) => fetch(url, init);

/** How long a request may take: every wait on the network ends, with `BundleError` `TIMEOUT`. */
export interface NetworkLimits {
  /**
   * From sending a request to its response's headers, in milliseconds.
   * @defaultValue `30000` (`DEFAULT_NETWORK_LIMITS.firstByteMs`)
   */
  readonly firstByteMs: number;
  /**
   * Between two chunks of a body, in milliseconds: a server that stalls mid-file.
   * @defaultValue `30000` (`DEFAULT_NETWORK_LIMITS.idleMs`)
   */
  readonly idleMs: number;
  /**
   * One file, from the request to its last byte, in milliseconds.
   * @defaultValue `600000` (`DEFAULT_NETWORK_LIMITS.fileMs`)
   */
  readonly fileMs: number;
}

export const DEFAULT_NETWORK_LIMITS: NetworkLimits = { firstByteMs: 30_000, idleMs: 30_000, fileMs: 600_000 };

/** The most a metadata file may hold: read past it, it is refused (`TOO_LARGE`) before it is parsed. */
export interface MetadataCaps {
  /**
   * `channel.json` (fetched on every update check).
   * @defaultValue `65536` (`DEFAULT_METADATA_CAPS.channelBytes`)
   */
  readonly channelBytes: number;
  /**
   * A version's `manifest.json`.
   * @defaultValue `1048576` (`DEFAULT_METADATA_CAPS.manifestBytes`)
   */
  readonly manifestBytes: number;
}

export const DEFAULT_METADATA_CAPS: MetadataCaps = { channelBytes: 64 * 1024, manifestBytes: 1024 * 1024 };

/** A signature file (`.sig`): a key id and a signature, never more than this. */
export const MAX_SIGNATURE_BYTES = 16 * 1024;

/**
 * `fetcher` with every wait bounded by `limits`: the headers, each chunk of the body and the whole
 * file. A wait that runs out aborts the request and fails with `BundleError` `TIMEOUT` (the URL,
 * which wait, and its limit), from the fetch or from the body's reader. The caller's own signal
 * (a dispose) still aborts it.
 */
export function boundedFetcher(fetcher: FetchLike, limits: NetworkLimits = DEFAULT_NETWORK_LIMITS): FetchLike {
  return (url, init) => boundedFetch(fetcher, url, limits, init);
}

async function boundedFetch(fetcher: FetchLike, url: string, limits: NetworkLimits, init: RequestInit = {}): Promise<Response> {
  const watch = new RequestWatch(url, limits, init.signal ?? undefined);
  let response: Response;
  try {
    response = await fetcher(url, { ...init, signal: watch.signal });
  } catch (error) {
    watch.end();
    throw watch.timeout ?? error;
  }
  watch.headersArrived();
  const source = response.body;
  if (source === null) {
    watch.end();
    return response;
  }
  const reader = source.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      watch.waitForChunk();
      try {
        const { done, value } = await reader.read();
        if (done) {
          watch.end();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        watch.end();
        controller.error(watch.timeout ?? error);
      } finally {
        watch.chunkArrived();
      }
    },
    cancel(reason) {
      watch.end();
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

/** The timers of one request: the headers, then each chunk, and the whole; the first to run out aborts it. */
class RequestWatch {
  readonly #url: string;
  readonly #limits: NetworkLimits;
  readonly #controller = new AbortController();
  readonly #total: ReturnType<typeof setTimeout>;
  readonly #outer: AbortSignal | undefined;
  readonly #onOuterAbort = (): void => this.#controller.abort(this.#outer?.reason);
  #wait: ReturnType<typeof setTimeout> | undefined;
  /** Headers and chunks so far: a wait that ran out expires only if nothing came since it began. */
  #arrived = 0;
  timeout: BundleError | undefined;

  constructor(url: string, limits: NetworkLimits, outer: AbortSignal | undefined) {
    this.#url = url;
    this.#limits = limits;
    this.#outer = outer;
    if (outer?.aborted) this.#controller.abort(outer.reason);
    outer?.addEventListener('abort', this.#onOuterAbort, { once: true });
    this.#total = setTimeout(() => this.#expire('file', limits.fileMs), limits.fileMs);
    this.#wait = this.#arm('first-byte', limits.firstByteMs);
  }

  /**
   * A timer for a wait that ends when something arrives. When it runs out, what arrived meanwhile
   * is let in first (one more turn of the event loop): a thread busy past the limit (compiling
   * WebAssembly, say) is not a silent server.
   */
  #arm(wait: 'first-byte' | 'idle', ms: number): ReturnType<typeof setTimeout> {
    const arrived = this.#arrived;
    return setTimeout(() => {
      this.#wait = setTimeout(() => {
        if (this.#arrived === arrived) this.#expire(wait, ms);
      }, 0);
    }, ms);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  headersArrived(): void {
    this.#arrived++;
    clearTimeout(this.#wait);
  }

  waitForChunk(): void {
    this.#wait = this.#arm('idle', this.#limits.idleMs);
  }

  chunkArrived(): void {
    this.#arrived++;
    clearTimeout(this.#wait);
  }

  end(): void {
    clearTimeout(this.#wait);
    clearTimeout(this.#total);
    this.#outer?.removeEventListener('abort', this.#onOuterAbort);
  }

  #expire(wait: 'first-byte' | 'idle' | 'file', ms: number): void {
    const what = wait === 'first-byte' ? 'sent no response' : wait === 'idle' ? 'sent nothing more' : 'was not received whole';
    this.timeout = new BundleError('TIMEOUT', `${this.#url} ${what} within ${ms} ms`, { url: this.#url, wait, ms });
    this.end();
    this.#controller.abort(this.timeout);
  }
}

export async function fetchOk(fetcher: FetchLike, url: string, init?: RequestInit): Promise<Response> {
  let response: Response;
  try {
    response = await fetcher(url, init);
  } catch (error) {
    if (error instanceof BundleError) throw error;
    throw new BundleError('FETCH_FAILED', `could not fetch ${url}: ${describeUnknown(error)}`, { url });
  }
  if (!response.ok)
    throw new BundleError('FETCH_FAILED', `could not fetch ${url}: HTTP ${response.status}`, { url, status: response.status });
  return response;
}

/**
 * A small file read whole, refused once it passes `maxBytes` (before it is parsed, and before more
 * is read: an endless body costs no more than the cap). It ends at its announced length without
 * waiting for the connection to close; a body cut part-way is `FETCH_FAILED`.
 */
export async function readCapped(response: Response, url: string, maxBytes: number): Promise<Uint8Array> {
  const length = Number(response.headers.get('content-length') ?? Number.NaN);
  // Compressed, the body as read is longer than the length announced (that of the bytes on the wire),
  // which is then no end to stop at; it is still a floor, so past the cap it refuses at once.
  const encoded = (response.headers.get('content-encoding') ?? 'identity') !== 'identity';
  if (length > maxBytes) throw tooLarge(url, maxBytes, length);
  const announced = encoded ? Number.NaN : length;
  const reader = response.body?.getReader();
  if (reader === undefined) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let received = 0;
  try {
    while (!(received >= announced)) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.byteLength;
      if (received > maxBytes) throw tooLarge(url, maxBytes, received);
      chunks.push(value);
    }
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    if (error instanceof BundleError) throw error;
    throw new BundleError('FETCH_FAILED', `${url} was cut after ${received} bytes: ${describeUnknown(error)}`, { url, received });
  }
  if (received >= announced) await reader.cancel().catch(() => undefined);
  return joined(chunks, received);
}

function tooLarge(url: string, maxBytes: number, bytes: number): BundleError {
  return new BundleError('TOO_LARGE', `${url} is larger than the ${maxBytes} bytes allowed for it (${bytes} bytes or more)`, {
    url,
    limit: maxBytes,
    bytes,
  });
}

function joined(chunks: readonly Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return bytes;
}

/** A JSON file of at most `maxBytes`, read and parsed. */
export async function fetchJson(
  fetcher: FetchLike,
  url: string,
  maxBytes: number,
  init?: RequestInit,
): Promise<{ bytes: Uint8Array; json: unknown }> {
  const bytes = await readCapped(await fetchOk(fetcher, url, init), url, maxBytes);
  return { bytes, json: parseJsonBytes(bytes, url) };
}

export function parseJsonBytes(bytes: Uint8Array, url: string): unknown {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch (error) {
    throw new BundleError('INVALID_JSON', `${url} is not valid JSON: ${describeUnknown(error)}`, { url });
  }
  checkDepth(json, url);
  return json;
}

/** Deepest nesting a bundle's JSON may have: deeper is refused before anything walks it recursively. */
export const MAX_JSON_DEPTH = 64;

/** Refuses JSON nested deeper than MAX_JSON_DEPTH, walking it without recursion. */
function checkDepth(json: unknown, url: string): void {
  const stack: { value: unknown; depth: number }[] = [{ value: json, depth: 0 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= MAX_JSON_DEPTH)
      throw new BundleError('INVALID_JSON', `${url} is nested more than ${MAX_JSON_DEPTH} levels deep`, { url, limit: MAX_JSON_DEPTH });
    for (const item of Array.isArray(value) ? value : Object.values(value))
      if (typeof item === 'object' && item !== null) stack.push({ value: item, depth: depth + 1 });
  }
}

/** How many times a cut download is resumed (HTTP range request) before it fails. */
const RESUME_ATTEMPTS = 3;

/**
 * Streams one file into a buffer of the announced size, reporting progress per chunk, and refuses it
 * unless its size and SHA-256 match the manifest. Nothing unverified leaves this function. A
 * connection cut part-way is resumed from the last byte received with a range request, when the
 * server accepts ranges; otherwise (or after a few tries) the download fails and nothing is kept.
 */
export async function downloadVerified(
  fetcher: FetchLike,
  url: string,
  expected: { readonly size: number; readonly sha256: string },
  onChunk: (bytes: number) => void,
): Promise<Uint8Array> {
  const buffer = new Uint8Array(expected.size);
  // Kept outside the read, so a cut connection still tells how far it got.
  const progress = { received: 0 };
  let response = await fetchOk(fetcher, url);
  for (let attempt = 0; ; attempt++) {
    try {
      await readInto(response, buffer, progress, url, onChunk);
      break;
    } catch (error) {
      const { received } = progress;
      if (error instanceof BundleError) throw error;
      const resumable = response.headers.get('accept-ranges') === 'bytes' || response.status === 206;
      if (!resumable || attempt >= RESUME_ATTEMPTS) {
        throw new BundleError(
          'FETCH_FAILED',
          `download of ${url} was cut after ${received} of ${expected.size} bytes: ${describeUnknown(error)}`,
          {
            url,
            received,
            expected: expected.size,
          },
        );
      }
      response = await fetchOk(fetcher, url, { headers: { range: `bytes=${received}-` } });
      // A server that ignores the range sends the whole file again: start over rather than mix.
      if (response.status !== 206 || !response.headers.get('content-range')?.startsWith(`bytes ${received}-`)) progress.received = 0;
    }
  }
  const { received } = progress;
  if (received !== expected.size) {
    throw new BundleError('SIZE_MISMATCH', `${url} has ${received} bytes; its manifest lists ${expected.size}`, {
      url,
      expected: expected.size,
      actual: received,
    });
  }
  await verifyHash(buffer, expected.sha256, url);
  return buffer;
}

/** Appends the response body to `buffer` from `progress.received`, advancing it chunk by chunk. */
async function readInto(
  response: Response,
  buffer: Uint8Array,
  progress: { received: number },
  url: string,
  onChunk: (bytes: number) => void,
): Promise<void> {
  const reader = response.body?.getReader();
  if (reader === undefined) throw new BundleError('FETCH_FAILED', `${url} has no body`, { url });
  // A body that has delivered the listed size is complete: no waiting for the connection to close.
  while (progress.received < buffer.byteLength) {
    const { done, value } = await reader.read();
    if (done) return;
    if (progress.received + value.byteLength > buffer.byteLength) {
      await reader.cancel();
      throw new BundleError('SIZE_MISMATCH', `${url} is larger than the ${buffer.byteLength} bytes its manifest lists`, {
        url,
        expected: buffer.byteLength,
      });
    }
    buffer.set(value, progress.received);
    progress.received += value.byteLength;
    onChunk(value.byteLength);
  }
  await reader.cancel().catch(() => undefined);
}

export async function verifyHash(bytes: Uint8Array, sha256: string, url: string): Promise<void> {
  const actual = await sha256Hex(bytes);
  if (actual !== sha256) {
    throw new BundleError('INTEGRITY_MISMATCH', `${url} does not match its SHA-256: expected ${sha256}, got ${actual}`, {
      url,
      expected: sha256,
      actual,
    });
  }
}

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

export async function fetchOk(fetcher: FetchLike, url: string, init?: RequestInit): Promise<Response> {
  let response: Response;
  try {
    response = await fetcher(url, init);
  } catch (error) {
    throw new BundleError('FETCH_FAILED', `could not fetch ${url}: ${describeUnknown(error)}`, { url });
  }
  if (!response.ok) throw new BundleError('FETCH_FAILED', `could not fetch ${url}: HTTP ${response.status}`, { url, status: response.status });
  return response;
}

export async function fetchJson(fetcher: FetchLike, url: string, init?: RequestInit): Promise<{ bytes: Uint8Array; json: unknown }> {
  const bytes = new Uint8Array(await (await fetchOk(fetcher, url, init)).arrayBuffer());
  return { bytes, json: parseJsonBytes(bytes, url) };
}

export function parseJsonBytes(bytes: Uint8Array, url: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch (error) {
    throw new BundleError('FETCH_FAILED', `${url} is not valid JSON: ${describeUnknown(error)}`, { url });
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
        throw new BundleError('FETCH_FAILED', `download of ${url} was cut after ${received} of ${expected.size} bytes: ${describeUnknown(error)}`, {
          url,
          received,
          expected: expected.size,
        });
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
async function readInto(response: Response, buffer: Uint8Array, progress: { received: number }, url: string, onChunk: (bytes: number) => void): Promise<void> {
  const reader = response.body?.getReader();
  if (reader === undefined) throw new BundleError('FETCH_FAILED', `${url} has no body`, { url });
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    if (progress.received + value.byteLength > buffer.byteLength) {
      await reader.cancel();
      throw new BundleError('SIZE_MISMATCH', `${url} is larger than the ${buffer.byteLength} bytes its manifest lists`, { url, expected: buffer.byteLength });
    }
    buffer.set(value, progress.received);
    progress.received += value.byteLength;
    onChunk(value.byteLength);
  }
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

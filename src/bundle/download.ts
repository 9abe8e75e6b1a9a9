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

export async function fetchOk(url: string, init?: RequestInit): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new BundleError('FETCH_FAILED', `could not fetch ${url}: ${describeUnknown(error)}`, { url });
  }
  if (!response.ok) throw new BundleError('FETCH_FAILED', `could not fetch ${url}: HTTP ${response.status}`, { url, status: response.status });
  return response;
}

export async function fetchJson(url: string, init?: RequestInit): Promise<{ bytes: Uint8Array; json: unknown }> {
  const bytes = new Uint8Array(await (await fetchOk(url, init)).arrayBuffer());
  return { bytes, json: parseJsonBytes(bytes, url) };
}

export function parseJsonBytes(bytes: Uint8Array, url: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch (error) {
    throw new BundleError('FETCH_FAILED', `${url} is not valid JSON: ${describeUnknown(error)}`, { url });
  }
}

/**
 * Streams one file into a buffer of the announced size, reporting progress per chunk, and refuses it
 * unless its size and SHA-256 match the manifest. Nothing unverified leaves this function.
 */
export async function downloadVerified(
  url: string,
  expected: { readonly size: number; readonly sha256: string },
  onChunk: (bytes: number) => void,
): Promise<Uint8Array> {
  const response = await fetchOk(url);
  const buffer = new Uint8Array(expected.size);
  let received = 0;
  const reader = response.body?.getReader();
  if (reader === undefined) throw new BundleError('FETCH_FAILED', `${url} has no body`, { url });
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (received + value.byteLength > expected.size) {
      await reader.cancel();
      throw new BundleError('SIZE_MISMATCH', `${url} is larger than the ${expected.size} bytes its manifest lists`, { url, expected: expected.size });
    }
    buffer.set(value, received);
    received += value.byteLength;
    onChunk(value.byteLength);
  }
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

// Every network wait is bounded and every failure typed: the bundle readers against a server that
// stalls, never ends, resets, or lies about its length (test/fault-server.ts), with short limits.
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boundedFetcher, downloadVerified, fetchChannel, fetchVersion, globalFetch, type NetworkLimits } from '../src/bundle/index.js';
import { BundleError } from '../src/errors/index.js';
import { FaultServer } from './fault-server.js';

const LIMITS: NetworkLimits = { firstByteMs: 300, idleMs: 300, fileMs: 2_000 };
const fetcher = boundedFetcher(globalFetch, LIMITS);
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');
const FILE = bytes('x'.repeat(5_000));

let server: FaultServer;
beforeAll(async () => {
  server = await FaultServer.start();
});
afterAll(async () => {
  await server.close();
});

/** The error `run` rejects with, and how long it took. */
async function failure(run: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  const error = await run().then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  return { error, ms: performance.now() - started };
}

describe('network waits are bounded', () => {
  it('headers that never come: TIMEOUT (first-byte) with the URL, within the limit', async () => {
    const url = server.set('/stall-headers/channel.json', { kind: 'stall-headers' });
    const { error, ms } = await failure(() => fetchChannel(fetcher, url, {}));
    expect(error).toBeInstanceOf(BundleError);
    expect(error).toMatchObject({ code: 'TIMEOUT', details: { url, wait: 'first-byte', ms: 300 } });
    expect(ms).toBeLessThan(LIMITS.fileMs);
  });

  it('a body that stalls after 10 bytes: TIMEOUT (idle) for a file and for a manifest', async () => {
    const url = server.set('/stall-body/model.onnx', { kind: 'stall-body', body: FILE, bytes: 10 });
    const { error } = await failure(() => downloadVerified(fetcher, url, { size: FILE.byteLength, sha256: sha256(FILE) }, () => undefined));
    expect(error).toMatchObject({ name: 'BundleError', code: 'TIMEOUT', details: { wait: 'idle' } });
    const manifest = server.set('/stall-body/manifest.json', {
      kind: 'stall-body',
      body: bytes('{"format":"ondevice/manifest"}'),
      bytes: 10,
    });
    const stalled = await failure(() =>
      fetchVersion(fetcher, { manifestUrl: manifest, manifestSha256: '0'.repeat(64), name: 'x', version: '1.0.0' }, {}),
    );
    expect(stalled.error).toMatchObject({ name: 'BundleError', code: 'TIMEOUT' });
  });

  it('a body that keeps coming slowly ends at the per-file limit', async () => {
    const slow = { ...LIMITS, idleMs: 1_000, fileMs: 600 };
    const url = server.set('/endless/slow.json', { kind: 'endless', chunk: bytes(' ') });
    const { error, ms } = await failure(() =>
      downloadVerified(boundedFetcher(globalFetch, slow), url, { size: 1e9, sha256: '0'.repeat(64) }, () => undefined),
    );
    // The 1e9-byte buffer is never filled: the file limit ends the wait first (a space per chunk keeps the idle timer quiet).
    expect(error).toMatchObject({ name: 'BundleError', code: 'TIMEOUT' });
    expect(ms).toBeLessThan(5_000);
  });

  it('a file whose listed size has arrived completes, though the server announced more and never ends', async () => {
    const url = server.set('/short-body/model.onnx', { kind: 'short-body', body: FILE, announced: FILE.byteLength + 100 });
    const received = await downloadVerified(fetcher, url, { size: FILE.byteLength, sha256: sha256(FILE) }, () => undefined);
    expect(received).toEqual(FILE);
  });

  it('a gzipped channel is read whole, though its Content-Length is the compressed size', async () => {
    const channel = { format: 'ondevice/channel', pad: 'x'.repeat(3_000) };
    const url = server.set('/gzip/channel.json', { kind: 'gzip', body: bytes(JSON.stringify(channel)) });
    // Not a valid channel: what matters is that all of it was read and parsed (INVALID_CHANNEL, not INVALID_JSON).
    expect((await failure(() => fetchChannel(fetcher, url, {}))).error).toMatchObject({ name: 'BundleError', code: 'INVALID_CHANNEL' });
  });

  it('a thread busy past the limit while the answer arrives is not a silent server: the answer is read', async () => {
    // The server runs in a worker thread, so it answers while this thread is blocked.
    const worker = new Worker(
      `const http = require('node:http');
       const { parentPort } = require('node:worker_threads');
       const server = http.createServer((q, r) => {
         parentPort.postMessage('asked');
         setTimeout(() => r.writeHead(200, { 'content-length': '2' }).end('{}'), 20);
       });
       server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));`,
      { eval: true },
    );
    try {
      const port = await new Promise<number>((resolve) => worker.once('message', resolve));
      const request = boundedFetcher(globalFetch, { firstByteMs: 100, idleMs: 100, fileMs: 5_000 })(`http://127.0.0.1:${port}/x`);
      await new Promise((resolve) => worker.once('message', resolve));
      // Blocked past the first-byte limit while the answer arrives: the timer and the data are due together.
      const until = performance.now() + 400;
      while (performance.now() < until);
      expect(await (await request).text()).toBe('{}');
    } finally {
      await worker.terminate();
    }
  });

  it('a channel announced longer than it is: TIMEOUT (idle), not a hang', async () => {
    const url = server.set('/short-body/channel.json', { kind: 'short-body', body: bytes('{"a":1}'), announced: 100 });
    expect((await failure(() => fetchChannel(fetcher, url, {}))).error).toMatchObject({ code: 'TIMEOUT', details: { wait: 'idle' } });
  });
});

describe('reads are capped and failures typed', () => {
  it('an endless channel is refused at its cap (TOO_LARGE) before it is parsed', async () => {
    const url = server.set('/endless/channel.json', { kind: 'endless', chunk: bytes('['.repeat(4096)) });
    const { error } = await failure(() => fetchChannel(fetcher, url, {}, { channelBytes: 64 * 1024, manifestBytes: 1024 * 1024 }));
    expect(error).toMatchObject({ name: 'BundleError', code: 'TOO_LARGE', details: { url, limit: 64 * 1024 } });
  });

  it('a channel announced larger than its cap is refused at once', async () => {
    const url = server.set('/big/channel.json', { kind: 'ok', body: bytes(`{"pad":"${'x'.repeat(70_000)}"}`) });
    expect((await failure(() => fetchChannel(fetcher, url, {}))).error).toMatchObject({ code: 'TOO_LARGE' });
  });

  it('a connection reset mid-body on the channel or a file: FETCH_FAILED, never a raw TypeError', async () => {
    const channel = server.set('/reset/channel.json', { kind: 'reset', body: bytes(`{"pad":"${'x'.repeat(2_000)}"}`), bytes: 20 });
    const cut = await failure(() => fetchChannel(fetcher, channel, {}));
    expect(cut.error).toBeInstanceOf(BundleError);
    expect(cut.error).toMatchObject({ code: 'FETCH_FAILED', details: { url: channel } });
    const file = server.set('/reset/model.onnx', { kind: 'reset', body: FILE, bytes: 100 });
    expect(
      (await failure(() => downloadVerified(fetcher, file, { size: FILE.byteLength, sha256: sha256(FILE) }, () => undefined))).error,
    ).toMatchObject({
      name: 'BundleError',
      code: 'FETCH_FAILED',
    });
  });

  it('JSON that does not parse is INVALID_JSON naming the file; nesting past the library depth too', async () => {
    const broken = server.set('/broken/channel.json', { kind: 'ok', body: bytes('{"name": NaN}') });
    expect((await failure(() => fetchChannel(fetcher, broken, {}))).error).toMatchObject({
      code: 'INVALID_JSON',
      details: { url: broken },
    });
    const deep = server.set('/deep/channel.json', { kind: 'ok', body: bytes(`${'['.repeat(1_000)}${']'.repeat(1_000)}`) });
    expect((await failure(() => fetchChannel(fetcher, deep, {}))).error).toMatchObject({
      code: 'INVALID_JSON',
      details: { url: deep, limit: 64 },
    });
  });
});

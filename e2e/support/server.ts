import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';

/** Faults the tests switch on: real bytes cut or altered on a real connection. */
export interface Faults {
  /** Flip one byte of a file: every response for `path` (a suffix of the URL path) has byte `index` xor 1. */
  flip?: { path: string; index: number } | undefined;
  /** Send the first `bytes` bytes of `path`, then destroy the connection, `times` times. */
  cut?: { path: string; bytes: number; times: number };
  /** Answer as a server that does not do range requests. */
  noRanges?: boolean;
  /** Refuse every request for bundle files (as if offline). */
  down?: boolean;
  /** Answer 404 for any file of the app whose path contains this (a host that lost a chunk). */
  missingApp?: string;
  /** Refuse every request, the app's included (the device is offline). */
  offline?: boolean;
  /** Hold requests whose path ends with this until `releaseHeld()` (a download still under way). */
  hold?: string | undefined;
}

export interface BundleServer {
  readonly origin: string;
  readonly faults: Faults;
  /** Request log: method, path and Range header of each bundle request. */
  readonly requests: { path: string; range: string | undefined }[];
  /** Requests held by `faults.hold`, waiting. */
  readonly held: () => number;
  releaseHeld(): void;
  close(): Promise<void>;
}

export interface ServerOptions {
  /** Send the two headers that make the pages cross-origin isolated (threads). */
  readonly isolated?: boolean;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
};

/**
 * Serves the built demo (the harness page and the library's worker) at `/`, and a deployment folder
 * at `/deploy/`, with HTTP range support and the faults above. Listens on a free loopback port; the
 * test closes it.
 */
export async function startBundleServer(appDir: string, deployDir: string, options: ServerOptions = {}): Promise<BundleServer> {
  const faults: Faults = {};
  const requests: BundleServer['requests'] = [];
  const waiting: (() => void)[] = [];
  const isolation: Record<string, string> = options.isolated
    ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' }
    : {};
  const server: Server = createServer((request, response) => {
    if (faults.offline) return void request.socket.destroy();
    const answer = (): void =>
      void handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) response.writeHead(500).end(String(error));
      });
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    if (faults.hold !== undefined && path.endsWith(faults.hold)) waiting.push(answer);
    else answer();
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    const isBundle = path.startsWith('/deploy/');
    const root = isBundle ? deployDir : appDir;
    const relative = normalize(isBundle ? path.slice('/deploy/'.length) : path === '/' ? 'harness.html' : path.slice(1));
    if (relative.startsWith('..')) return void response.writeHead(403).end();
    const file = join(root, relative);
    if (isBundle) {
      requests.push({ path, range: request.headers.range });
      if (faults.down) return void request.socket.destroy();
    }
    const info = await stat(file).catch(() => undefined);
    if (info === undefined || !info.isFile()) return void response.writeHead(404).end('not found');
    const headers: Record<string, string> = {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-store',
      ...isolation,
    };
    if (!isBundle) {
      if (faults.missingApp !== undefined && path.includes(faults.missingApp)) return void response.writeHead(404).end('not found');
      return void createReadStream(file).pipe(response.writeHead(200, headers));
    }

    let body = await readFile(file);
    if (faults.flip !== undefined && path.endsWith(faults.flip.path)) {
      body = Buffer.from(body);
      body[faults.flip.index % body.length]! ^= 0x01;
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
    if (!faults.noRanges) headers['accept-ranges'] = 'bytes';
    if (range && !faults.noRanges) {
      start = Number(range[1]);
      headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    }
    const slice = body.subarray(start);
    headers['content-length'] = String(slice.length);
    response.writeHead(start > 0 ? 206 : 200, headers);
    const cut = faults.cut;
    if (cut !== undefined && cut.times > 0 && path.endsWith(cut.path) && start === 0) {
      cut.times--;
      // Long enough for the bytes to reach the reader before the connection dies.
      response.write(slice.subarray(0, cut.bytes), () => setTimeout(() => request.socket.destroy(), 250));
      return;
    }
    response.end(slice);
  }

  await new Promise<void>((resolve) => server.listen(0, 'localhost', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    // localhost, not 127.0.0.1: a secure context, so Cache Storage and WebCrypto are there.
    origin: `http://localhost:${port}`,
    faults,
    requests,
    held: () => waiting.length,
    releaseHeld: () => {
      faults.hold = undefined;
      for (const answer of waiting.splice(0)) answer();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

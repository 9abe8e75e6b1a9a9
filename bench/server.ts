import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { gzipSync } from 'node:zlib';

/** One request that reached the server (an HTTP-cache hit never does, which is how warm starts are told apart). */
export interface ServedRequest {
  readonly path: string;
  readonly status: number;
  /** Body bytes written to the socket (compressed size when gzip was used). */
  readonly wireBytes: number;
  /** Size of the file itself. */
  readonly fileBytes: number;
  readonly encoding: 'gzip' | 'identity';
  /** Milliseconds since the server started. */
  readonly at: number;
}

export interface BenchServer {
  readonly origin: string;
  /** Every request so far, in order; slice it between two marks to see what one phase fetched. */
  readonly log: readonly ServedRequest[];
  close(): Promise<void>;
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.webmanifest': 'application/manifest+json',
};

/** What a typical static host compresses: text and WebAssembly; model binaries (.onnx, .bin) go as they are. */
const COMPRESSED = new Set(['.html', '.js', '.mjs', '.css', '.json', '.wasm', '.svg', '.webmanifest']);

/** Served without COOP/COEP under this prefix (same files), to measure a page that is not cross-origin isolated. */
export const PLAIN_PREFIX = '/plain/';

/**
 * A static server for the built bench page, written for the benchmark rather than `vite preview` so
 * that it can (1) send gzip as a production host would (the 14 MB onnxruntime .wasm is 3.7 MB
 * gzipped, which is what a cold start really downloads), (2) send long-lived cache headers for the
 * content-hashed `assets/` (so a warm start can take the runtime from the HTTP cache, as on a real
 * site) and `no-cache` + ETag for everything else, (3) log every request that reaches it with its
 * bytes on the wire, and (4) serve the same files with COOP/COEP (cross-origin isolated) at `/` and
 * without at `/plain/`. Loopback only.
 */
export async function startBenchServer(root: string): Promise<BenchServer> {
  const started = performance.now();
  const log: ServedRequest[] = [];
  const gzipped = new Map<string, Buffer>();

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let path = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
    const isolated = !path.startsWith(PLAIN_PREFIX);
    if (!isolated) path = `/${path.slice(PLAIN_PREFIX.length)}`;
    const relative = normalize(path === '/' ? 'index.html' : path.slice(1));
    if (relative.startsWith('..') || relative.includes(`${sep}..`)) return void response.writeHead(403).end();
    const file = join(root, relative);
    const info = await stat(file).catch(() => undefined);
    if (info === undefined || !info.isFile()) {
      log.push({ path, status: 404, wireBytes: 0, fileBytes: 0, encoding: 'identity', at: performance.now() - started });
      return void response.writeHead(404).end('not found');
    }
    const extension = extname(file);
    const headers: Record<string, string> = {
      'content-type': TYPES[extension] ?? 'application/octet-stream',
      // Content-hashed build output never changes under its name; the rest (bundles, the page) is revalidated.
      'cache-control': relative.startsWith(`assets${sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
      etag: `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`,
      vary: 'accept-encoding',
    };
    if (isolated) {
      headers['cross-origin-opener-policy'] = 'same-origin';
      headers['cross-origin-embedder-policy'] = 'require-corp';
    }
    if (request.headers['if-none-match'] === headers.etag) {
      log.push({ path, status: 304, wireBytes: 0, fileBytes: info.size, encoding: 'identity', at: performance.now() - started });
      return void response.writeHead(304, headers).end();
    }
    let body: Buffer = await readFile(file);
    let encoding: ServedRequest['encoding'] = 'identity';
    if (COMPRESSED.has(extension) && /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) {
      let packed = gzipped.get(file);
      if (packed === undefined) gzipped.set(file, (packed = gzipSync(body)));
      body = packed;
      encoding = 'gzip';
      headers['content-encoding'] = 'gzip';
    }
    headers['content-length'] = String(body.length);
    log.push({
      path,
      status: 200,
      wireBytes: request.method === 'HEAD' ? 0 : body.length,
      fileBytes: info.size,
      encoding,
      at: performance.now() - started,
    });
    response.writeHead(200, headers);
    response.end(request.method === 'HEAD' ? undefined : body);
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500).end(String(error));
    });
  });
  // Port 0: the system picks a free one.
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    // 127.0.0.1 is a secure context (Cache Storage, WebCrypto need one), with no name to resolve.
    origin: `http://127.0.0.1:${port}`,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// An HTTP server that misbehaves on purpose, path by path: stalls, endless bodies, cut connections,
// a Content-Length that lies. For the fault-injecting tests and `npm run fuzz`.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';

export type Fault =
  /** Headers never come. */
  | { readonly kind: 'stall-headers' }
  /** Headers and `bytes` bytes of the body, then nothing, the connection held open. */
  | { readonly kind: 'stall-body'; readonly body: Uint8Array; readonly bytes: number }
  /** A body that never ends (`chunk` repeated), without a Content-Length. */
  | { readonly kind: 'endless'; readonly chunk: Uint8Array }
  /** `bytes` bytes of the body, then the connection is reset. */
  | { readonly kind: 'reset'; readonly body: Uint8Array; readonly bytes: number }
  /** The whole body, announced with a larger Content-Length, the connection held open. */
  | { readonly kind: 'short-body'; readonly body: Uint8Array; readonly announced: number }
  /** The whole body, its length announced truly, but the response never ended. */
  | { readonly kind: 'open-after-body'; readonly body: Uint8Array }
  /** An HTTP error status. */
  | { readonly kind: 'status'; readonly status: number }
  /** The body as it is, served properly. */
  | { readonly kind: 'ok'; readonly body: Uint8Array }
  /** The body gzipped (Content-Length: the compressed size), as a production host serves JSON. */
  | { readonly kind: 'gzip'; readonly body: Uint8Array };

export class FaultServer {
  readonly #faults = new Map<string, Fault>();
  readonly #server: Server;
  readonly #open = new Set<ServerResponse>();

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<FaultServer> {
    let self: FaultServer | undefined;
    const server = createServer((request, response) => self!.#serve(request, response));
    self = new FaultServer(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return self;
  }

  get origin(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Serves `path` with `fault` from now on. */
  set(path: string, fault: Fault): string {
    this.#faults.set(path, fault);
    return `${this.origin}${path}`;
  }

  /** Forgets every path set so far (they answer 404 from now on): one fuzz case's files are not kept for the next. */
  clear(): void {
    this.#faults.clear();
  }

  async close(): Promise<void> {
    for (const response of this.#open) response.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #serve(request: IncomingMessage, response: ServerResponse): void {
    const fault = this.#faults.get(new URL(request.url ?? '/', 'http://x').pathname) ?? { kind: 'status', status: 404 };
    this.#open.add(response);
    response.on('close', () => this.#open.delete(response));
    switch (fault.kind) {
      case 'stall-headers':
        return;
      case 'stall-body':
        response.writeHead(200, { 'content-length': String(fault.body.byteLength) });
        response.write(fault.body.subarray(0, fault.bytes));
        return;
      case 'endless':
        response.writeHead(200);
        return void pump(response, fault.chunk);
      case 'reset':
        response.writeHead(200, { 'content-length': String(fault.body.byteLength) });
        response.write(fault.body.subarray(0, fault.bytes), () => response.destroy());
        return;
      case 'short-body':
        response.writeHead(200, { 'content-length': String(fault.announced), connection: 'close' });
        response.write(fault.body);
        return;
      case 'open-after-body':
        // Connection: close, or a client would send its next request down this connection, to a
        // server that answers it only once this response ends (never): a fault of its own, kept apart.
        response.writeHead(200, { 'content-length': String(fault.body.byteLength), connection: 'close' });
        // Written, never ended: a reader that waits for the end waits forever.
        response.write(fault.body);
        return;
      case 'status':
        response.writeHead(fault.status).end();
        return;
      case 'ok':
        response.writeHead(200, { 'content-length': String(fault.body.byteLength) }).end(fault.body);
        return;
      case 'gzip': {
        const zipped = gzipSync(fault.body);
        response.writeHead(200, { 'content-length': String(zipped.byteLength), 'content-encoding': 'gzip' }).end(zipped);
      }
    }
  }
}

/** Writes `chunk` again and again, as fast as the client reads, until the connection closes. */
function pump(response: ServerResponse, chunk: Uint8Array): void {
  const write = (): void => {
    while (!response.destroyed && response.write(chunk));
    if (!response.destroyed) response.once('drain', write);
  };
  write();
}

// A local HTTP server for a published bundle folder, whose requests can be held back (to act while
// a download is in flight), for the Node tests of the deployment and the service.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { memoryStore, type BundleIo } from '../src/bundle/index.js';
import { fileOrNetworkFetch } from '../src/node/index.js';

export class BundleServer {
  /** Requests whose path ends with this wait until `release()`. */
  holdSuffix: string | undefined;
  readonly #held: (() => void)[] = [];
  readonly #server: Server;

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Serves `dir` on a free loopback port. */
  static async start(dir: string): Promise<BundleServer> {
    let self: BundleServer | undefined;
    const server = createServer((request, response) => {
      const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
      const send = (): void =>
        void stat(join(dir, path)).then(
          (info) => createReadStream(join(dir, path)).pipe(response.writeHead(200, { 'content-length': String(info.size) })),
          () => response.writeHead(404).end(),
        );
      if (self?.holdSuffix !== undefined && path.endsWith(self.holdSuffix)) self.#held.push(send);
      else send();
    });
    self = new BundleServer(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return self;
  }

  get origin(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Requests held so far and not released. */
  get heldCount(): number {
    return this.#held.length;
  }

  release(): void {
    for (const send of this.#held.splice(0)) send();
  }

  async close(): Promise<void> {
    this.release();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** Node's io with an in-memory store: what a fresh device has. */
export const memoryIo = (): BundleIo => ({ fetch: fileOrNetworkFetch, store: memoryStore() });
